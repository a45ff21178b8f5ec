"""wxmon core: configuration, store, platform client, scheduling, metrics, scoring, CLI."""

__version__ = "0.1.0"
