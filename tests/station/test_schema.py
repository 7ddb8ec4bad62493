"""Property-based fuzzing of a real station's HTTP API: the officer API and the peer API.

Two ``backchannel serve`` processes on 127.0.0.1 are paired and hold a little of
everything: messages both ways, and a release request and a proposal from Bravo that
wait for Alpha's principal.  Schemathesis reads Alpha's ``/openapi.json`` and sends
every operation of the officer API (``/api/v1``) generated requests, valid and
invalid, as that principal; some of the valid ones name the real channel, items,
request and proposal, so that handlers get past "not found".  The peer API takes raw
bytes that the schema does not describe: Hypothesis posts random bytes, and
truncations, byte flips, tails and re-encoded fields of real envelopes, batches,
heads probes and pairing acceptances to Bravo.  Neither API may answer 5xx, and every
4xx is JSON ``{"error": "<one line>"}`` (docs/station.md).

``BACKCHANNEL_FUZZ_EXAMPLES`` is the number of examples per operation and per peer
route: a short run in ``make test``, a long one in ``make fuzz``.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from backchannel.protocol import Identity, SignedInvitation, accept_invitation
from backchannel.protocol.armor import dearmor
from backchannel.station.core.batches import encode_batch
from backchannel.station.service import Station
from backchannel.store import repository as repo

from .conftest import (
    LABEL,
    StationProcess,
    add_officer,
    make_station,
    pair_running,
    start_together,
    wait_until,
)

EXAMPLES = int(os.environ.get("BACKCHANNEL_FUZZ_EXAMPLES", "20"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip
TIMEOUT = 30.0  # per request: a station that hangs fails the test, not the whole run


@dataclass
class Line:
    """Two paired, running stations, what they hold, and each principal's API token."""

    a: StationProcess
    b: StationProcess
    stores: dict[str, Station]
    tokens: dict[str, str]
    ids: dict[str, list[str]]  # path parameter -> real values at Alpha
    envelopes: list[bytes]  # sent by Alpha, held by Bravo
    probe: bytes  # a heads probe from Alpha to Bravo
    acceptance: bytes  # a stranger's acceptance of an invitation of Bravo's (never posted)

    def api(self, side: str) -> Callable[..., Any]:
        """Call a station's officer API as its principal; the JSON of a 2xx answer."""
        station = self.a if side == "a" else self.b

        def call(method: str, rest: str, body: Any = None) -> Any:
            answer = httpx.request(
                method, f"{station.url}/api/v1{rest}", json=body, timeout=TIMEOUT,
                headers={"authorization": f"Bearer {self.tokens[side]}"},
            )  # fmt: skip
            assert answer.status_code in (200, 201), (method, rest, answer.status_code, answer.text)
            return answer.json()

        return call

    def propose(self) -> str:
        """A new proposal from Bravo, delivered to Alpha; its id."""
        respond_by = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        clauses = [{"id": "1", "text": "Hotline tests every Monday."},
                   {"id": "2", "text": "Notices go out 14 days ahead."}]  # fmt: skip
        body = {"title": "Hotline", "respond_by": respond_by, "clearances": [LABEL],
                "clauses": clauses}  # fmt: skip
        channel = self.ids["channel"][0]
        made: str = self.api("b")("POST", f"/channels/{channel}/proposals", body)["proposal_id"]
        wait_until(
            lambda: (
                made in {p.proposal_id for p in self.stores["a"].negotiation.proposals(channel)}
            ),
            "the proposal at Alpha",
        )
        return made


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    tmp = tmp_path_factory.mktemp("schema")
    a, b = make_station(tmp, "alpha"), make_station(tmp, "bravo")
    for station in (a, b):
        add_officer(station, "principal", "principal", (LABEL,))
    stores: dict[str, Station] = {}
    try:
        start_together(a, b)
        stores["a"], stores["b"] = a.open(), b.open()
        pair_running(a, b)
        tokens = {
            s: stores[s].accounts.create_token("test", "test", "principal", "t") for s in "ab"
        }
        yield _filled(Line(a, b, stores, tokens, {}, [], b"", b""))
    finally:
        for store in stores.values():
            store.close()
        a.stop()
        b.stop()


