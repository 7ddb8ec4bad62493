"""Joint releases: the manifest, consents, the state tables, and the JSON bundle anyone checks.

The bundle is the one artefact of backchannel that leaves the channel and is meant to
be verified by strangers, so most of this module attacks it: every leaf field is
changed in turn, signatures are removed, added, duplicated and swapped, and the
parser is fuzzed, which must answer ``BundleError`` and nothing else.  The last tests
run ``backchannel verify`` itself as a reader would.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from backchannel.protocol import LocalProtocolError, RemoteProtocolError
from backchannel.protocol.identity import Identity
from backchannel.protocol.release import (
    DISCLOSURE_TABLE,
    MAX_BUNDLE_BYTES,
    REQUEST_TABLE,
    Bundle,
    BundleError,
    BundleParty,
    BundleSignature,
    BundleText,
    Disclosure,
    DisclosureInput,
    Manifest,
    ReleaseConsent,
    ReleasedText,
    ReleaseRequest,
    RequestInput,
    RequestState,
    bundle_of,
    check_consent,
    consent,
    decide,
    disclose,
    keys_document,
    pinned_parties,
    read_keys,
    verify_bundle,
)

NOTICE = "Notice: naval exercise NORTHERN GATE, 3-5 May, sea area [redacted]."
REPLY = "Received. Our patrol vessels will keep 20 nm clear of K-7 during the exercise."
HEX_FIELDS = frozenset(
    {"request_id", "curve25519", "ed25519", "mlkem768", "mldsa65", "fingerprint", "item_hash"}
)


@dataclass(frozen=True)
class Release:
    a: Identity
    b: Identity
    outsider: Identity
    request: ReleaseRequest
    manifest: Manifest
    data: bytes

    def doc(self) -> Any:
        return json.loads(self.data)

    def __repr__(self) -> str:
        return f"Release({self.request.title!r}, {len(self.data)} bytes)"

    def _repr_pretty_(self, printer: Any, _cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis prints this, not the 50 kB of fields


def request_of(title: str = "Joint notice of exercise NORTHERN GATE") -> ReleaseRequest:
    texts = (
        ReleasedText(bytes(range(32)), "redacted", NOTICE),
        ReleasedText(bytes(range(1, 33)), "verbatim", REPLY),
    )
    return ReleaseRequest(
        request_id=os.urandom(16), title=title, date="2025-05-03", texts=texts,
        statement="Both ministries confirm that these items were exchanged on their line.",
    )  # fmt: skip


@pytest.fixture(scope="module")
def release() -> Release:
    a = Identity.generate("Ministry of Defence of Aurelia", "aurelia-hq")
    b = Identity.generate("Ministry of Defence of Borduria", "borduria-hq")
    outsider = Identity.generate("Ministry of Defence of Syldavia", "syldavia-hq")
    request = request_of()
    manifest = Manifest.of(request, a.public, b.public)
    consents = {i.public.fingerprint(): consent(i, manifest) for i in (a, b)}
    return Release(a, b, outsider, request, manifest, bundle_of(manifest, consents))


def dump(doc: Any) -> bytes:
    return json.dumps(doc, indent=2).encode()


def assert_only_bundle_errors(data: bytes) -> None:
    """Whatever the bytes, the readers return or raise BundleError, nothing else."""
    for reader in (verify_bundle, read_keys):
        with contextlib.suppress(BundleError):
            reader(data)


# -- the manifest and consents -------------------------------------------------------------


def test_both_orders_of_parties_give_the_same_manifest(release: Release) -> None:
    a, b = release.a.public, release.b.public
    one, other = Manifest.of(release.request, a, b), Manifest.of(release.request, b, a)
    assert one.encode() == other.encode()
    assert one.digest() == other.digest()
    assert [p.fingerprint() for p in one.parties] == sorted([a.fingerprint(), b.fingerprint()])
    assert Manifest.of(request_of(), a, b).digest() != one.digest()  # another request id


def test_a_consent_verifies_only_for_its_manifest_and_its_signer(release: Release) -> None:
    a, b, manifest = release.a, release.b, release.manifest
    check_consent(manifest, a.public, consent(a, manifest))
    check_consent(manifest, b.public, consent(b, manifest))
    with pytest.raises(RemoteProtocolError, match="not valid"):
        check_consent(manifest, b.public, consent(a, manifest))  # signed by the wrong party
    other = Manifest.of(request_of(), a.public, b.public)
    with pytest.raises(RemoteProtocolError, match="another manifest"):
        check_consent(manifest, a.public, consent(a, other))
    # Same request id, other terms: the digest tells them apart before any signature check.
    retitled = msgspec.structs.replace(release.request, title="Another title")
    with pytest.raises(RemoteProtocolError, match="another manifest"):
        check_consent(manifest, a.public, consent(a, Manifest.of(retitled, a.public, b.public)))
    # The right digest but signatures over other bytes.
    good, foreign = consent(a, manifest), consent(a, other)
    spliced = ReleaseConsent(good.request_id, good.manifest_digest, foreign.ed25519, good.mldsa65)
    with pytest.raises(RemoteProtocolError, match="not valid"):
        check_consent(manifest, a.public, spliced)


def test_only_a_party_can_consent(release: Release) -> None:
    with pytest.raises(LocalProtocolError, match="not a party"):
        consent(release.outsider, release.manifest)


@pytest.mark.parametrize(
    "label", ["message", "item", "ack", "checkpoint", "Release", "release\x00", "invitation ", ""]
)
def test_long_term_keys_sign_nothing_but_invitations_and_releases(
    release: Release, label: str
) -> None:
    with pytest.raises(LocalProtocolError, match="never sign"):
        release.a.sign(label, release.manifest.encode())


# -- the state tables ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "event"), list(itertools.product(Disclosure, DisclosureInput)), ids=str
)
def test_disclosure_table_is_the_whole_machine(state: Disclosure, event: DisclosureInput) -> None:
    if (state, event) in DISCLOSURE_TABLE:
        assert disclose(state, event) is DISCLOSURE_TABLE[(state, event)]
    else:
        with pytest.raises(LocalProtocolError, match=f"cannot {event.value}"):
            disclose(state, event)


@pytest.mark.parametrize(
    ("state", "event"), list(itertools.product(RequestState, RequestInput)), ids=str
)
def test_request_table_is_the_whole_machine(state: RequestState, event: RequestInput) -> None:
    if (state, event) in REQUEST_TABLE:
        assert decide(state, event) is REQUEST_TABLE[(state, event)]
    else:
        with pytest.raises(LocalProtocolError, match=f"cannot {event.value}"):
            decide(state, event)


def test_released_is_terminal() -> None:
    assert not [key for key in DISCLOSURE_TABLE if key[0] is Disclosure.RELEASED]
    assert not [key for key in REQUEST_TABLE if key[0] is RequestState.RELEASED]
    finished = {RequestState.RELEASED, RequestState.DECLINED, RequestState.SUPERSEDED,
                RequestState.VOID}  # fmt: skip
    assert {state for state, _ in REQUEST_TABLE} == set(RequestState) - finished
    # Every state is reachable from the start.
    assert {Disclosure.CONFIDENTIAL, *DISCLOSURE_TABLE.values()} == set(Disclosure)
    assert {RequestState.OPEN, *REQUEST_TABLE.values()} == set(RequestState)


# -- the bundle ----------------------------------------------------------------------------


def test_a_bundle_with_both_consents_verifies(release: Release) -> None:
    manifest, lines = verify_bundle(release.data)
    assert manifest == release.manifest
    assert len(lines) == 2
    for party in (release.a, release.b):
        assert sum(party.party in line and party.station in line for line in lines) == 1
    assert release.doc()["texts"][0]["text"] == NOTICE


def _leaf_paths() -> list[tuple[str | int, ...]]:
    """Every leaf of a two-party, two-text bundle, from the schema (new fields join in)."""

    def names(struct: type[msgspec.Struct]) -> list[str]:
        return [f.name for f in msgspec.structs.fields(struct)]

    nested: dict[str, type[msgspec.Struct]] = {
        "parties": BundleParty, "texts": BundleText, "signatures": BundleSignature,
    }  # fmt: skip
    paths: list[tuple[str | int, ...]] = []
    for name in names(Bundle):
        if name in nested:
            paths += [(name, n, leaf) for n in (0, 1) for leaf in names(nested[name])]
        else:
            paths.append((name,))
    return paths


LEAVES = _leaf_paths()


def changed(field: str, value: object) -> object:
    """The value with one character (one hex digit, for binary fields) changed."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise AssertionError(f"unexpected leaf {field}: {value!r}")
    if isinstance(value, int):
        return value + 1
    if not value:
        return "x"
    at = len(value) // 2
    if field in HEX_FIELDS:
        new = "0123456789abcdef"[int(value[at], 16) ^ 1]
    else:
        new = "x" if value[at] != "x" else "y"
    return value[:at] + new + value[at + 1 :]


