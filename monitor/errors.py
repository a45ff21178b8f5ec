"""Exceptions that cross module boundaries and map to exit codes."""

from __future__ import annotations


class WxmonError(Exception):
    """Base of wxmon's own errors. ``exit_code`` is what the CLI returns."""

    exit_code = 1


class BadInput(WxmonError):
    """The user gave something wrong (usage, config, file). One line per problem."""

    exit_code = 2

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))