def _begun(line: Line, station: str, data: bytes) -> str:
    """An upload begun at a station, none of its chunks put yet."""
    digest = hashlib.sha256(data).hexdigest()
    begun = line.api(station)("POST", "/uploads", {
        "name": "memo.pdf", "size": len(data), "digest": digest})  # fmt: skip
    return str(begun["upload_id"])


def _document(line: Line, channel: str) -> str:
    """A document Bravo sends Alpha: a message with a PDF."""
    data = b"%PDF-1.4\nthe terms\n"
    upload_id = _begun(line, "b", data)
    url = f"{line.b.url}/api/v1/uploads/{upload_id}/chunks/0"
    auth = {"authorization": f"Bearer {line.tokens['b']}"}
    assert httpx.put(url, content=data, headers=auth, timeout=TIMEOUT).status_code == 200
    sent = line.api("b")("POST", f"/channels/{channel}/messages",
                         {"text": "The terms.", "attachments": [upload_id]})  # fmt: skip
    return str(sent["envelope_hash"])


def _filled(line: Line) -> Line:
    """Messages both ways, a release request and a proposal to Alpha, and the seeds."""
    a, b = line.stores["a"], line.stores["b"]
    channel = a.resolve(None)
    line.ids["channel"] = [channel]
    text = "Exercise NORTHERN GATE, 3-5 May."
    sent = line.api("b")("POST", f"/channels/{channel}/messages",
                         {"text": text, "clearances": [LABEL]})["envelope_hash"]  # fmt: skip
    ours = line.api("a")("POST", f"/channels/{channel}/messages", {"text": "Noted."})
    release = {"title": "Joint notice", "date": "2031-05-17",
               "texts": [{"item_hash": sent, "mode": "verbatim", "text": text}]}  # fmt: skip
    request_id = line.api("b")("POST", f"/channels/{channel}/releases", release)["request_id"]
    document = _document(line, channel)
    line.ids |= {"item_hash": [sent, ours["envelope_hash"], document], "request_id": [request_id],
                 "proposal_id": [line.propose()], "position": ["0"], "index": ["0", "1"],
                 "upload_id": [_begun(line, "a", b"%PDF-1.4\n" * 200_000)]}  # fmt: skip
    wait_until(
        lambda: a.releases.requests(channel) and a.status(channel).outbox_backlog == 0,
        "the release request at Alpha, and Alpha's outbox delivered",
    )
    line.ids["violation_id"] = [_leaked(line, channel)]
    hold = line.api("a")("POST", f"/channels/{channel}/retention/holds", {"reason": "a test hold"})
    line.ids["hold_id"] = [hold["hold_id"]]
    with a.db.reading() as s:  # the outbox keeps every envelope, delivered or not
        held = [repo.envelope(s, channel, seq) for seq in range(1, 64)]
    line.envelopes = [e for e in held if e is not None]
    assert len(line.envelopes) >= 2, "Alpha's outbox keeps what it sent"
    line.probe = a.heads.probe(channel).data
    invitation = SignedInvitation.decode(dearmor(b.invite(3600)))
    stranger = Identity.generate("Party Charlie", "charlie")
    _channel, accepted = accept_invitation(stranger, invitation, "http://127.0.0.1:9", time.time())
    line.acceptance = accepted.encode()
    return line


def _leaked(line: Line, channel: str) -> str:
    """A message of Bravo's quoted in a published text: a violation in Alpha's register."""
    leak = (
        "Convoy Rook will cross the Lenz bridge at 04:00 on 9 June with forty lorries of "
        "flour, escorted by two unarmed vehicles."
    )
    line.api("b")("POST", f"/channels/{channel}/messages", {"text": leak})
    a = line.stores["a"]
    wait_until(
        lambda: any(getattr(e.item, "text", "") == leak for e in a.transcript(channel)),
        "Bravo's message at Alpha",
    )
    found = line.api("a")("POST", "/leaks/scan", {"text": f"A memo says: {leak}", "source": "t"})
    assert found["violation"], found
    return str(found["violation_id"])