def test_the_leaf_list_covers_the_bundle(release: Release) -> None:
    def leaves(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
        if isinstance(node, dict):
            return [p for k, v in node.items() for p in leaves(v, (*path, k))]
        if isinstance(node, list):
            return [p for n, v in enumerate(node) for p in leaves(v, (*path, n))]
        return [path]

    assert sorted(map(str, leaves(release.doc()))) == sorted(map(str, LEAVES))


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: ".".join(map(str, p)))
def test_changing_any_field_breaks_the_bundle(
    release: Release, path: tuple[str | int, ...]
) -> None:
    doc = release.doc()
    *parents, leaf = path
    node = doc
    for key in parents:
        node = node[key]
    node[leaf] = changed(str(leaf), node[leaf])
    with pytest.raises(BundleError):
        verify_bundle(dump(doc))


def test_changing_one_character_of_a_released_text_in_the_file_breaks_it(
    release: Release,
) -> None:
    assert release.data.count(b"3-5 May") == 1
    with pytest.raises(BundleError, match="does not verify"):
        verify_bundle(release.data.replace(b"3-5 May", b"3-6 May"))


def test_a_missing_signature_makes_it_incomplete(release: Release) -> None:
    for gone in (0, 1):
        doc = release.doc()
        del doc["signatures"][gone]
        with pytest.raises(BundleError, match="incomplete"):
            verify_bundle(dump(doc))
    doc = release.doc()
    doc["signatures"] = []
    with pytest.raises(BundleError, match="incomplete"):
        verify_bundle(dump(doc))


