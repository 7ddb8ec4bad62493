"""Whether two announced activities would meet: in time, in height and in space.

Two activities meet when their time windows (widened by their uncertainty margins)
overlap, their altitude bands overlap, and their footprints (the area with its
radius or width and its safety buffer) overlap or come within the warning distance.
Time windows are half-open (one that ends at 10:00 does not meet one that starts at
10:00); altitude bands are closed (bands that touch meet).  A surface activity (on
land or water, no band) meets an airborne one whose floor is at or below
``SURFACE_CEILING_M``: there is no terrain model, so this errs on the side of caution.

The answer is the same whichever of the two is given first: the pair is projected
about the mean of their two centres, and its numbers are rounded (to the square metre
and the metre) so that two stations computing it get the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from .area import Area, apart_m, footprint, mean_direction, projection

SURFACE_CEILING_M = 500.0


@dataclass(frozen=True)
class Activity:
    """What the check needs of one version of a notification."""

    key: str  # the notification's id
    version: int
    area: Area
    start: float  # POSIX seconds, margin applied
    end: float
    floor_m: float | None = None  # None: surface only
    ceiling_m: float | None = None


@dataclass(frozen=True)
class Meeting:
    """Two activities that would meet: ``first`` sorts before ``second`` by key."""

    first: tuple[str, int]  # key, version
    second: tuple[str, int]
    start: float  # the overlap of the two windows
    end: float
    overlap_m2: int  # 0 when the footprints only come near
    separation_m: int  # 0 when they overlap or touch
    overlap: BaseGeometry | None  # in degrees, None when they do not overlap

    @property
    def kind(self) -> str:
        return "overlap" if self.overlap_m2 > 0 else "proximity"


def in_time(a: Activity, b: Activity) -> bool:
    return max(a.start, b.start) < min(a.end, b.end)


def in_height(a: Activity, b: Activity) -> bool:
    floor_a, ceiling_a = band(a)
    floor_b, ceiling_b = band(b)
    return max(floor_a, floor_b) <= min(ceiling_a, ceiling_b)


def band(a: Activity) -> tuple[float, float]:
    """The activity's altitude band; the surface's is everything up to its ceiling."""
    if a.floor_m is None or a.ceiling_m is None:
        return (-1e9, SURFACE_CEILING_M)  # surface: below any airborne floor above it
    return (a.floor_m, a.ceiling_m)


def meet(a: Activity, b: Activity, warning_m: float) -> Meeting | None:
    """The meeting of two activities, or None if they do not come within ``warning_m``."""
    if a.key == b.key or not in_time(a, b) or not in_height(a, b):
        return None
    # Clearly too far apart (the sphere errs by under 0.5 %; 2 % is left): no projection.
    if apart_m(a.area.centre, b.area.centre) * 0.98 > a.area.extent_m + b.area.extent_m + warning_m:
        return None
    first, second = sorted((a, b), key=lambda x: (x.key, x.version))
    centre = mean_direction([first.area.centre, second.area.centre])
    metres = projection(*centre)
    one, other = footprint(first.area, metres), footprint(second.area, metres)
    window = (max(a.start, b.start), min(a.end, b.end))
    if one.intersects(other):
        shared = one.intersection(other)
        area = round(shared.area)
        overlap = _degrees(shared, metres, centre[0]) if area > 0 else None
        return Meeting((first.key, first.version), (second.key, second.version), *window,
                       area, 0, overlap)  # fmt: skip
    gap = one.distance(other)
    if gap > warning_m:
        return None
    return Meeting((first.key, first.version), (second.key, second.version), *window,
                   0, round(gap), None)  # fmt: skip


def _degrees(shape: BaseGeometry, metres: Transformer, centre_lon: float) -> BaseGeometry:
    """A shape in the projection's metres back in degrees, its longitudes unwrapped around
    the centre (so that a shape across the antimeridian stays in one piece)."""

    def back(xy: np.ndarray) -> np.ndarray:
        lon, lat = metres.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
        return np.column_stack((centre_lon + (lon - centre_lon + 180) % 360 - 180, lat))

    return shapely.transform(shape, back)