def _one_line_error(status: int, content_type: str | None, body: bytes, request: str) -> None:
    """A refusal, as docs/station.md promises: JSON ``{"error": "<one line>"}``."""
    seen = (status, content_type, body[:300], request)
    assert (content_type or "").startswith("application/json"), seen
    shown = msgspec.json.decode(body)
    assert isinstance(shown, dict) and set(shown) == {"error"}, seen
    error = shown["error"]
    assert isinstance(error, str) and error.strip() and "\n" not in error, seen


# -- the officer API, from its schema -----------------------------------------------------

# Every operation under /api/v1, one test each; the first test checks the list is whole.
OPERATIONS: list[tuple[str, str]] = [
    ("GET", "/me"), ("GET", "/channels"), ("GET", "/channels/{channel}"),
    ("POST", "/channels/{channel}/confirm"), ("POST", "/channels/{channel}/messages"),
    ("POST", "/channels/{channel}/acks"), ("GET", "/channels/{channel}/inbox"),
    ("GET", "/channels/{channel}/transcript"), ("GET", "/channels/{channel}/items/{item_hash}"),
    ("GET", "/audit"), ("GET", "/channels/{channel}/releases"),
    ("POST", "/channels/{channel}/releases"),
    ("POST", "/channels/{channel}/releases/{request_id}/approve"),
    ("POST", "/channels/{channel}/releases/{request_id}/decline"),
    ("GET", "/channels/{channel}/releases/{request_id}/bundle"),
    ("GET", "/channels/{channel}/proposals"), ("POST", "/channels/{channel}/proposals"),
    ("GET", "/channels/{channel}/proposals/{proposal_id}"),
    ("POST", "/channels/{channel}/proposals/{proposal_id}/respond"),
    ("POST", "/channels/{channel}/proposals/{proposal_id}/withdraw"),
    ("GET", "/channels/{channel}/agreements"), ("GET", "/due"),
    ("POST", "/leaks/scan"), ("GET", "/leaks/violations"), ("GET", "/search"),
    ("GET", "/leaks/violations/{violation_id}"), ("POST", "/leaks/violations/{violation_id}/ask"),
    ("POST", "/leaks/violations/{violation_id}/finding"),
    ("POST", "/uploads"), ("PUT", "/uploads/{upload_id}/chunks/{index}"),
    ("GET", "/channels/{channel}/items/{item_hash}/attachments"),
    ("GET", "/channels/{channel}/items/{item_hash}/attachments/{position}"),
    ("GET", "/channels/{channel}/items/{item_hash}/attachments/{position}/preview"),
    ("GET", "/channels/{channel}/glossary"), ("POST", "/channels/{channel}/glossary"),
    ("POST", "/channels/{channel}/glossary/{proposal_id}/answer"),
    ("GET", "/channels/{channel}/retention"), ("POST", "/channels/{channel}/retention/policies"),
    ("POST", "/channels/{channel}/retention/answers"),
    ("POST", "/channels/{channel}/retention/holds"),
    ("DELETE", "/channels/{channel}/retention/holds/{hold_id}"),
]  # fmt: skip
CHECKS = [
    not_a_server_error, response_schema_conformance, content_type_conformance,
    negative_data_rejection,
]  # fmt: skip


@pytest.fixture(scope="module")
def officer_api(line: Line) -> BaseSchema:
    headers = {"authorization": f"Bearer {line.tokens['a']}"}
    config = schemathesis.Config.from_dict({"headers": headers})
    return schemathesis.openapi.from_url(f"{line.a.url}/openapi.json", config=config)


def test_every_operation_of_the_officer_api_is_fuzzed(officer_api: BaseSchema) -> None:
    served = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, methods in officer_api.raw_schema["paths"].items()
        if path.startswith("/api/v1/")
        for method in methods
    }
    assert served == set(OPERATIONS)


Operation = APIOperation[Any, Any, Any, Any]
AnyCase = Case[Any]


def cases(operation: Operation, ids: dict[str, list[str]]) -> st.SearchStrategy[AnyCase]:
    """Invalid requests, valid ones, and valid ones that name what the station holds.

    Real ids go into valid requests only: put into an invalid one, they could make
    valid the part schemathesis made invalid.
    """
    names = re.findall(r"{(\w+)}", operation.path)
    real = [dict(zip(names, values, strict=True)) for values in product(*(ids[n] for n in names))]
    return st.one_of(
        operation.as_strategy(GenerationMode.NEGATIVE),
        operation.as_strategy(GenerationMode.POSITIVE),
        *(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=p) for p in real if p),
    )