def test_extra_duplicated_and_foreign_signatures_are_refused(release: Release) -> None:
    doc = release.doc()
    doc["signatures"].append(copy.deepcopy(doc["signatures"][1]))
    with pytest.raises(BundleError, match="two signatures"):
        verify_bundle(dump(doc))

    outsider = release.outsider
    ed, ml = outsider.sign("release", release.manifest.encode())
    by_outsider = {"fingerprint": outsider.public.fingerprint().hex(), "ed25519": ed.hex(),
                   "mldsa65": ml.hex()}  # fmt: skip
    doc = release.doc()
    doc["signatures"].append(by_outsider)
    with pytest.raises(BundleError, match="not a party"):
        verify_bundle(dump(doc))

    # The outsider's valid signatures over the very manifest, filed under a party.
    for slot in (0, 1):
        doc = release.doc()
        doc["signatures"][slot].update(ed25519=ed.hex(), mldsa65=ml.hex())
        with pytest.raises(BundleError, match="does not verify"):
            verify_bundle(dump(doc))


def test_signatures_over_an_invitation_do_not_count_as_a_release(release: Release) -> None:
    doc = release.doc()
    for sig, identity in zip(doc["signatures"], _by_fingerprint(release), strict=True):
        ed, ml = identity.sign("invitation", release.manifest.encode())
        sig.update(ed25519=ed.hex(), mldsa65=ml.hex())
    with pytest.raises(BundleError, match="does not verify"):
        verify_bundle(dump(doc))


