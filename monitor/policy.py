"""Scoring policies as data: the model, the built-ins and how a custom policy inherits.

A policy says which rules an account is judged by and how a failed rule counts:
``mode: veto`` fails the account on any failed rule; ``mode: points`` starts from
``full_score``, deducts ``deduct`` points per occurrence of a non-veto rule and
gives a vetoed account ``veto_score``; the account passes at ``pass_score`` or
more. Applying a policy to metrics is ``monitor.scoring``'s job, not this module's:
here are only the data, the built-ins and their validation.

Rule semantics (the contract ``monitor.scoring`` implements):

- ``no_update``: no article published in the ``days`` days before the check date.
- ``no_interaction``: over the period, fewer than ``min_answered`` test inquiries
  answered by a person, or a response rate (answered / sent) below
  ``min_response_rate``. Not judged when no inquiry was sent.
- ``inquiry_deadline``: a test inquiry not answered by a person within
  ``working_days`` working days (Chinese holidays and make-up days respected);
  the rule fails when more than ``max_late`` inquiries are late.
- ``broken_columns``: more than ``max_broken`` confirmed broken columns (see
  ``confirm_failures``/``confirm_minutes``).
- ``privacy_leak``: more than ``max_findings`` personal-data findings.
- ``security_incident``: a recorded security incident (e.g. tampering, a leak
  of state secrets); any one fails. Today's source: content-check findings a
  person confirmed (serious wording errors, sensitive words, harmful links), of
  the rule sets ``content_rule_sets`` names (all when null).

An automatic reply is an answer only when ``autoreply_counts_as_answer`` is true.
In points mode a non-veto rule deducts ``deduct`` for each occurrence beyond its
allowed maximum (late inquiries, broken columns, findings; 1 for the others),
at most ``max_deduct`` in total when set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"

RuleKind = Literal[
    "no_update", "no_interaction", "inquiry_deadline", "broken_columns", "privacy_leak",
    "security_incident",
]
RULE_KINDS: tuple[str, ...] = RuleKind.__args__  # type: ignore[attr-defined]

# Parameter types shared by the rule models and the override model, so both carry
# the same bounds (and the same JSON Schema).
Days = Annotated[int, Field(ge=1, le=366)]
WorkingDays = Annotated[int, Field(ge=1, le=60)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]
Rate = Annotated[float, Field(ge=0, le=1)]
Points = Annotated[float, Field(ge=0, le=1000)]
Label = Annotated[str, Field(min_length=1, max_length=200)]
RuleId = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
RuleSetName = Annotated[str, Field(min_length=1, max_length=64)]  # a content-check rule file's name:


class PolicyError(ValueError):
    """A policy that cannot be resolved. ``problems`` are (path, message) pairs;
    a path starts with the custom policy's name (or is empty for the name asked for)."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(
            f"{'.'.join(str(p) for p in path) or 'policy'}: {msg}" for path, msg in problems))


def problems_error(problems: list[tuple[tuple[str | int, ...], str]]) -> PydanticCustomError:
    """A validation error carrying several (sub-path, message) problems; the config
    loader expands it into one line per problem at the right place."""
    summary = "; ".join(f"{'.'.join(str(p) for p in path) or '.'}: {msg}" for path, msg in problems)
    return PydanticCustomError("wxmon_problems", "{summary}", {"summary": summary, "problems": problems})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _RuleBase(_Model):
    id: RuleId = Field(description="Rule id, unique in the policy; a custom policy overrides a base rule by id.")
    label: Label = Field(description="Chinese text used in reports and the bulletin, e.g. 超过2周未更新.")
    veto: bool = Field(True, description="A failed veto rule fails the account (points mode: it scores veto_score).")
    deduct: Points = Field(0, description="Points mode, non-veto rules: points deducted per occurrence.")
    max_deduct: Points | None = Field(None, description="Points mode: cap on this rule's total deduction.")


class NoUpdateRule(_RuleBase):
    kind: Literal["no_update"] = Field(description="No article published in the `days` days before the check.")
    days: Days = Field(14, description="Days before the check date without any publication that fail the rule.")


class NoInteractionRule(_RuleBase):
    kind: Literal["no_interaction"] = Field(description="No effective interaction over the period.")
    min_answered: Count = Field(1, description="Fewer test inquiries answered by a person than this fails.")
    min_response_rate: Rate = Field(0.0, description="A response rate (answered / sent) below this fails.")


