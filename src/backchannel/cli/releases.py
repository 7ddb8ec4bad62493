"""Releases on the command line: request, decide, fetch, verify; keys and backups.

``verify`` needs no station and no network: it checks a bundle file against the keys
inside it and, with ``--keys``, against keys a reader pinned beforehand.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer

from backchannel.protocol.identity import PublicIdentity
from backchannel.protocol.release import (
    MAX_KEYS_BYTES,
    BundleError,
    Manifest,
    ReleasedText,
    keys_document,
    pinned_parties,
    read_keys,
    verify_bundle,
)
from backchannel.station.backup import MAX_BACKUP_BYTES
from backchannel.station.backup import backup as make_backup
from backchannel.station.backup import restore as restore_backup
from backchannel.station.core.config import ConfigError, make_private_file
from backchannel.station.core.errors import StationError
from backchannel.station.core.records import Entry
from backchannel.station.service import Station

from .common import (
    HOST,
    AsJson,
    ChannelOpt,
    StationDir,
    door_of,
    host_caller,
    host_user,
    opened,
    release_desk,
)
from .output import fail, print_json, when

release_app = typer.Typer(
    help="Joint releases: request, approve, decline, list, bundle.", no_args_is_help=True
)
keys_app = typer.Typer(help="This station's public keys, for others to pin.", no_args_is_help=True)


@release_app.command("request")
def request(
    station: StationDir,
    item: Annotated[list[str], typer.Option(help="Item hash (or prefix) to release; repeat.")],
    text: Annotated[list[str], typer.Option(help="Public text of each --item, in order.")],
    title: Annotated[str, typer.Option(help="The release's title.")],
    date: Annotated[str, typer.Option(help="Release date, YYYY-MM-DD.")],
    mode: Annotated[
        list[str] | None, typer.Option(help="verbatim, redacted or summarised, per --item.")
    ] = None,
    statement: Annotated[str, typer.Option(help="A statement printed with the texts.")] = "",
    counter: Annotated[str | None, typer.Option(help="The request this one replaces.")] = None,
    respond_by: Annotated[
        datetime | None, typer.Option(help="A decision is asked for by (ISO 8601, UTC if no zone).")
    ] = None,
    channel: ChannelOpt = None,
) -> None:
    """Ask the counterpart to release public texts of items (a principal's decision)."""
    if len(text) != len(item) or (mode and len(mode) != len(item)):
        fail("give one --text (and one --mode, if any) for every --item")
    modes = mode or ["verbatim"] * len(item)
    with opened(station) as s:
        channel_id = s.resolve(channel)
        hashes = [_full_hash(s.transcript(channel_id), prefix) for prefix in item]
        texts = [
            ReleasedText(h, m, t)  # type: ignore[arg-type]
            for h, m, t in zip(hashes, modes, text, strict=True)
        ]
        request_id = release_desk(s).request(
            host_caller(),
            channel_id,
            HOST,
            texts,
            title=title,
            statement=statement,
            date=date,
            supersedes=counter,
            respond_by=_utc(respond_by),
        )
    typer.echo(f"release requested: {request_id}")


@release_app.command("approve")
def approve(station: StationDir, request_id: str, channel: ChannelOpt = None) -> None:
    """Approve the counterpart's request exactly as written: this station signs it."""
    with opened(station) as s:
        release_desk(s).decide(host_caller(), s.resolve(channel), HOST, request_id, approve=True)
    typer.echo(
        f"approved and signed; the bundle is complete once {request_id[:12]} is countersigned"
    )


@release_app.command("decline")
def decline(
    station: StationDir, request_id: str, reason: str = "", channel: ChannelOpt = None
) -> None:
    """Decline the counterpart's request; its items go back to release-declined."""
    with opened(station) as s:
        release_desk(s).decide(
            host_caller(), s.resolve(channel), HOST, request_id, approve=False, reason=reason
        )
    typer.echo("declined")


@release_app.command("list")
def list_(station: StationDir, channel: ChannelOpt = None, as_json: AsJson = False) -> None:
    """Release requests of a channel with their state."""
    with opened(station) as s:
        views = release_desk(s).requests(host_caller(), s.resolve(channel), HOST)
    if as_json:
        print_json(views)
        return
    if not views:
        typer.echo("no release requests")
    for v in views:
        by = "we asked" if v.requester == "us" else "they asked"
        typer.echo(
            f"{v.request_id}  {v.state:<11} {by:<10} {v.date}  {v.title}"
            f"  ({len(v.texts)} items, {v.signatures}/2 signatures)"
        )


@release_app.command("bundle")
def bundle(
    station: StationDir,
    request_id: str,
    out: Annotated[Path, typer.Option(help="Where to write the bundle.")] = Path("release.json"),
    channel: ChannelOpt = None,
) -> None:
    """Write the signed bundle of a completed release (public texts only)."""
    with opened(station) as s:
        data = release_desk(s).bundle(host_caller(), s.resolve(channel), HOST, request_id)
    out.write_bytes(data)
    typer.echo(f"bundle written to {out}; check it anywhere with: backchannel verify {out}")


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


UNVERIFIED_EXIT = 3
KEYS_HELP = (
    "A party's keys: a keys file, or its https://…/.well-known/backchannel/keys; "
    "repeat for both parties."
)
KEYS_TIMEOUT = 10.0


def verify(
    bundle: Annotated[Path, typer.Argument(help="The release bundle (JSON).")],
    keys: Annotated[
        list[str] | None,
        typer.Option(help=KEYS_HELP),
    ] = None,
    fingerprint: Annotated[
        list[str] | None,
        typer.Option(help="A party's key fingerprint (64 hex digits), read out by the party."),
    ] = None,
) -> None:
    """Check a release bundle offline: its four signatures, and who the signers are.

    Exit 0: valid, and both parties' keys were pinned with --keys or --fingerprint.
    Exit 3: the signatures are consistent, but the parties are unverified (nothing
    shows that the keys in the bundle are the named parties' keys).  Exit 1: not valid.
    """
    try:
        manifest, lines = verify_bundle(_read(bundle, 4 * 1024 * 1024))
        pins = [read_keys(_keys_from(source)) for source in keys or []]
        prints = [_fingerprint(text) for text in fingerprint or []]
        pinned = pinned_parties(manifest, pins, prints)
    except BundleError as exc:
        fail(f"NOT VALID: {exc}")
    show_release(manifest, lines, pinned)
    if len(pinned) < len(manifest.parties):
        raise typer.Exit(UNVERIFIED_EXIT)


def show_release(manifest: Manifest, lines: list[str], pinned: list[PublicIdentity]) -> None:
    verified = len(pinned) == len(manifest.parties)
    if verified:
        typer.echo(f"VALID release, signed by both parties: {manifest.title}")
    else:
        typer.echo(f"PARTIES UNVERIFIED: {manifest.title}")
        typer.echo(
            "the signatures are consistent with the keys inside this bundle, but "
            "nothing shows those keys are the named parties' (anyone can name a "
            "station after a real party)"
        )
    typer.echo(f"date: {manifest.date}")
    for party in manifest.parties:
        state = "keys pinned" if party in pinned else "NOT PINNED"
        typer.echo(f"party: {party.party} (station {party.station})  [{state}]")
        typer.echo(f"  fingerprint {party.fingerprint().hex()}")
    for line in lines:
        typer.echo(f"  {line}")
    if not verified:
        typer.echo(
            "to verify, pin each party's keys from a source you trust: --keys FILE (from "
            "'backchannel keys export' at that party), --keys https://STATION/.well-known/"
            "backchannel/keys, or --fingerprint HEX read out by the party"
        )
    if manifest.statement:
        typer.echo(f"\nstatement:\n{manifest.statement}")
    for n, t in enumerate(manifest.texts, 1):
        typer.echo(f"\n[{n}] {t.mode} text of item {t.item_hash.hex()[:16]}:\n{t.text}")


def _keys_from(source: str) -> bytes:
    """A keys document from a file or an https URL (TLS-authenticated, size-capped)."""
    if source.startswith("http://"):
        raise BundleError("keys fetched over plain http prove nothing: use https or a file")
    if not source.startswith("https://"):
        return _read(Path(source), MAX_KEYS_BYTES)
    try:
        with httpx.stream("GET", source, timeout=KEYS_TIMEOUT, follow_redirects=False) as got:
            if got.status_code != 200:
                raise BundleError(f"{source} answered {got.status_code}")
            data = bytearray()
            for chunk in got.iter_bytes():
                data += chunk
                if len(data) > MAX_KEYS_BYTES:
                    raise BundleError(f"{source} sent more than {MAX_KEYS_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise BundleError(f"could not fetch {source}: {type(exc).__name__}") from None
    return bytes(data)


def _fingerprint(text: str) -> bytes:
    cleaned = text.replace(":", "").replace(" ", "").lower()
    try:
        value = bytes.fromhex(cleaned)
    except ValueError:
        value = b""
    if len(value) != 32:
        raise BundleError(f"a fingerprint is 64 hex digits, not {text[:80]!r}")
    return value


@keys_app.command("export")
def export(
    station: StationDir,
    out: Annotated[Path, typer.Option(help="Where to write the keys file.")] = Path("keys.json"),
) -> None:
    """Write this station's public keys (the same file as /.well-known/backchannel/keys)."""
    with opened(station) as s:
        data = keys_document(s.public_identity())
    out.write_bytes(data)
    typer.echo(f"public keys written to {out}")


def backup(
    station: StationDir,
    out: Annotated[Path, typer.Option(help="The backup file to write.")],
    item_keys: Annotated[
        Path | None,
        typer.Option(
            "--item-keys",
            help="Also copy the item keys here (kept apart, for a shorter time: "
            "docs/retention.md).",
        ),
    ] = None,
) -> None:
    """An encrypted copy of the archive (SQLite), readable only with the station key.

    The item keys are not in it: a backup's messages, documents and acknowledgements
    open only where their keys still are (docs/retention.md)."""
    if out.is_dir():
        fail(f"{out} is a folder: give the backup file's name, e.g. {out / 'station.backup'}")
    if not out.parent.is_dir():
        fail(f"cannot write {out}: there is no folder {out.parent}")
    with opened(station) as s:
        sealed = make_backup(s)
        door_of(s).noted(host_caller(), "backup", HOST, detail=str(out)[:200])
        if item_keys is not None:
            copy_item_keys(s, item_keys)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
        out.chmod(0o600)
    except OSError as exc:
        out.unlink(missing_ok=True)
        fail(f"cannot write {out}: {exc.strerror or exc}")
    typer.echo(
        f"encrypted backup written to {out} ({len(sealed)} bytes); "
        "it opens only with this station's key"
    )
    if item_keys is not None:
        typer.echo(f"item keys copied to {item_keys}; retire that copy on your key schedule")


def copy_item_keys(s: Station, target: Path) -> None:
    """The station's item keys (each sealed with a subkey of the station key), copied."""
    if target.exists():
        fail(f"{target} exists already; the item keys are copied to a new file")
    if not target.parent.is_dir():
        fail(f"cannot write {target}: there is no folder {target.parent}")
    make_private_file(target)
    s.item_keys.copy_to(target)
    door_of(s).noted(host_caller(), "backup item keys", HOST, detail=str(target)[:200])


def restore(
    station: StationDir,
    backup_file: Annotated[Path, typer.Argument(metavar="BACKUP", help="A file from 'backup'.")],
) -> None:
    """Put a backup of this station back in place (the station must be stopped).

    Every channel in it comes back closed: its keys are behind the counterpart's.
    Pair again with each counterpart to go on; the replaced database is kept.
    """
    data = _read(backup_file, MAX_BACKUP_BYTES)
    try:
        done = restore_backup(station, data, host_user())
    except (StationError, ConfigError) as exc:
        fail(str(exc))
    newest = "no items" if done.newest is None else f"items up to {when(done.newest)}"
    typer.echo(f"restored {station} from {backup_file} ({newest})")
    if done.kept.exists():
        typer.echo(f"the database it replaced is kept as {done.kept}")
    typer.echo(
        f"{done.closed} channel(s) closed: pair again with each counterpart to go on "
        "(backchannel invite / pair)"
    )


def _read(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    if len(data) > limit:
        fail(f"{path} is larger than {limit} bytes")
    return data


def _full_hash(entries: list[Entry], prefix: str) -> bytes:
    matches = [e.envelope_hash for e in entries if e.envelope_hash.startswith(prefix.lower())]
    if len(matches) != 1:
        fail(f"no single item of this channel has a hash starting with {prefix!r}")
    return bytes.fromhex(matches[0])
