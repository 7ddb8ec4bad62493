"""The items of incident prevention: each rule refused in one line on both sides of the
wire, areas converted to and from GeoJSON, and a conflict named the same either way."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backchannel.protocol.encoding import encode
from backchannel.protocol.errors import LocalProtocolError, RemoteProtocolError
from backchannel.protocol.items import Item, decode_item, encode_item
from backchannel.protocol.notification import (
    MAX_VERTICES,
    ConflictAck,
    Notification,
    NotificationAnswer,
    NotificationCancel,
    conflict_id,
    from_geojson,
    geojson,
)

ID = bytes(range(16))
START = datetime(2031, 5, 1, 8, tzinfo=UTC)


def notice(area: dict[str, Any] | None = None, **changes: object) -> Notification:
    shape, rings, parts = from_geojson(area or {"type": "Point", "coordinates": [31.5, 46.6]})
    item = Notification(
        ID, 1, "convoy", shape, rings, parts, START, START + timedelta(hours=4),
        START - timedelta(hours=12), START - timedelta(days=3), radius_m=2000,
    )  # fmt: skip
    return msgspec.structs.replace(item, **changes)


BAD: dict[str, tuple[Callable[[], Item], str]] = {
    "version": (lambda: notice(version=0), "version"),
    "kind": (lambda: notice(kind="Convoy!"), "activity kind"),
    "shape": (lambda: notice(shape="Circle"), "one of"),
    "odd": (lambda: notice(rings=((1, 2, 3),)), "lon, lat"),
    "vertices": (lambda: notice(rings=((0, 0) * (MAX_VERTICES + 1),)), "vertices"),
    "parts": (lambda: notice(parts=(2,)), "parts"),
    "window": (lambda: notice(end=START), "start is before"),
    "radius": (lambda: notice(radius_m=-1), "radius"),
    "half-band": (lambda: notice(floor_m=100), "floor and a ceiling"),
    "band": (lambda: notice(floor_m=900, ceiling_m=100), "floor is at or below"),
    "margin": (lambda: notice(margin_s=-1), "margin"),
    "details": (lambda: notice(details=(("", "x"),)), "details"),
    "contact": (lambda: notice(contact="x" * 3000), "too long"),
    "seen": (lambda: notice(seen=((ID, 1),) * 1001), "at most 1000"),
    "labels": (lambda: notice(clearances=("B",)), "clearance"),
    "reason": (lambda: NotificationCancel(ID, 1, "x" * 70_000), "reason"),
    "concern": (lambda: NotificationAnswer(ID, 1, "concern", " "), "says what"),
    "answer": (lambda: NotificationAnswer(ID, 1, "ack", "x" * 70_000), "text is longer"),
    "ack-note": (lambda: ConflictAck(bytes(32), "x" * 70_000), "note is longer"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_items_are_refused_in_one_line_both_ways(case: str) -> None:
    make, message = BAD[case]
    item = make()
    with pytest.raises(LocalProtocolError, match=message) as refused:
        encode_item(item)
    assert "\n" not in str(refused.value)
    with pytest.raises(RemoteProtocolError, match=message):
        decode_item(item.item_type, encode(item))


def test_a_polygon_of_ten_thousand_vertices_fits_in_one_item() -> None:
    ring = [[31.0 + i * 1e-5, 46.0 + (i % 2) * 1e-5] for i in range(MAX_VERTICES - 1)]
    area = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    item = notice(area, radius_m=0)
    assert decode_item("notification", encode_item(item)) == item


AREAS = [
    {"type": "Point", "coordinates": [-179.5, 10.25]},
    {"type": "MultiPoint", "coordinates": [[1.0, 2.0], [3.0, 4.0]]},
    {"type": "LineString", "coordinates": [[1.0, 2.0], [3.0, 4.0]]},
    {"type": "MultiLineString", "coordinates": [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.5, 8]]]},
    {"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]},
    {"type": "MultiPolygon", "coordinates": [
        [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]],
        [[[5.0, 5.0], [6.0, 5.0], [6.0, 6.0], [5.0, 5.0]],
         [[5.2, 5.1], [5.8, 5.1], [5.8, 5.7], [5.2, 5.1]]],
    ]},
]  # fmt: skip


@pytest.mark.parametrize("area", AREAS, ids=lambda a: str(a["type"]))
def test_an_area_travels_as_micro_degrees_and_comes_back(area: dict[str, Any]) -> None:
    shape, rings, parts = from_geojson(area)
    assert geojson(shape, rings, parts) == area
    assert notice(area).geojson() == area


@given(st.binary(min_size=16, max_size=16), st.integers(1, 99), st.integers(1, 99))
def test_a_conflict_has_one_name_in_either_order(other: bytes, v1: int, v2: int) -> None:
    assert conflict_id((ID, v1), (other, v2)) == conflict_id((other, v2), (ID, v1))
    assert conflict_id((ID, v1), (other, v2)) != conflict_id((ID, v1 + 1), (other, v2))