class InquiryDeadlineRule(_RuleBase):
    kind: Literal["inquiry_deadline"] = Field(description="Test inquiries not answered by a person in time.")
    working_days: WorkingDays = Field(3, description="Deadline in working days after the inquiry was sent.")
    max_late: Count = Field(0, description="Late inquiries tolerated in the period.")


class BrokenColumnsRule(_RuleBase):
    kind: Literal["broken_columns"] = Field(description="Confirmed broken menu columns.")
    max_broken: Count = Field(0, description="Confirmed broken columns tolerated.")


class PrivacyLeakRule(_RuleBase):
    kind: Literal["privacy_leak"] = Field(description="Personal data (ID card, mobile, bank card...) published.")
    max_findings: Count = Field(0, description="Findings tolerated.")


class SecurityIncidentRule(_RuleBase):
    kind: Literal["security_incident"] = Field(description="A recorded security incident.")
    content_rule_sets: list[RuleSetName] | None = Field(
        None, description="Content-check rule sets (their name:) whose confirmed findings count as incidents; "
        "null: every set.")


Rule = Annotated[
    NoUpdateRule | NoInteractionRule | InquiryDeadlineRule | BrokenColumnsRule | PrivacyLeakRule | SecurityIncidentRule,
    Field(discriminator="kind"),
]


class Policy(_Model):
    """A complete scoring policy (built-in, or custom after merging its base)."""

    name: str = Field(pattern=NAME_PATTERN, description="Policy name.")
    description: str = Field("", description="What the policy is, for people.")
    base: str | None = Field(None, description="The policy this one was derived from, if any.")
    mode: Literal["veto", "points"] = Field("veto", description="veto: any failed rule fails the account; "
                                            "points: deductions from full_score, pass at pass_score.")
    full_score: Points = Field(100, description="Points mode: the starting score.")
    pass_score: Points = Field(60, description="Points mode: the lowest passing score.")
    veto_score: Points = Field(59, description="Points mode: the score of an account failed by a veto rule.")
    confirm_failures: int = Field(3, ge=1, le=100, description="A column is confirmed broken after this many "
                                  "consecutive failed checks ...")
    confirm_minutes: int = Field(60, ge=0, le=60 * 24 * 30, description="... spanning at least this many minutes.")
    autoreply_counts_as_answer: bool = Field(False, description="Whether an automatic reply answers an inquiry.")
    rules: list[Rule] = Field(min_length=1, description="The rules accounts are judged by.")

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        seen: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                problems.append((("rules", i, "id"), f"duplicate rule id '{rule.id}' (also rules[{seen[rule.id]}])"))
            seen.setdefault(rule.id, i)
            if self.mode == "veto" and not rule.veto:
                problems.append((("rules", i, "veto"),
                                 "in veto mode every rule vetoes (use mode: points for deductions)"))
            if self.mode == "points" and not rule.veto and rule.deduct <= 0:
                problems.append((("rules", i, "deduct"),
                                 "the rule neither vetoes nor deducts points"))
        if self.mode == "points":
            if not self.pass_score <= self.full_score:
                problems.append((("pass_score",), "must not exceed full_score"))
            if not self.veto_score < self.pass_score:
                problems.append((("veto_score",), "must be below pass_score (a vetoed account fails)"))
        if problems:
            raise problems_error(problems)
        return self

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


class RuleOverride(_Model):
    """A rule in a custom policy: with the id of a base rule it overrides the given
    fields; with a new id it adds a rule (then ``kind`` and ``label`` are required)."""

    id: RuleId = Field(description="Rule id; a base rule's id overrides that rule.")
    kind: RuleKind | None = Field(None, description="Rule kind (required for a new rule).")
    label: Label | None = Field(None, description="Chinese text used in reports (required for a new rule).")
    veto: bool | None = Field(None, description="A failed veto rule fails the account.")
    deduct: Points | None = Field(None, description="Points mode: points deducted per occurrence.")
    max_deduct: Points | None = Field(None, description="Points mode: cap on this rule's total deduction.")
    days: Days | None = Field(None, description="no_update: days without publication.")
    min_answered: Count | None = Field(None, description="no_interaction: fewer answered inquiries fail.")
    min_response_rate: Rate | None = Field(None, description="no_interaction: a lower response rate fails.")
    working_days: WorkingDays | None = Field(None, description="inquiry_deadline: deadline in working days.")
    max_late: Count | None = Field(None, description="inquiry_deadline: late inquiries tolerated.")
    max_broken: Count | None = Field(None, description="broken_columns: confirmed broken columns tolerated.")
    max_findings: Count | None = Field(None, description="privacy_leak: findings tolerated.")
    content_rule_sets: list[RuleSetName] | None = Field(
        None, description="security_incident: content-check rule sets whose confirmed findings count.")