def _by_fingerprint(release: Release) -> list[Identity]:
    return sorted((release.a, release.b), key=lambda i: i.public.fingerprint())


def test_swapping_the_parties_is_refused(release: Release) -> None:
    doc = release.doc()
    doc["parties"].reverse()
    with pytest.raises(BundleError, match="fingerprint order"):
        verify_bundle(dump(doc))
    doc = release.doc()
    doc["signatures"].reverse()  # the order of signatures is not signed, but is canonical
    verify_bundle(dump(doc))


@pytest.mark.parametrize("where", ["top", "parties", "texts", "signatures"])
def test_unknown_fields_are_refused(release: Release, where: str) -> None:
    doc = release.doc()
    (doc if where == "top" else doc[where][0])["comment"] = "harmless?"
    with pytest.raises(BundleError, match="unknown field"):
        verify_bundle(dump(doc))


def test_a_bundle_naming_one_station_twice_is_refused(release: Release) -> None:
    """One station cannot pass its own keys off as both parties with one signature."""
    a, b = release.a, release.b
    posing = msgspec.structs.replace(a.public, party=b.party, station=b.station)
    with pytest.raises(LocalProtocolError, match="two different parties"):
        Manifest.of(release.request, a.public, posing)
    r = release.request
    manifest = Manifest(
        "release", 1, (a.public, posing), r.request_id, r.title, r.statement, r.date, r.texts
    )
    ed, ml = a.sign("release", manifest.encode())
    signed = ReleaseConsent(r.request_id, manifest.digest(), ed, ml)
    data = bundle_of(manifest, {a.public.fingerprint(): signed})
    with pytest.raises(BundleError, match="different"):
        verify_bundle(data)


def test_oversized_and_deeply_nested_bundles_fail_before_parsing(release: Release) -> None:
    padded = release.data + b" " * (MAX_BUNDLE_BYTES + 1 - len(release.data))
    with pytest.raises(BundleError, match="larger than"):
        verify_bundle(padded)
    verify_bundle(padded[:-1])  # one byte less is within the limit (whitespace is JSON)
    with pytest.raises(BundleError, match="nested too deeply"):
        verify_bundle(b"[" * 1_000_000)
    deep = b'{"format": ' + b"[" * 9 + b"]" * 9 + b"}"
    with pytest.raises(BundleError, match="nested too deeply"):
        verify_bundle(deep)
    # Brackets inside strings are text, not nesting.
    doc = release.doc()
    doc["statement"] = '[{"[' * 20 + '\\"]'
    with pytest.raises(BundleError, match="does not verify"):
        verify_bundle(dump(doc))


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"\x00\xff", b"null", b"[]", b"{}", b'"bundle"', b"{", b"\xef\xbb\xbf{}"],
)
def test_garbage_is_a_bundle_error(data: bytes) -> None:
    with pytest.raises(BundleError):
        verify_bundle(data)
    with pytest.raises(BundleError):
        read_keys(data)


@pytest.mark.parametrize("where", ["title", "parties.0.party", "texts.1.text"])
def test_invalid_utf8_inside_a_string_is_a_bundle_error(release: Release, where: str) -> None:
    """Fails today: msgspec raises UnicodeDecodeError (not a DecodeError) for bad UTF-8
    inside a JSON string, and ``read_bundle``/``read_keys`` catch only DecodeError."""
    doc = release.doc()
    *parents, leaf = [int(k) if k.isdigit() else k for k in where.split(".")]
    node = doc
    for key in parents:
        node = node[key]
    node[leaf] = "MARK" + node[leaf]
    data = dump(doc).replace(b"MARK", b"\xff", 1)
    with pytest.raises(BundleError):
        verify_bundle(data)
    keys = keys_document(release.a.public).replace(b'"party": "', b'"party": "\xc3', 1)
    with pytest.raises(BundleError):
        read_keys(keys)