def _refusal_in_one_line(case: AnyCase, response: schemathesis.Response) -> None:
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [None])[0]
        _one_line_error(response.status_code, content_type, response.content,
                        case.as_curl_command())  # fmt: skip


# Every station is new, so a failure saved by one run names ids that the next run
# does not have; and the nested test below has one database key for all operations.
# Each failure shows a curl command that reproduces it instead.
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_officer_api_answers_as_its_schema_says(
    officer_api: BaseSchema, line: Line, method: str, path: str
) -> None:
    operation = officer_api["/api/v1" + path][method]

    @settings(FUZZ, database=None)
    @given(case=cases(operation, line.ids))
    def fuzz(case: AnyCase) -> None:
        response = case.call_and_validate(checks=CHECKS, timeout=TIMEOUT)
        _refusal_in_one_line(case, response)

    fuzz()


@pytest.mark.parametrize(
    ("method", "path"),
    OPERATIONS,
)
def test_the_officer_api_answers_only_statuses_its_schema_lists(
    officer_api: BaseSchema, line: Line, method: str, path: str
) -> None:
    operation = officer_api["/api/v1" + path][method]

    # The first undocumented status is the answer: no shrinking against a live server.
    @settings(FUZZ, database=None, phases=[Phase.generate])
    @given(case=cases(operation, line.ids))
    def fuzz(case: AnyCase) -> None:
        case.call_and_validate(checks=[status_code_conformance], timeout=TIMEOUT)

    fuzz()


@pytest.mark.parametrize(
    "path",
    [path for method, path in OPERATIONS if method == "GET" and path.startswith("/channels/{")],
)
def test_an_unknown_channel_is_a_404_on_every_channel_route(line: Line, path: str) -> None:
    """Found by the fuzzing above: the lists of an unknown channel used to be empty."""
    known = {name: values[0] for name, values in line.ids.items()}
    url = line.a.url + "/api/v1" + path.format(**(known | {"channel": "0" * 32}))
    answer = httpx.get(url, timeout=TIMEOUT,
                       headers={"authorization": f"Bearer {line.tokens['a']}"})  # fmt: skip
    assert answer.status_code == 404, (url, answer.status_code, answer.text)
    _one_line_error(404, answer.headers.get("content-type"), answer.content, f"GET {url}")


def test_an_answer_to_a_clause_that_is_not_open_is_refused_in_one_line(line: Line) -> None:
    """Found by the fuzzing above (POST .../respond); kept here as one exact case."""
    channel, proposal = line.ids["channel"][0], line.propose()
    url = f"{line.a.url}/api/v1/channels/{channel}/proposals/{proposal}/respond"
    body = {"answers": [{"clause_id": "\n", "verdict": "accept"}]}
    answer = httpx.post(url, json=body, timeout=TIMEOUT,
                        headers={"authorization": f"Bearer {line.tokens['a']}"})  # fmt: skip
    assert answer.status_code == 422, answer.text
    _one_line_error(answer.status_code, answer.headers.get("content-type"), answer.content,
                    f"POST {url} {body}")  # fmt: skip


# -- the peer API, from bytes -------------------------------------------------------------


def _answered(response: httpx.Response, ok: tuple[int, ...]) -> None:
    status = response.status_code
    assert status < 500, (status, response.text[:300])
    if status >= 400:
        request = f"POST {response.request.url.path} {response.request.content[:64]!r}…"
        _one_line_error(status, response.headers.get("content-type"), response.content, request)
    else:
        assert status in ok, (status, response.text[:300])