class PolicySpec(_Model):
    """A custom policy in accounts.yaml (``policies: {NAME: ...}``)."""

    base: str | None = Field(None, description="A built-in or another custom policy to inherit from and override.")
    description: str | None = Field(None, description="What the policy is, for people.")
    mode: Literal["veto", "points"] | None = Field(None, description="veto or points.")
    full_score: Points | None = Field(None, description="Points mode: the starting score (default 100).")
    pass_score: Points | None = Field(None, description="Points mode: the lowest passing score (default 60).")
    veto_score: Points | None = Field(None, description="Points mode: score of a vetoed account (default 59).")
    confirm_failures: int | None = Field(None, ge=1, le=100,
                                         description="Consecutive failed checks that confirm a broken column.")
    confirm_minutes: int | None = Field(None, ge=0, le=60 * 24 * 30,
                                        description="Minutes those failures must span.")
    autoreply_counts_as_answer: bool | None = Field(None, description="Whether an automatic reply answers.")
    rules: list[RuleOverride] = Field([], description="Rules added, or overriding base rules by id.")
    drop_rules: list[RuleId] = Field([], description="Ids of base rules to remove.")


# ---------------------------------------------------------------------------
# Built-ins

_NATIONAL_RULES: list[dict[str, Any]] = [
    {"id": "stale", "kind": "no_update", "days": 14, "label": "超过2周未更新"},
    {"id": "no_interaction", "kind": "no_interaction", "label": "互动回应差（无有效互动）"},
    {"id": "security_incident", "kind": "security_incident", "label": "发生安全、泄密事故"},
    {"id": "privacy_leak", "kind": "privacy_leak", "max_findings": 0, "label": "泄露个人信息"},
]
_DEMO_EXTRA: list[dict[str, Any]] = [
    {"id": "inquiry_deadline", "kind": "inquiry_deadline", "working_days": 3,
     "label": "留言超过3个工作日未答复"},
    {"id": "broken_columns", "kind": "broken_columns", "max_broken": 0, "label": "栏目无法正常访问"},
]

_BUILTIN_DATA: dict[str, dict[str, Any]] = {
    "national-2019": {
        "name": "national-2019",
        "description": "国办秘函〔2019〕19号 政务新媒体单项否决指标: 监测时间点前2周内无更新; "
                       "无有效互动; 安全、泄密事故或泄露个人信息。任一项不合格即不合格。",
        "mode": "veto",
        "rules": _NATIONAL_RULES,
    },
    "demo-default": {
        "name": "demo-default",
        "base": "national-2019",
        "description": "national-2019 plus: a test inquiry not answered by a person within 3 working "
                       "days, and a confirmed broken column. All veto.",
        "mode": "veto",
        "rules": _NATIONAL_RULES + _DEMO_EXTRA,
    },
    "points-local": {
        "name": "points-local",
        "base": "demo-default",
        "description": "100-point scheme: each late inquiry -10, each broken column -10; the national "
                       "veto items score 59; below 60 fails.",
        "mode": "points",
        "full_score": 100,
        "pass_score": 60,
        "veto_score": 59,
        "rules": _NATIONAL_RULES + [
            {**_DEMO_EXTRA[0], "veto": False, "deduct": 10},
            {**_DEMO_EXTRA[1], "veto": False, "deduct": 10},
        ],
    },
}

BUILTIN_NAMES: tuple[str, ...] = tuple(_BUILTIN_DATA)


def builtin_policies() -> dict[str, Policy]:
    """The built-in policies by name (fresh objects: callers may not share mutations)."""
    return {name: Policy.model_validate(data) for name, data in _BUILTIN_DATA.items()}


def resolve_policy(name: str, custom: Mapping[str, PolicySpec | Mapping[str, Any]] | None = None) -> Policy:
    """The complete policy called ``name``: a built-in, or a custom one (from
    accounts.yaml ``policies:``) merged onto its base. Raises :class:`PolicyError`."""
    specs: dict[str, PolicySpec] = {}
    for key, spec in (custom or {}).items():
        try:
            specs[key] = spec if isinstance(spec, PolicySpec) else PolicySpec.model_validate(spec)
        except ValidationError as exc:
            raise PolicyError([((key, *err["loc"]), pydantic_message(err)) for err in _expand(exc)]) from None
    return _resolve(name, specs, ())