# -- fuzzing: BundleError or a verified bundle, nothing else --------------------------------

FIELD_NAMES = sorted({str(part) for path in LEAVES for part in path if isinstance(part, str)})
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=24,
)


@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_bundle_errors(data: bytes) -> None:
    assert_only_bundle_errors(data)


@given(value=json_values)
def test_arbitrary_json_raises_only_bundle_errors(value: object) -> None:
    assert_only_bundle_errors(json.dumps(value).encode())


@given(path=st.sampled_from(LEAVES), value=json_values)
def test_a_bundle_with_any_leaf_replaced_raises_only_bundle_errors(
    release: Release, path: tuple[str | int, ...], value: object
) -> None:
    doc = release.doc()
    *parents, leaf = path
    node = doc
    for key in parents:
        node = node[key]
    node[leaf] = value
    assert_only_bundle_errors(dump(doc))


# A failing position and byte read well unshrunk; shrinking them re-verifies a 28 kB
# bundle thousands of times.
@settings(phases=[phase for phase in Phase if phase is not Phase.shrink])
@given(at=st.integers(min_value=0, max_value=1 << 16), byte=st.integers(0, 255))
def test_a_bundle_with_any_byte_replaced_raises_only_bundle_errors(
    release: Release, at: int, byte: int
) -> None:
    at %= len(release.data)
    assert_only_bundle_errors(release.data[:at] + bytes([byte]) + release.data[at + 1 :])


# -- published keys --------------------------------------------------------------------------


def test_keys_document_round_trips(release: Release) -> None:
    for identity in (release.a, release.b):
        assert read_keys(keys_document(identity.public)) == identity.public


@pytest.mark.parametrize("field", ["fingerprint", "ed25519", "mldsa65", "curve25519"])
def test_a_keys_file_whose_fingerprint_does_not_match_fails(release: Release, field: str) -> None:
    doc = json.loads(keys_document(release.a.public))
    doc["party"][field] = changed(field, doc["party"][field])
    with pytest.raises(BundleError):
        read_keys(dump(doc))
    # Another station's keys under this station's fingerprint.
    doc = json.loads(keys_document(release.b.public))
    doc["party"]["fingerprint"] = release.a.public.fingerprint().hex()
    with pytest.raises(BundleError, match="does not match"):
        read_keys(dump(doc))


# -- backchannel verify ------------------------------------------------------------------------

Outcome = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def verify_runs(release: Release, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """``backchannel verify`` as a reader runs it, on good and bad input, all at once."""
    folder = tmp_path_factory.mktemp("verify")

    def write(name: str, data: bytes) -> str:
        (folder / name).write_bytes(data)
        return str(folder / name)

    bundle = write("release.json", release.data)
    a, b, outsider = (
        write(f"{i.station}.keys.json", keys_document(i.public))
        for i in (release.a, release.b, release.outsider)
    )
    # Two brand-new stations that merely call themselves by the real parties' names.
    fa, fb = (Identity.generate(i.public.party, i.public.station) for i in (release.a, release.b))
    fabricated = Manifest.of(request_of("A statement nobody made"), fa.public, fb.public)
    signed = {f.public.fingerprint(): consent(f, fabricated) for f in (fa, fb)}
    impostor = write("impostor.json", bundle_of(fabricated, signed))
    pins = [release.a.public.fingerprint().hex(), release.b.public.fingerprint().hex()]
    cases = {
        "good": [bundle],
        "pinned": [bundle, "--keys", a, "--keys", b],
        "one-pinned": [bundle, "--keys", a],
        "fingerprints": [bundle, "--fingerprint", pins[0], "--fingerprint", pins[1]],
        "bad-fingerprint": [bundle, "--fingerprint", "12ab"],
        "impostor": [impostor],
        "impostor-pinned": [impostor, "--keys", a, "--keys", b],
        "plain-http-keys": [bundle, "--keys", "http://127.0.0.1:9/.well-known/backchannel/keys"],
        "outsider": [bundle, "--keys", a, "--keys", outsider],
        "one-character": [write("edited.json", release.data.replace(b"3-5 May", b"3-6 May"))],
        # Fails today: a Traceback (UnicodeDecodeError), see the test above.
        "invalid-utf8": [write("utf8.json", release.data.replace(b"3-5 May", b"3-5 Ma\xff"))],
    }
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "backchannel.cli", "verify", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in cases.items()
    }
    outcomes = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=60)
        outcomes[name] = Outcome(process.args, process.returncode, stdout, stderr)
    return outcomes


