"""The geometry of incident prevention: areas checked, meetings decided in metres, the
same answer either way round, at the antimeridian, and the index equal to brute force."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from backchannel.analysis.incidents import (
    ActiveSet,
    Activity,
    AreaError,
    Limits,
    brute_force,
    meet,
    parse_area,
)
from backchannel.analysis.incidents.meet import SURFACE_CEILING_M

GEOD = Geod(ellps="WGS84")
HOUR = 3600.0


def point(lon: float, lat: float, radius: float = 1000.0, buffer: float = 0.0) -> Any:
    return parse_area(
        {"type": "Point", "coordinates": [lon, lat]}, radius_m=radius, buffer_m=buffer
    )


def square(lon: float, lat: float, side: float = 0.1) -> Any:
    ring = [[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side], [lon, lat]]
    return parse_area({"type": "Polygon", "coordinates": [ring]})


def active(key: str, area: Any, start: float = 0.0, end: float = HOUR, **band: float) -> Activity:
    return Activity(key, 1, area, start, end, band.get("floor"), band.get("ceiling"))


BAD: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "bowtie": ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
               {}, "not valid"),
    "open-ring": ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, {},
                  "the last the first"),
    "longitude": ({"type": "Point", "coordinates": [180.5, 0]}, {"radius_m": 10}, "longitude"),
    "latitude": ({"type": "Point", "coordinates": [0, -91]}, {"radius_m": 10}, "latitude"),
    "polar": ({"type": "Point", "coordinates": [0, 84.99]}, {"radius_m": 5000}, "85°"),
    "empty": ({"type": "MultiPolygon", "coordinates": []}, {}, "no coordinates"),
    "nan": ({"type": "Point", "coordinates": [float("nan"), 0]}, {"radius_m": 10}, "finite"),
    "text": ({"type": "Point", "coordinates": ["1", "2"]}, {"radius_m": 10}, "numbers only"),
    "nesting": ({"type": "LineString", "coordinates": [0, 1]}, {"width_m": 10}, "position is"),
    "no-radius": ({"type": "Point", "coordinates": [0, 0]}, {}, "radius"),
    "no-width": ({"type": "LineString", "coordinates": [[0, 0], [1, 0]]}, {}, "width"),
    "negative": ({"type": "Point", "coordinates": [0, 0]}, {"radius_m": -1}, "radius is 0"),
    "too-far": ({"type": "LineString", "coordinates": [[0, 0], [25, 0]]}, {"width_m": 10},
                "1,000 km"),
    "too-big": ({"type": "Point", "coordinates": [0, 0]}, {"radius_m": 300_000}, "km²"),
    "kind": ({"type": "GeometryCollection", "geometries": []}, {}, "one of"),
    "not-a-dict": ([0, 0], {}, "one of"),  # type: ignore[dict-item]
}  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_bad_areas_are_refused_in_one_line(case: str) -> None:
    geojson, widths, message = BAD[case]
    with pytest.raises(AreaError, match=message) as refused:
        parse_area(geojson, **widths)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 200


def test_the_vertex_limit_is_configurable() -> None:
    ring = [[0.001 * i, 0.0] for i in range(20)] + [[0.01, 0.01], [0.0, 0.0]]
    polygon = {"type": "Polygon", "coordinates": [ring]}
    parse_area(polygon)
    with pytest.raises(AreaError, match="22 vertices; at most 10"):
        parse_area(polygon, limits=Limits(max_vertices=10))


def test_distances_are_in_metres_on_the_ellipsoid() -> None:
    """Two circles 20 km apart, centre to centre, at 60° north (where a degree of
    longitude is half a degree of latitude): the gap is 20 km less both radii."""
    lon2, lat2, _ = GEOD.fwd(25.0, 60.0, 90.0, 20_000.0)
    a, b = active("a", point(25.0, 60.0, 3000)), active("b", point(lon2, lat2, 2000))
    m = meet(a, b, warning_m=20_000)
    assert m is not None and m.kind == "proximity"
    assert abs(m.separation_m - 15_000) < 15  # 0.1 %
    assert meet(a, b, warning_m=14_000) is None
    touching = active("c", point(lon2, lat2, 17_100))
    overlap = meet(a, touching, warning_m=0)
    assert overlap is not None and overlap.kind == "overlap" and overlap.overlap_m2 > 0


def test_a_safety_buffer_widens_the_footprint() -> None:
    lon2, lat2, _ = GEOD.fwd(10.0, 45.0, 0.0, 10_000.0)
    near = active("b", point(lon2, lat2, 1000))
    assert meet(active("a", point(10.0, 45.0, 1000)), near, 0) is None
    m = meet(active("a", point(10.0, 45.0, 1000, buffer=8500)), near, 0)
    assert m is not None and m.kind == "overlap"


def test_time_windows_are_half_open_and_margins_count() -> None:
    a = active("a", square(5, 5), 0, HOUR)
    assert meet(a, active("b", square(5, 5), HOUR, 2 * HOUR), 0) is None  # 10:00 meets 10:00: no
    assert meet(a, active("b", square(5, 5), HOUR - 1, 2 * HOUR), 0) is not None


def test_altitude_bands_are_closed_and_the_surface_is_low() -> None:
    here = square(5, 5)
    high = active("a", here, floor=1000, ceiling=2000)
    assert meet(high, active("b", here, floor=2000, ceiling=3000), 0) is not None  # touching
    assert meet(high, active("b", here, floor=2001, ceiling=3000), 0) is None
    surface = active("s", here)
    assert meet(surface, active("b", here, floor=SURFACE_CEILING_M, ceiling=900), 0) is not None
    assert meet(surface, active("b", here, floor=SURFACE_CEILING_M + 1, ceiling=900), 0) is None
    assert meet(surface, active("t", here), 0) is not None


def test_the_antimeridian_is_crossed_not_circled() -> None:
    corridor = parse_area(
        {"type": "LineString", "coordinates": [[179.8, -17.0], [-179.8, -17.0]]}, width_m=2000
    )
    assert corridor.bounds()[0][2] == 180.0 and len(corridor.bounds()) == 2
    east = active("b", point(-179.9, -17.0, 500))
    west = active("c", point(179.9, -17.0, 500))
    far = active("d", point(0.0, -17.0, 500))
    line = active("a", corridor)
    assert meet(line, east, 0) is not None and meet(line, west, 0) is not None
    assert meet(line, far, 0) is None
    index = ActiveSet(warning_m=1000)
    for a in (east, west, far):
        index.add(a)
    assert [m.second[0] for m in index.check(line)] == ["b", "c"]


lons = st.floats(-180, 180, allow_nan=False)
near_lons = st.sampled_from([-179.95, 179.95, 0.0, 120.0])
lats = st.floats(-60, 60, allow_nan=False)


@st.composite
def activities(draw: st.DrawFn, key: str, near: bool = True) -> Activity:
    lon = draw(near_lons) + draw(st.floats(-0.08, 0.08)) if near else draw(lons)
    lon = (lon + 180) % 360 - 180
    lat = draw(st.floats(-0.08, 0.08)) + 10 if near else draw(lats)
    shape = draw(st.sampled_from(["point", "line", "square"]))
    if shape == "point":
        area = point(lon, lat, draw(st.floats(50, 5000)), draw(st.floats(0, 2000)))
    elif shape == "line":
        end = (
            (lon + draw(st.floats(0.001, 0.1)) + 180) % 360 - 180,
            lat + draw(st.floats(-0.1, 0.1)),
        )
        area = parse_area(
            {"type": "LineString", "coordinates": [[lon, lat], list(end)]},
            width_m=draw(st.floats(10, 3000)), buffer_m=draw(st.floats(0, 1000)),
        )  # fmt: skip
    else:
        area = square(min(lon, 179.9), lat, draw(st.floats(0.001, 0.05)))
    start = draw(st.floats(0, 10 * HOUR))
    airborne = draw(st.booleans())
    floor = draw(st.floats(0, 5000)) if airborne else None
    ceiling = floor + draw(st.floats(0, 3000)) if floor is not None else None
    return Activity(key, 1, area, start, start + draw(st.floats(1, 5 * HOUR)), floor, ceiling)


@settings(max_examples=60, deadline=None)
@given(activities("a"), activities("b"), st.floats(0, 20_000))
def test_a_meeting_is_the_same_either_way_round(a: Activity, b: Activity, warning: float) -> None:
    one, other = meet(a, b, warning), meet(b, a, warning)
    assert _figures(one) == _figures(other)
    if one is not None and one.overlap is not None:
        assert other is not None and other.overlap is not None
        assert one.overlap.equals(other.overlap)


def _figures(m: Any) -> Any:
    return None if m is None else (m.first, m.second, m.start, m.end, m.overlap_m2, m.separation_m)


@settings(max_examples=25, deadline=None)
@given(st.lists(activities("x"), min_size=1, max_size=25), activities("new"), st.floats(0, 10_000))
def test_the_index_finds_exactly_what_brute_force_finds(
    actives: list[Activity], new: Activity, warning: float
) -> None:
    keyed = [Activity(f"k{i}", a.version, a.area, a.start, a.end, a.floor_m, a.ceiling_m)
             for i, a in enumerate(actives)]  # fmt: skip
    index = ActiveSet(warning)
    for a in keyed:
        index.add(a)
    found = index.check(new)
    assert [(m.first, m.second, m.overlap_m2, m.separation_m) for m in found] == [
        (m.first, m.second, m.overlap_m2, m.separation_m) for m in brute_force(new, keyed, warning)
    ]


def test_removing_and_replacing_rebuilds_the_index() -> None:
    index = ActiveSet(0)
    index.add(active("a", square(5, 5)))
    new = active("n", square(5.05, 5.05))
    assert len(index.check(new)) == 1
    index.add(Activity("a", 2, square(7, 7), 0, HOUR))  # a new version moves away
    assert index.check(new) == []
    index.remove("a")
    assert len(index) == 0 and index.check(new) == []


@settings(max_examples=40, deadline=None)
@given(st.tuples(st.floats(-179, 179), st.floats(-60, 60)), st.floats(0, 359),
       st.floats(500, 50_000), st.tuples(st.floats(100, 5000), st.floats(100, 5000)))  # fmt: skip
def test_two_circles_meet_exactly_when_their_radii_reach(
    where: tuple[float, float], bearing: float, apart: float, radii: tuple[float, float]
) -> None:
    """Two circles a known distance apart on the ellipsoid: they overlap when the radii
    reach (to 0.5 %), and otherwise their gap is the distance less the radii."""
    (lon, lat), (r1, r2) = where, radii
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, apart)
    one, other = active("a", point(lon, lat, r1)), active("b", point(lon2, lat2, r2))
    found = meet(one, other, warning_m=1e9)
    assert found is not None
    gap = apart - r1 - r2
    if gap > 0.01 * apart:
        assert found.kind == "proximity" and abs(found.separation_m - gap) <= 0.005 * apart + 2
    elif gap < -0.01 * apart:
        assert found.kind == "overlap"


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 1e6), st.floats(1, 1e5), st.floats(-1e5, 1e5))
def test_windows_meet_exactly_when_they_overlap(start: float, length: float, shift: float) -> None:
    here = square(5, 5)
    a = active("a", here, start, start + length)
    b = active("b", here, start + shift, start + shift + length)
    assert (meet(a, b, 0) is not None) == (abs(shift) < length)


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 9000), st.floats(0, 3000), st.floats(0, 9000), st.floats(0, 3000))
def test_bands_meet_exactly_when_they_touch(f1: float, h1: float, f2: float, h2: float) -> None:
    here = square(5, 5)
    a = active("a", here, floor=f1, ceiling=f1 + h1)
    b = active("b", here, floor=f2, ceiling=f2 + h2)
    assert (meet(a, b, 0) is not None) == (max(f1, f2) <= min(f1 + h1, f2 + h2))


@settings(max_examples=30, deadline=None)
@given(st.floats(-180, 180), st.floats(85.01, 90), st.booleans())
def test_polar_areas_are_refused(lon: float, lat: float, south: bool) -> None:
    with pytest.raises(AreaError, match="85°"):
        point(lon, -lat if south else lat, 100)