def _resolve(name: str, specs: dict[str, PolicySpec], chain: tuple[str, ...]) -> Policy:
    builtins = builtin_policies()
    if name in specs and name in builtins:
        raise PolicyError([((name,), "a custom policy cannot reuse a built-in name; inherit with base: instead")])
    if name in builtins:
        return builtins[name]
    if name not in specs:
        known = ", ".join([*builtins, *specs])
        raise PolicyError([((chain[-1], "base") if chain else (), f"unknown policy '{name}' (known: {known})")])
    if name in chain:
        raise PolicyError([((chain[-1], "base"), "base policies form a cycle: " + " -> ".join([*chain, name]))])
    spec = specs[name]
    if spec.base is not None:
        merged = _resolve(spec.base, specs, (*chain, name)).model_dump(mode="python")
    else:
        merged = {}
    merged.update({"name": name, "base": spec.base})
    for field in ("description", "mode", "full_score", "pass_score", "veto_score", "confirm_failures",
                  "confirm_minutes", "autoreply_counts_as_answer"):
        value = getattr(spec, field)
        if value is not None:
            merged[field] = value
    merged.setdefault("description", "")

    # Rules: drop, then override by id or append. origin[i] is the index in
    # spec.rules that last touched merged rule i (None: inherited untouched).
    problems: list[tuple[tuple[str | int, ...], str]] = []
    rules: list[dict[str, Any]] = list(merged.get("rules", []))
    for j, rule_id in enumerate(spec.drop_rules):
        if not any(r["id"] == rule_id for r in rules):
            problems.append(((name, "drop_rules", j), f"no rule '{rule_id}' in base policy '{spec.base}'"))
        rules = [r for r in rules if r["id"] != rule_id]
    origin: list[int | None] = [None] * len(rules)
    for j, override in enumerate(spec.rules):
        given = override.model_dump(exclude_none=True)
        idx = next((i for i, r in enumerate(rules) if r["id"] == override.id), None)
        if idx is None:
            rules.append(given)
            origin.append(j)
        elif "kind" in given and given["kind"] != rules[idx]["kind"]:
            rules[idx] = given  # another kind: the old parameters do not apply
            origin[idx] = j
        else:
            rules[idx] = {**rules[idx], **given}
            origin[idx] = j
    merged["rules"] = rules
    try:
        policy = Policy.model_validate(merged)
    except ValidationError as exc:
        problems.extend(_map_error(name, err, rules, origin) for err in _expand(exc))
    if problems:
        raise PolicyError(problems)
    return policy


def _expand(exc: ValidationError) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for err in exc.errors():
        if err["type"] == "wxmon_problems":
            for sub, msg in err["ctx"]["problems"]:
                out.append({"loc": (*err["loc"], *sub), "msg": msg, "type": "wxmon"})
        else:
            out.append(err)
    return out


def pydantic_message(err: Mapping[str, Any]) -> str:
    """A pydantic error as a short clause for ``FILE:LINE: path: <clause>``. Never
    includes the input value (it could be a secret written in the wrong place)."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "required key missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a mapping (key: value)"
    if kind == "list_type":
        return "must be a list"
    if kind == "string_type":
        return "must be a string (quote it)"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "string_too_short":
        n = ctx.get("min_length")
        return "must not be empty" if n == 1 else f"must be at least {n} characters"
    msg = str(err.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if msg.startswith("Input should be "):
        msg = "must be " + msg[len("Input should be "):]
    return msg


def _map_error(name: str, err: Mapping[str, Any], rules: list[dict[str, Any]],
               origin: list[int | None]) -> tuple[tuple[str | int, ...], str]:
    loc = tuple(err["loc"])
    msg = pydantic_message(err)
    if err["type"] == "missing":
        msg = "required" + (" for a new rule" if loc[:1] == ("rules",) else "")
    elif err["type"] == "extra_forbidden":
        msg = "does not apply to this kind of rule" if loc[:1] == ("rules",) else "unknown key"
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and loc[1] < len(rules):
        i = loc[1]
        rest = loc[2:]
        if rest and rest[0] == rules[i].get("kind"):
            rest = rest[1:]  # the discriminated union's tag
        if err["type"] in ("union_tag_not_found", "union_tag_invalid"):
            rest, msg = ("kind",), ("required for a new rule" if err["type"] == "union_tag_not_found"
                                    else f"must be one of {', '.join(RULE_KINDS)}")
        if origin[i] is not None:
            return (name, "rules", origin[i], *rest), msg
        where = ".".join(map(str, rest))
        return (name,), f"inherited rule '{rules[i].get('id')}'{' ' + where if where else ''}: {msg}"
    return (name, *loc), msg