def test_cli_never_calls_a_bundle_valid_without_pinned_keys(
    release: Release, verify_runs: dict[str, Outcome]
) -> None:
    for case in ("good", "one-pinned", "impostor"):
        done = verify_runs[case]
        assert done.returncode == 3, (case, done.stderr)  # consistent, parties unverified
        assert done.stdout.startswith("PARTIES UNVERIFIED"), case
        assert "VALID" not in done.stdout.replace("UNVERIFIED", ""), case
        assert "--keys" in done.stdout and "--fingerprint" in done.stdout  # how to pin
    done = verify_runs["good"]
    for text in (release.a.party, release.b.party, NOTICE, REPLY, release.request.title):
        assert text in done.stdout
    assert done.stdout.count("NOT PINNED") == 2
    assert verify_runs["one-pinned"].stdout.count("NOT PINNED") == 1


def test_cli_checks_pinned_keys(verify_runs: dict[str, Outcome]) -> None:
    for case in ("pinned", "fingerprints"):
        done = verify_runs[case]
        assert done.returncode == 0, (case, done.stderr)
        assert done.stdout.startswith("VALID release, signed by both parties"), case
        assert done.stdout.count("[keys pinned]") == 2, case
    done = verify_runs["outsider"]
    assert done.returncode == 1
    assert_one_error_line(done, "not a party's keys")


def test_cli_refuses_an_impostor_against_the_real_keys(verify_runs: dict[str, Outcome]) -> None:
    assert_one_error_line(verify_runs["impostor-pinned"], "not a party's keys")
    assert verify_runs["impostor-pinned"].returncode == 1
    assert_one_error_line(verify_runs["bad-fingerprint"], "a fingerprint is 64 hex digits")
    assert_one_error_line(verify_runs["plain-http-keys"], "plain http prove nothing")


def assert_one_error_line(done: Outcome, reason: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert reason in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert "VALID" not in done.stdout


@pytest.mark.parametrize(
    ("case", "reason"),
    [("one-character", "does not verify"), ("invalid-utf8", "NOT VALID")],
    ids=["one-character", "invalid-utf8"],
)
def test_cli_refuses_an_edited_bundle_in_one_line(
    verify_runs: dict[str, Outcome], case: str, reason: str
) -> None:
    done = verify_runs[case]
    assert done.returncode == 1
    assert_one_error_line(done, reason)


def test_only_keys_pinned_apart_from_the_bundle_say_who_signed(release: Release) -> None:
    a, b, outsider = release.a.public, release.b.public, release.outsider.public
    assert pinned_parties(release.manifest, [], []) == []
    assert pinned_parties(release.manifest, [a], [b.fingerprint()]) == list(
        release.manifest.parties
    )
    with pytest.raises(BundleError, match="not a party's keys"):
        pinned_parties(release.manifest, [outsider], [])
    with pytest.raises(BundleError, match="is not a party's"):
        pinned_parties(release.manifest, [], [outsider.fingerprint()])
