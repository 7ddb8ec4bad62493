"""Incident prevention across two stations: both find the same conflict from the same
items, both acknowledge it, an unacknowledged one escalates, a cancel or an amend
clears it at both, and nothing the peer sends out of turn changes a register."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from backchannel.protocol.notification import Notification, NotificationAnswer
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import ChannelNotFound, InvalidRequest
from backchannel.station.incidents.service import Plan
from backchannel.station.incidents.web import script_json
from backchannel.station.service import Station
from backchannel.testing.cli import run as forked_cli

from .conftest import PASSWORD, StationProcess, grant, sign_in, wait_until
from .test_store import deliver, paired_in_process

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW + timedelta(days=4)
WHO = Record("test", "notify", "test")
CONVOY = Plan(
    "convoy", {"type": "LineString", "coordinates": [[31.40, 46.60], [31.60, 46.62]]},
    START, START + timedelta(hours=6), NOW + timedelta(days=1), width_m=800, buffer_m=500,
    details={"route": "M14 Kherson road", "vehicles": "12 lorries"}, text="Flour and fuel.",
)  # fmt: skip
EXERCISE = Plan(
    "exercise", {"type": "Point", "coordinates": [31.50, 46.61]}, START + timedelta(hours=2),
    START + timedelta(hours=10), NOW + timedelta(days=1), radius_m=3000,
    details={"units": "2nd battalion"},
)  # fmt: skip
FAR = Plan(
    "exercise", {"type": "Point", "coordinates": [33.0, 47.5]}, START, START + timedelta(hours=8),
    NOW + timedelta(days=1), radius_m=3000, details={"units": "3rd battalion"},
)  # fmt: skip


def open_ids(station: Station) -> list[str]:
    return [c.conflict_id for c in station.incidents.conflicts()]


@pytest.fixture
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Station, Station]]:
    a, b = paired_in_process(tmp_path_factory.mktemp("incidents"))
    yield a, b
    a.close()
    b.close()


def test_both_stations_find_the_same_conflict_and_both_acknowledge_it(
    pair: tuple[Station, Station],
) -> None:
    a, b = pair
    channel_a, channel_b = a.resolve(None), b.resolve(None)
    convoy = a.incidents.notify(channel_a, CONVOY, WHO)
    exercise = b.incidents.notify(channel_b, EXERCISE, WHO)  # crossed: neither had seen the other
    b.incidents.notify(channel_b, FAR, WHO)
    deliver(a, b)
    deliver(b, a)
    assert open_ids(a) == open_ids(b) and len(open_ids(a)) == 1
    [at_a], [at_b] = a.incidents.conflicts(), b.incidents.conflicts()
    assert at_a.figures == at_b.figures and at_a.figures["kind"] == "overlap"
    assert at_a.figures["overlap_km2"] > 1 and at_a.figures["crossing"] is True
    assert {at_a.first[0], at_a.second[0]} == {convoy, exercise}
    owed = {(d.kind, d.owed_by) for d in a.due()}
    assert ("conflict acknowledgement", "us") in owed and ("answer", "us") in owed
    a.incidents.acknowledge(channel_a, at_a.conflict_id, "Seen; we will hold the convoy.", WHO)
    deliver(a, b)
    b.incidents.acknowledge(channel_b, at_b.conflict_id, "", WHO)
    deliver(b, a)
    for station in (a, b):
        [c] = station.incidents.conflicts()
        assert c.acked_us and c.acked_them
        assert not [d for d in station.due() if d.kind == "conflict acknowledgement"]
    with pytest.raises(InvalidRequest, match="already"):
        a.incidents.acknowledge(channel_a, at_a.conflict_id, "", WHO)
    b.incidents.answer(channel_b, convoy, "concern", "The road is mined past km 40.", WHO)
    deliver(b, a)
    assert a.incidents.notification(channel_a, convoy).answer == "concern"


def test_a_cancel_or_an_amend_clears_the_conflict_at_both(pair: tuple[Station, Station]) -> None:
    a, b = pair
    channel_a, channel_b = a.resolve(None), b.resolve(None)
    convoy = a.incidents.notify(channel_a, CONVOY, WHO)
    deliver(a, b)
    exercise = b.incidents.notify(channel_b, EXERCISE, WHO)  # B had seen the convoy
    deliver(b, a)
    [first] = a.incidents.conflicts()
    assert first.figures["crossing"] is False and open_ids(a) == open_ids(b)
    moved = Plan(**{**CONVOY.__dict__, "start": START + timedelta(hours=12),
                    "end": START + timedelta(hours=14)})  # fmt: skip
    assert a.incidents.amend(channel_a, convoy, moved, WHO) == 2
    deliver(a, b)
    assert open_ids(a) == open_ids(b) == []
    assert [c.state for c in a.incidents.conflicts(cleared=True)] == ["cleared"]
    back = a.incidents.amend(channel_a, convoy, CONVOY, WHO)
    deliver(a, b)
    assert back == 3 and open_ids(a) == open_ids(b) and len(open_ids(a)) == 1
    assert open_ids(a) != [first.conflict_id]  # another version, another conflict
    b.incidents.cancel(channel_b, exercise, "postponed", WHO)
    deliver(b, a)
    assert open_ids(a) == open_ids(b) == []
    with pytest.raises(InvalidRequest, match="this station's active"):
        b.incidents.cancel(channel_b, exercise, "again", WHO)
    with pytest.raises(InvalidRequest, match="this station's active"):
        b.incidents.amend(channel_b, convoy, CONVOY, WHO)  # not B's to change


def test_an_unacknowledged_conflict_escalates(pair: tuple[Station, Station]) -> None:
    a, b = pair
    a.incidents.notify(a.resolve(None), CONVOY, WHO)
    b.incidents.notify(b.resolve(None), EXERCISE, WHO)
    deliver(a, b)
    deliver(b, a)
    a.clock = lambda: time.time() + 3 * 86_400
    kinds = {d.kind for d in a.check_deadlines()}
    assert "conflict acknowledgement" in kinds and "answer" in kinds
    [c] = a.incidents.conflicts()
    assert any(
        r.record.action == "escalate" for r in a.audit.show(item_hash=bytes.fromhex(c.conflict_id))
    )


def test_bad_plans_are_refused_and_nothing_is_sent(pair: tuple[Station, Station]) -> None:
    a, _b = pair
    channel = a.resolve(None)
    before = len(a.transcript(channel))
    bad = {
        "kind": (Plan(**{**CONVOY.__dict__, "kind": "picnic"}), "kind is one of"),
        "details": (Plan(**{**CONVOY.__dict__, "details": {"route": "x"}}), "says its vehicles"),
        "area": (Plan(**{**CONVOY.__dict__, "area": {"type": "Point", "coordinates": [0, 95]},
                         "radius_m": 100}),
                 "latitude"),
        "past": (Plan(**{**CONVOY.__dict__, "ack_by": NOW - timedelta(hours=1)}), "past"),
        "window": (Plan(**{**CONVOY.__dict__, "end": START}), "start is before"),
        "band": (Plan(**{**CONVOY.__dict__, "floor_m": 900, "ceiling_m": 100}), "floor"),
    }  # fmt: skip
    for plan, message in bad.values():
        with pytest.raises(InvalidRequest, match=message):
            a.incidents.notify(channel, plan, WHO)
    assert len(a.transcript(channel)) == before and a.incidents.notifications() == []
    with pytest.raises(ChannelNotFound):
        a.incidents.answer(channel, "0" * 32, "ack", "", WHO)


def test_what_the_peer_sends_out_of_turn_changes_nothing(pair: tuple[Station, Station]) -> None:
    """A version that skips one, an amend of our notification, an answer to its own."""
    a, b = pair
    channel_a, channel_b = a.resolve(None), b.resolve(None)
    ours = a.incidents.notify(channel_a, CONVOY, WHO)
    deliver(a, b)
    [item] = [e.item for e in b.transcript(channel_b) if isinstance(e.item, Notification)]
    hijack = Notification(**{**{f: getattr(item, f) for f in item.__struct_fields__}, "version": 2})
    b.send(channel_b, hijack)  # B claims A's notification as its own
    skipped = Notification(**{**{f: getattr(item, f) for f in item.__struct_fields__},
                              "notification_id": bytes(16), "version": 5})  # fmt: skip
    b.send(channel_b, skipped)
    deliver(b, a)
    view = a.incidents.notification(channel_a, ours)
    assert (view.version, view.origin, view.answer) == (1, "us", "")
    assert [n.notification_id for n in a.incidents.notifications()] == [ours]
    a.send(channel_a, NotificationAnswer(bytes.fromhex(ours), 1, "ack"))  # answering itself
    assert a.incidents.notification(channel_a, ours).answer == ""
    ahead = Notification(**{**{f: getattr(item, f) for f in item.__struct_fields__},
                            "notification_id": bytes(range(16)),
                            "sent_at": NOW + timedelta(days=300)})  # fmt: skip
    b.send(channel_b, ahead)  # a sender's clock far ahead would put off every escalation
    deliver(b, a)
    kept = a.incidents.notification(channel_a, bytes(range(16)).hex()).terms["sent_at"]
    assert kept <= time.time() + 1


def test_the_cli_announces_lists_and_refuses_bad_files_in_one_line(
    pair: tuple[Station, Station], tmp_path: Path
) -> None:
    a, _b = pair
    road = tmp_path / "road.geojson"
    road.write_text(json.dumps({"type": "Feature", "geometry": CONVOY.area, "properties": {}}))
    common = ["--station", str(a.folder), "--start", START.isoformat(),
              "--end", (START + timedelta(hours=6)).isoformat(),
              "--ack-by", (NOW + timedelta(days=1)).isoformat()]  # fmt: skip
    sent = cli("notify", "new", *common, "--kind", "convoy", "--geojson", str(road),
               "--width", "800", "--detail", "route=M14", "--detail", "vehicles=12")  # fmt: skip
    assert sent.returncode == 0 and "sent" in sent.stdout, sent.stderr
    listed = cli("notify", "list", "--station", str(a.folder), "--json")
    assert [n["kind"] for n in json.loads(listed.stdout)] == ["convoy"]
    [notification] = json.loads(listed.stdout)
    amended = cli("notify", "amend", notification["notification_id"], *common, "--kind",
                  "convoy", "--geojson", str(road), "--width", "1200", "--detail", "route=M14",
                  "--detail", "vehicles=14")  # fmt: skip
    assert amended.returncode == 0 and "version 2" in amended.stdout, amended.stderr
    assert a.incidents.notifications()[0].terms["width_m"] == 1200
    assert json.loads(cli("conflicts", "--station", str(a.folder), "--json").stdout) == []
    (tmp_path / "bad.geojson").write_text("{not json")
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    (tmp_path / "bowtie.geojson").write_text(json.dumps(bowtie))
    details = ["--kind", "convoy", "--detail", "route=M14", "--detail", "vehicles=12"]
    for name, message in (("bad.geojson", "not JSON"), ("bowtie.geojson", "not valid"),
                          ("missing.geojson", "cannot read")):  # fmt: skip
        refused = cli("notify", "new", *common, *details, "--geojson", str(tmp_path / name))
        assert refused.returncode == 1 and message in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert len(a.incidents.notifications()) == 1


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return forked_cli(*args)


def test_the_incidents_page_refuses_before_it_reads(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    """Signed out, a role that may not send, no CSRF token, a body too large: refused
    before anything is read; a bad area: one line on the page, nothing sent."""
    a, _b = pair_of_stations
    s = a.open()
    try:
        grant(s, "ann", "principal", password=PASSWORD)
        grant(s, "rita", "reader", password=PASSWORD)
        channel = s.resolve(None)
    finally:
        s.close()
    path = f"/channels/{channel}/incidents"
    anonymous = httpx.post(a.url + path, data={"kind": "convoy"}, timeout=10)
    assert anonymous.status_code in (303, 401)
    rita, rita_csrf = sign_in(a.url, "rita")
    assert rita.get(path).status_code == 200  # a reader reads the map
    assert rita.post(path, data={"csrf": rita_csrf, "kind": "convoy", "geojson": "{}",
                                 "start": "2031-01-01T00:00", "end": "2031-01-01T01:00",
                                 "ack_by": "2030-12-30T00:00"}).status_code == 403  # fmt: skip
    ann, csrf = sign_in(a.url, "ann")
    assert ann.post(path, data={"kind": "convoy"}).status_code == 403  # no CSRF token
    huge = ann.post(path, data={"csrf": csrf, "geojson": "x" * (2 * 1024 * 1024)})
    assert huge.status_code == 413
    bad = ann.post(path, data={
        "csrf": csrf, "kind": "convoy", "geojson": '{"type": "Point", "coordinates": [0, 95]}',
        "radius_m": "100", "start": "2031-01-01T00:00", "end": "2031-01-01T01:00",
        "ack_by": "2030-12-30T00:00", "details": "route=x\nvehicles=y",
    })  # fmt: skip
    assert bad.status_code == 422 and "latitude 95 is outside" in bad.text
    assert "No notification." in ann.get(path).text


def test_the_map_json_cannot_close_its_element() -> None:
    shown = str(script_json({"kind": "</script><script>alert(1)</script>", "x": "a&b"}))
    assert "<" not in shown and ">" not in shown and "&" not in shown
    assert json.loads(shown) == {"kind": "</script><script>alert(1)</script>", "x": "a&b"}


def test_two_running_stations_agree_on_a_conflict_and_a_cancel_clears_it(
    pair_of_stations: tuple[StationProcess, StationProcess], tmp_path: Path
) -> None:
    """From the command line at two serving stations: the same conflict at both, each
    recorded within a second of the item's arrival; a cancel clears it at both."""
    a, b = pair_of_stations
    road = tmp_path / "road.geojson"
    road.write_text(json.dumps(CONVOY.area))
    spot = tmp_path / "spot.geojson"
    spot.write_text(json.dumps(EXERCISE.area))
    when = ["--start", START.isoformat(), "--end", (START + timedelta(hours=6)).isoformat(),
            "--ack-by", (NOW + timedelta(days=1)).isoformat()]  # fmt: skip
    sent = cli("notify", "new", "--station", str(a.folder), *when, "--kind", "convoy",
               "--geojson", str(road), "--width", "800", "--detail", "route=M14",
               "--detail", "vehicles=12")  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    convoy = sent.stdout.split()[1]
    theirs = cli("notify", "new", "--station", str(b.folder), *when, "--kind", "exercise",
                 "--geojson", str(spot), "--radius", "3000", "--detail", "units=2nd")  # fmt: skip
    assert theirs.returncode == 0, theirs.stderr

    def conflicts(station: StationProcess) -> list[dict[str, object]]:
        found: list[dict[str, object]] = json.loads(
            cli("conflicts", "--station", str(station.folder), "--json").stdout
        )
        return found

    wait_until(lambda: conflicts(a) and conflicts(b), "the conflict at both stations", 30)
    [at_a], [at_b] = conflicts(a), conflicts(b)
    assert at_a["conflict_id"] == at_b["conflict_id"] and at_a["overlap"] == at_b["overlap"]
    for station in (a, b):  # recorded in the transaction that received the second item
        s = station.open()
        try:
            [c] = s.incidents.conflicts()
            arrived = max(e.created_at for e in s.transcript(None)
                          if e.item_type == "notification")  # fmt: skip
            assert abs(c.detected_at - arrived) < 1.0
        finally:
            s.close()
    cancelled = cli("notify", "cancel", convoy, "--station", str(a.folder), "--reason", "later")
    assert cancelled.returncode == 0, cancelled.stderr
    wait_until(lambda: not conflicts(a) and not conflicts(b), "the cancel at both stations", 30)
