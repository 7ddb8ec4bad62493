"""Attachments between two real station processes over HTTP: every type, a large file
through a crash at either end, the web and API surfaces, clearances and the audit."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from backchannel.cli.demo_files import letter_pdf
from backchannel.protocol.attachments import CHUNK_BYTES
from backchannel.station.attachments.marks import tags_in
from backchannel.station.attachments.service import CHUNK_PATH
from backchannel.station.attachments.text import text_of
from backchannel.station.web.limits import CHUNK_BODY_BYTES
from backchannel.store.attachments import AttachmentChunkRow, AttachmentRow

from .conftest import (
    StationProcess,
    cli,
    grant,
    make_station,
    pair_running,
    start_together,
    wait_until,
)
from .files import PDF, every_type

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def line(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[StationProcess, StationProcess]]:
    tmp = tmp_path_factory.mktemp("attachments")
    a, b = make_station(tmp, "alpha"), make_station(tmp, "bravo")
    start_together(a, b)
    try:
        pair_running(a, b)
        yield a, b
    finally:
        a.stop()
        b.stop()


def token(
    station: StationProcess, name: str, role: str = "officer", labels: tuple[str, ...] = ()
) -> dict[str, str]:
    s = station.open()
    try:
        grant(s, name, role, labels, password="a long enough password")
        return {"authorization": "Bearer " + s.accounts.create_token("test", "test", name, "t")}
    finally:
        s.close()


@pytest.fixture(scope="module")
def tokens(line: tuple[StationProcess, StationProcess]) -> dict[str, dict[str, str]]:
    a, b = line
    return {
        "a": token(a, "ana", labels=("negotiation",)),
        "b": token(b, "bo"),
        "b-cleared": token(b, "bea", labels=("negotiation",)),
        "b-auditor": token(b, "aud", "auditor"),
    }


def channel_of(station: StationProcess, headers: dict[str, str]) -> str:
    [channel] = httpx.get(station.url + "/api/v1/channels", headers=headers).json()
    return str(channel["channel_id"])


def upload(
    station: StationProcess, headers: dict[str, str], name: str, data: bytes
) -> httpx.Response:
    """Stage a file over the API as the web page does; the last answer."""
    begun = httpx.post(station.url + "/api/v1/uploads", headers=headers, json={
        "name": name, "size": len(data), "digest": hashlib.sha256(data).hexdigest()})  # fmt: skip
    if begun.status_code != 201:
        return begun
    upload_id, answer = begun.json()["upload_id"], begun
    for index in range(begun.json()["chunks"]):
        piece = data[index * CHUNK_BYTES :][:CHUNK_BYTES]
        answer = httpx.put(f"{station.url}/api/v1/uploads/{upload_id}/chunks/{index}",
                           headers=headers, content=piece)  # fmt: skip
        if answer.status_code != 200:
            return answer
    return answer


def send(
    station: StationProcess, headers: dict[str, str], uploads: list[str], **more: object
) -> str:
    channel = channel_of(station, headers)
    sent = httpx.post(f"{station.url}/api/v1/channels/{channel}/messages", headers=headers,
                      json={"text": "files attached", "attachments": uploads, **more})  # fmt: skip
    assert sent.status_code == 201, sent.text
    return str(sent.json()["envelope_hash"])


def listing(station: StationProcess, headers: dict[str, str], item: str) -> httpx.Response:
    channel = channel_of(station, headers)
    return httpx.get(f"{station.url}/api/v1/channels/{channel}/items/{item}/attachments",
                     headers=headers)  # fmt: skip


def arrived(station: StationProcess, headers: dict[str, str], item: str) -> bool:
    answer = listing(station, headers, item)
    return answer.status_code == 200 and all(f["state"] == "complete" for f in answer.json())


def download(station: StationProcess, headers: dict[str, str], item: str, n: int) -> httpx.Response:
    channel = channel_of(station, headers)
    return httpx.get(f"{station.url}/api/v1/channels/{channel}/items/{item}/attachments/{n}",
                     headers=headers, timeout=120)  # fmt: skip


def test_every_allowed_type_crosses_and_comes_out_as_a_download(
    line: tuple[StationProcess, StationProcess], tokens: dict[str, dict[str, str]]
) -> None:
    a, b = line
    files = every_type()
    ids = []
    for name, (data, media_type) in files.items():
        staged = upload(a, tokens["a"], name, data)
        assert staged.status_code == 200, staged.text
        assert (staged.json()["state"], staged.json()["media_type"]) == ("staged", media_type)
        ids.append(staged.json()["upload_id"])
    item = send(a, tokens["a"], ids)
    wait_until(lambda: arrived(b, tokens["b"], item), "every file at bravo")
    for n, (name, (data, media_type)) in enumerate(files.items()):
        got = download(b, tokens["b"], item, n)
        assert got.status_code == 200 and got.content == data, name
        assert got.headers["content-type"].split(";")[0] == media_type
        assert got.headers["content-disposition"].startswith("attachment; filename=")
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in got.headers.get_list("content-security-policy")[0]
    # The item as the API shows it names the files, never their keys.
    channel = channel_of(b, tokens["b"])
    shown = httpx.get(f"{b.url}/api/v1/channels/{channel}/items/{item}", headers=tokens["b"])
    refs = shown.json()["item"]["attachments"]
    assert [r["name"] for r in refs] == list(files) and {r["key"] for r in refs} == {""}


def test_the_cli_sends_and_gets_a_file(
    line: tuple[StationProcess, StationProcess], tokens: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    a, b = line
    source = tmp_path / "Carte d\u2019état-major.pdf"
    source.write_bytes(PDF + os.urandom(3 * MIB))
    done = cli("send", "--station", str(a.folder), "--attach", str(source), "the map")
    assert done.returncode == 0, done.stderr
    item = done.stdout.split("(")[1].split(")")[0]
    b_item = _full_hash(b, tokens["b"], item)
    wait_until(lambda: arrived(b, tokens["b"], b_item), "the map at bravo")
    listed = cli("attachment", "list", "--station", str(b.folder), b_item[:16])
    assert "Carte d\u2019état-major.pdf" in listed.stdout and "complete" in listed.stdout
    out = tmp_path / "got.pdf"
    got = cli("attachment", "get", "--station", str(b.folder), b_item[:16], "--out", str(out))
    assert got.returncode == 0, got.stderr
    assert out.read_bytes() == source.read_bytes()
    again = cli("attachment", "get", "--station", str(b.folder), b_item[:16], "--out", str(out))
    assert again.returncode == 1 and "exists" in again.stderr and "Traceback" not in again.stderr
    html = tmp_path / "letter.pdf"
    html.write_bytes(b"<html><body><script>alert(1)</script></body></html>")
    refused = cli("send", "--station", str(a.folder), "--attach", str(html), "a letter")
    assert refused.returncode == 1 and "text/html by its content" in refused.stderr
    assert "Traceback" not in refused.stderr


def _full_hash(station: StationProcess, headers: dict[str, str], prefix: str) -> str:
    channel = channel_of(station, headers)
    wait_until(lambda: any(i["envelope_hash"].startswith(prefix) for i in httpx.get(
        f"{station.url}/api/v1/channels/{channel}/transcript", headers=headers).json()),
        "the item at the station")  # fmt: skip
    items = httpx.get(f"{station.url}/api/v1/channels/{channel}/transcript", headers=headers).json()
    return str(next(i["envelope_hash"] for i in items if i["envelope_hash"].startswith(prefix)))


def test_a_reader_without_the_clearance_cannot_fetch_the_bytes_and_downloads_are_audited(
    line: tuple[StationProcess, StationProcess], tokens: dict[str, dict[str, str]]
) -> None:
    a, b = line
    staged = upload(a, tokens["a"], "terms.pdf", letter_pdf(["confidential terms"]))
    item = send(a, tokens["a"], [staged.json()["upload_id"]], clearances=["negotiation"])
    wait_until(lambda: arrived(b, tokens["b-cleared"], item), "the terms at bravo")
    for who in ("b", "b-auditor"):
        assert download(b, tokens[who], item, 0).status_code in (403, 404)
        assert listing(b, tokens[who], item).status_code in (403, 404)
    not_found = download(b, tokens["b"], item, 0)
    assert not_found.json() == download(b, tokens["b"], "0" * 64, 0).json()  # nothing confirmed
    assert download(b, tokens["b-cleared"], item, 1).status_code == 404
    copy = download(b, tokens["b-cleared"], item, 0).content  # bea's own copy, marked
    assert "confidential terms" in text_of("application/pdf", copy)
    audit = httpx.get(f"{b.url}/api/v1/audit", headers=tokens["b-auditor"],
                      params={"item": item}).json()  # fmt: skip
    [(reader, detail)] = [(r["officer"], r["detail"]) for r in audit if r["action"] == "download"]
    assert reader == "bea" and detail == f"attachment 0, mark {next(iter(tags_in(copy)))}"


def test_the_api_refuses_bad_files_with_one_line_and_keeps_nothing(
    line: tuple[StationProcess, StationProcess], tokens: dict[str, dict[str, str]]
) -> None:
    a, _b = line
    html = upload(a, tokens["a"], "letter.pdf", b"<!DOCTYPE html><html><body>x</body></html>")
    assert html.status_code == 422 and "text/html by its content" in html.json()["error"]
    elf = upload(a, tokens["a"], "tool.pdf", Path("/bin/true").read_bytes()[:MIB])
    assert elf.status_code == 422 and "by its content" in elf.json()["error"]
    for name in ("../../etc/passwd", "a\x00b", "n" * 500):
        refused = upload(a, tokens["a"], name, PDF)
        assert refused.status_code == 422, name
    big = httpx.post(a.url + "/api/v1/uploads", headers=tokens["a"],
                     json={"name": "big.pdf", "size": 101 * MIB, "digest": "0" * 64})  # fmt: skip
    assert big.status_code == 422 and "100 MiB" in big.json()["error"]
    over = httpx.put(a.url + f"/api/v1/uploads/{'0' * 32}/chunks/0", headers=tokens["a"],
                     content=b"x" * (MIB + 1))  # fmt: skip
    assert over.status_code == 413
    s = a.open()
    try:
        with s.db.reading() as session:
            assert not session.scalar(
                select(func.count()).where(AttachmentRow.state == "uploading")
            )
    finally:
        s.close()


def _chunks_at(station: StationProcess) -> dict[str, int]:
    s = station.open()
    try:
        with s.db.reading() as session:
            rows = session.execute(
                select(AttachmentChunkRow.attachment_id, func.count()).group_by(
                    AttachmentChunkRow.attachment_id
                )
            )
            return {attachment_id: n for attachment_id, n in rows}
    finally:
        s.close()


def _held(station: StationProcess, headers: dict[str, str], item: str) -> int:
    answer = listing(station, headers, item)
    return int(answer.json()[0]["held"]) if answer.status_code == 200 else 0


@pytest.mark.parametrize("killed", ["receiver", "sender"])
def test_a_100_mib_file_survives_a_kill_mid_transfer_and_is_kept_once(
    line: tuple[StationProcess, StationProcess],
    tokens: dict[str, dict[str, str]],
    tmp_path: Path,
    killed: str,
) -> None:
    a, b = line
    source = tmp_path / "archive.pdf"
    with source.open("wb") as handle:
        handle.write(PDF)
        handle.write(os.urandom(100 * MIB - len(PDF)))
    done = cli("send", "--station", str(a.folder), "--attach", str(source), "the archive")
    assert done.returncode == 0, done.stderr
    item = _full_hash(a, tokens["a"], done.stdout.split("(")[1].split(")")[0])
    wait_until(lambda: _held(b, tokens["b"], item) >= 20, "a fifth of the file at bravo")
    victim = b if killed == "receiver" else a
    victim.kill()
    victim.start()
    wait_until(lambda: arrived(b, tokens["b"], item), "the whole file at bravo", 180)
    got = download(b, tokens["b"], item, 0)
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    assert hashlib.sha256(got.content).hexdigest() == expected
    assert listing(b, tokens["b"], item).json()[0]["sha256"] == expected
    b.stop()
    try:
        counts = _chunks_at(b)
        assert 100 in counts.values() and max(counts.values()) == 100  # no second copy
    finally:
        b.start()


def test_the_peer_chunk_endpoint_caps_its_body_and_tells_a_stranger_nothing(
    line: tuple[StationProcess, StationProcess],
) -> None:
    """Last in this module: each refusal here is charged to loopback's peer budget."""
    _a, b = line
    url = b.url + CHUNK_PATH
    assert httpx.post(url, content=b"x" * (CHUNK_BODY_BYTES + 1)).status_code == 413
    stranger = os.urandom(32)
    unknown = httpx.post(url, content=stranger + bytes(4) + b"sealed-" * 8)
    assert unknown.status_code == 404 and stranger.hex() not in unknown.text
    assert "sealed-" not in unknown.text
    short = httpx.post(url, content=b"<script>")
    assert short.status_code == 400 and "<script>" not in short.text