def _flipped(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with one to eight of its bytes changed (never back to ``data``)."""

    def flip(masks: dict[int, int]) -> bytes:
        changed = bytearray(data)
        for where, mask in masks.items():
            changed[where] ^= mask
        return bytes(changed)

    masks = st.dictionaries(st.integers(0, len(data) - 1), st.integers(1, 255), min_size=1,
                            max_size=8)  # fmt: skip
    return masks.map(flip)


def _replaced(value: Any, path: list[int], new: Any) -> Any:
    """A copy of a nested MessagePack value with the element at ``path`` replaced."""
    if not path or not isinstance(value, list) or not value:
        return new
    index = path[0] % len(value)
    return [*value[:index], _replaced(value[index], path[1:], new), *value[index + 1 :]]


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3)


# Any MessagePack value: what a field of a real message is replaced with.
MSGPACK_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.binary(max_size=64) | st.text(max_size=40),
    _containers, max_leaves=8,
)  # fmt: skip


def mutants(seeds: list[bytes], prefix: int) -> st.SearchStrategy[bytes]:
    """Bytes like ``seeds``: truncated, flipped, with a tail, or with a field re-encoded.

    ``prefix`` is the length of the magic and version before the MessagePack.
    """
    seed = st.sampled_from(seeds)
    truncated = seed.flatmap(lambda s: st.integers(0, len(s) - 1).map(lambda n: s[:n]))
    tailed = st.builds(lambda s, tail: s + tail, seed, st.binary(min_size=1, max_size=64))
    prefixed = st.builds(lambda s, rest: s[:prefix] + rest, seed, st.binary(max_size=256))

    def reencoded(s: bytes) -> st.SearchStrategy[bytes]:
        try:
            fields = msgspec.msgpack.decode(s[prefix:])
        except msgspec.DecodeError:  # a version-2 envelope or batch: fixed fields, no MessagePack
            return st.just(s)
        paths = st.lists(st.integers(0, 16), min_size=1, max_size=3)
        return st.builds(
            lambda path, new: s[:prefix] + msgspec.msgpack.encode(_replaced(fields, path, new)),
            paths, MSGPACK_VALUE,
        )  # fmt: skip

    return st.one_of(
        st.binary(max_size=512), truncated, seed.flatmap(_flipped), tailed, prefixed,
        seed.flatmap(reencoded),
    )  # fmt: skip


@pytest.fixture(scope="module")
def peer(line: Line) -> Iterator[httpx.Client]:
    # A new connection for each request: a pooled one the station has just closed (it
    # closes idle ones, and those that sent it a refused body) fails the next request.
    fresh = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=line.b.url, timeout=TIMEOUT, limits=fresh) as client:
        yield client


def test_the_seeds_are_taken_as_they_are(line: Line, peer: httpx.Client) -> None:
    """What the fuzzing starts from is real: a retransmission and a probe are answered."""
    for path, body in [
        ("/peer/v1/envelope", line.envelopes[0]),
        ("/peer/v1/envelopes", encode_batch(line.envelopes)),
        ("/peer/v1/heads", line.probe),
    ]:
        answer = peer.post(path, content=body)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["content-type"] == "application/octet-stream", path


@FUZZ
@given(data=st.data())
def test_the_envelope_route_refuses_bad_bytes_in_one_line(
    line: Line, peer: httpx.Client, data: st.DataObject
) -> None:
    body = data.draw(mutants(line.envelopes, 3), label="body")
    _answered(peer.post("/peer/v1/envelope", content=body), (200,))


@FUZZ
@given(data=st.data())
def test_the_batch_route_refuses_bad_bytes_in_one_line(
    line: Line, peer: httpx.Client, data: st.DataObject
) -> None:
    some = st.lists(mutants(line.envelopes, 3) | st.sampled_from(line.envelopes), min_size=1,
                    max_size=4)  # fmt: skip
    batch = some.map(encode_batch) | mutants([encode_batch(line.envelopes)], 0)
    answer = peer.post("/peer/v1/envelopes", content=data.draw(batch, label="body"))
    _answered(answer, (200,))
    assert answer.headers.get("x-refused", "").isascii()


@FUZZ
@given(data=st.data())
def test_the_heads_route_refuses_bad_bytes_in_one_line(
    line: Line, peer: httpx.Client, data: st.DataObject
) -> None:
    body = data.draw(mutants([line.probe], 3), label="body")
    _answered(peer.post("/peer/v1/heads", content=body), (200, 204))


@FUZZ
@given(data=st.data())
def test_the_pairing_route_refuses_bad_bytes_in_one_line(
    line: Line, peer: httpx.Client, data: st.DataObject
) -> None:
    body = data.draw(mutants([line.acceptance], 4), label="body")
    _answered(peer.post("/peer/v1/pair", content=body), (200,))
