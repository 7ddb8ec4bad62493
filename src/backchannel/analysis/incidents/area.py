"""The area of an announced activity: a GeoJSON geometry, checked, and its footprint in metres.

An area is a Point with a radius, a LineString corridor with a width, a Polygon, or a
Multi* of one of them, with a safety buffer around it.  Coordinates are longitude and
latitude in degrees (RFC 7946); nothing is ever compared in degrees.  A pair of areas
is compared in one azimuthal equidistant projection centred between the two (PROJ's
``aeqd`` on the WGS 84 ellipsoid): distances from its centre are exact, and within
``MAX_REACH_M`` of it the scale errs by under half a percent.

The antimeridian: longitudes are unwrapped around the area's own centre (its
vertices' mean direction on the sphere), so a corridor from 179.5° to -179.5° is 1°
long, not 359°.  Areas that reach beyond 85° of latitude are refused, as are areas
wider than ``MAX_REACH_M`` from their centre: the projection would mislead there.

Bad input raises ``AreaError`` with one line and nothing is built.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

MAX_VERTICES = 10_000
MAX_AREA_KM2 = 250_000.0  # a buffered footprint larger than this is refused
MAX_REACH_M = 1_000_000.0  # no vertex farther than this from the area's centre
MAX_LATITUDE = 85.0
MAX_METRES = 500_000.0  # a radius, a corridor's width or a buffer
LINE_TYPES = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}  # fmt: skip  (nesting of positions)
EARTH_M = 6_371_008.8  # mean radius, only to widen index boxes (never to measure)


class AreaError(ValueError):
    """An area that cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class Limits:
    max_vertices: int = MAX_VERTICES
    max_area_km2: float = MAX_AREA_KM2


@dataclass(frozen=True)
class Area:
    """A checked area: its geometry in degrees (longitudes unwrapped around ``centre``)
    and how far its footprint reaches beyond that geometry, in metres."""

    kind: str  # the GeoJSON type
    geometry: BaseGeometry
    centre: tuple[float, float]  # lon, lat
    reach_m: float  # radius or half width, plus the buffer
    vertices: int
    extent_m: float = 0.0  # how far the footprint reaches from the centre

    def bounds(self, extra_m: float = 0.0) -> list[tuple[float, float, float, float]]:
        """Boxes in degrees (longitude in -180..180) that hold the footprint widened by
        ``extra_m``: two when it crosses the antimeridian."""
        west, south, east, north = self.geometry.bounds
        grow = self.reach_m + extra_m
        dlat = math.degrees(grow / EARTH_M) * 1.01
        south, north = max(-90.0, south - dlat), min(90.0, north + dlat)
        widest = max(abs(south), abs(north))
        dlon = math.degrees(grow / (EARTH_M * max(math.cos(math.radians(widest)), 1e-6))) * 1.01
        west, east = west - dlon, east + dlon
        if east - west >= 360:
            return [(-180.0, south, 180.0, north)]
        shift = math.floor((west + 180) / 360) * 360
        west, east = west - shift, east - shift
        if east <= 180:
            return [(west, south, east, north)]
        return [(west, south, 180.0, north), (-180.0, south, east - 360, north)]


def apart_m(one: tuple[float, float], other: tuple[float, float]) -> float:
    """The great-circle distance between two points (lon, lat) on the mean sphere: only
    to rule out, cheaply, areas that are clearly far apart."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*one, *other))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def projection(lon: float, lat: float) -> Transformer:
    """Degrees to metres, azimuthal equidistant about (lon, lat) on WGS 84."""
    return Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +ellps=WGS84"
    )


def footprint(area: Area, metres: Transformer) -> BaseGeometry:
    """The area with its reach, in the metres of ``metres``."""
    projected = shapely.transform(area.geometry, lambda xy: np.column_stack(metres.transform(
        xy[:, 0], xy[:, 1])))  # fmt: skip
    return projected.buffer(area.reach_m, quad_segs=16) if area.reach_m > 0 else projected


def outline(area: Area) -> BaseGeometry:
    """The footprint (the area with its reach) in degrees, longitudes unwrapped around
    the area's centre: what a map draws."""
    metres = projection(*area.centre)
    flat = footprint(area, metres)
    lon0 = area.centre[0]

    def back(xy: np.ndarray) -> np.ndarray:
        lon, lat = metres.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
        return np.column_stack((lon0 + (lon - lon0 + 180) % 360 - 180, lat))

    return shapely.transform(flat, back)


def mean_direction(points: list[tuple[float, float]]) -> tuple[float, float]:
    """The mean of points on the sphere (robust across the antimeridian), as lon, lat."""
    lon, lat = np.radians(np.array(points)).T
    x, y, z = (
        (np.cos(lat) * np.cos(lon)).sum(),
        (np.cos(lat) * np.sin(lon)).sum(),
        np.sin(lat).sum(),
    )
    if math.hypot(x, y, z) < 1e-9 * len(points):
        raise AreaError("the area's points surround the globe: it has no centre")
    return math.degrees(math.atan2(y, x)), math.degrees(math.atan2(z, math.hypot(x, y)))


