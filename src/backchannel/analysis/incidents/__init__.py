"""Incident prevention's pure code: areas, whether two activities meet, and the index.

``area`` checks a GeoJSON geometry and gives its footprint in metres; ``meet``
decides whether two activities meet in time, height and space; ``active`` indexes the
active ones so that a new one is checked against all without a full scan.
"""

from .active import ActiveSet, brute_force
from .area import Area, AreaError, Limits, parse_area
from .meet import Activity, Meeting, meet

__all__ = [
    "ActiveSet",
    "Activity",
    "Area",
    "AreaError",
    "Limits",
    "Meeting",
    "brute_force",
    "meet",
    "parse_area",
]  # fmt: skip
