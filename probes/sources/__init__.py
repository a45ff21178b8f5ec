"""Sources of an account's articles: freepublish and material (probes.freshness), datacube and the
account's feed (here). What each covers is declared in :mod:`monitor.sources`."""

from monitor.sources import (
    DATACUBE,
    FEED,
    FREEPUBLISH,
    MASS,
    MATERIAL,
    PUBLISH,
    SEES_MASS,
    SOURCES,
    Source,
    blind_reason,
    coverage,
    labels,
)

__all__ = ["DATACUBE", "FEED", "FREEPUBLISH", "MASS", "MATERIAL", "PUBLISH", "SEES_MASS", "SOURCES", "Source",
           "blind_reason", "coverage", "labels"]