def parse_area(
    geojson: Any, *, radius_m: float = 0.0, width_m: float = 0.0, buffer_m: float = 0.0,
    limits: Limits = Limits(),
) -> Area:  # fmt: skip
    """A checked area from a GeoJSON geometry (a dict, as JSON decodes it)."""
    if not isinstance(geojson, dict) or geojson.get("type") not in LINE_TYPES:
        raise AreaError(f"the area is a GeoJSON geometry of one of: {', '.join(LINE_TYPES)}")
    kind = str(geojson["type"])
    for what, value in (("radius", radius_m), ("width", width_m), ("buffer", buffer_m)):
        if not (isinstance(value, int | float) and 0 <= value <= MAX_METRES):
            raise AreaError(f"the {what} is 0 to {MAX_METRES:,.0f} metres")
    if kind.endswith("Point") and radius_m <= 0:
        raise AreaError("a point needs a radius in metres")
    if kind.endswith("LineString") and width_m <= 0:
        raise AreaError("a corridor (LineString) needs a width in metres")
    positions = list(_positions(geojson.get("coordinates"), LINE_TYPES[kind]))
    if not positions:
        raise AreaError("the area has no coordinates")
    if len(positions) > limits.max_vertices:
        raise AreaError(
            f"the area has {len(positions):,} vertices; at most {limits.max_vertices:,}"
        )
    if kind.endswith("Polygon"):
        _check_rings(geojson["coordinates"] if kind == "MultiPolygon" else [geojson["coordinates"]])
    centre = mean_direction(positions)
    geometry = _geometry(kind, _unwrapped(geojson["coordinates"], LINE_TYPES[kind], centre[0]))
    reach = radius_m + buffer_m if kind.endswith("Point") else buffer_m
    reach += width_m / 2 if kind.endswith("LineString") else 0.0
    area = Area(kind, geometry, centre, reach, len(positions))
    return dataclasses.replace(area, extent_m=_check_extent(area, limits))


def _positions(value: Any, depth: int) -> Iterator[tuple[float, float]]:
    """Every position, checked, of coordinates nested ``depth`` deep."""
    if depth == 0:
        yield _position(value)
        return
    if not isinstance(value, list):
        raise AreaError("the coordinates are not nested as the geometry's type requires")
    for part in value:
        yield from _positions(part, depth - 1)


def _position(value: Any) -> tuple[float, float]:
    if not (isinstance(value, list) and 2 <= len(value) <= 3):
        raise AreaError("a position is [longitude, latitude] (an altitude may follow)")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise AreaError("a position holds numbers only")
    lon, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise AreaError("a coordinate is not a finite number")
    if not -180 <= lon <= 180:
        raise AreaError(f"longitude {lon:g} is outside -180..180")
    if not -90 <= lat <= 90:
        raise AreaError(f"latitude {lat:g} is outside -90..90")
    return lon, lat


def _check_rings(polygons: list[Any]) -> None:
    for rings in polygons:
        if not rings:
            raise AreaError("a polygon has no ring")
        for ring in rings:
            if len(ring) < 4 or ring[0] != ring[-1]:
                raise AreaError("a polygon's ring has 4 positions or more, the last the first")


def _unwrapped(value: Any, depth: int, centre_lon: float) -> Any:
    if depth == 0:
        lon, lat = float(value[0]), float(value[1])
        return (centre_lon + (lon - centre_lon + 180) % 360 - 180, lat)
    return [_unwrapped(v, depth - 1, centre_lon) for v in value]


def _geometry(kind: str, coordinates: Any) -> BaseGeometry:
    try:
        geometry = shapely.geometry.shape({"type": kind, "coordinates": coordinates})
    except (ValueError, TypeError, IndexError, shapely.errors.GEOSException):
        raise AreaError(f"the coordinates do not make a valid {kind}") from None
    if geometry.is_empty:
        raise AreaError("the area is empty")
    if not geometry.is_valid:
        why = shapely.is_valid_reason(geometry).split("[")[0].strip().lower()
        raise AreaError(f"the {kind} is not valid: {why}")
    return geometry


def _check_extent(area: Area, limits: Limits) -> float:
    """How far the footprint reaches from the centre, in metres, if it is within limits."""
    west, south, east, north = area.geometry.bounds
    reach_deg = math.degrees(area.reach_m / EARTH_M)
    if max(abs(south), abs(north)) + reach_deg > MAX_LATITUDE:
        raise AreaError(f"areas beyond {MAX_LATITUDE:g}° of latitude are not supported")
    if east - west > 180:
        raise AreaError("the area spans more than 180° of longitude")
    metres = projection(*area.centre)
    flat = footprint(area, metres)
    coords = shapely.get_coordinates(flat)
    extent = float(np.hypot(coords[:, 0], coords[:, 1]).max())
    if extent > MAX_REACH_M:
        raise AreaError(
            f"the area reaches farther than {MAX_REACH_M / 1000:,.0f} km from its centre"
        )
    if flat.area / 1e6 > limits.max_area_km2:
        raise AreaError(
            f"the area is {flat.area / 1e6:,.0f} km² with its buffer; at most "
            f"{limits.max_area_km2:,.0f} km²"
        )
    return extent
