"""A station's data folder: its settings file and the station key kept beside it.

The folder holds ``station.json`` (names, URL, port, database URL) and, unless the
key comes from ``BACKCHANNEL_STATION_KEY``, ``station.key``: 32 random bytes in hex,
created with mode 0600.  The key seals every secret in the database, so a copy of the
database without the key decrypts nothing.  Keep the key out of database backups.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, IPvAnyAddress, ValidationError, field_validator

from backchannel.protocol import languages
from backchannel.store import sqlite_url

CONFIG_FILE = "station.json"
KEY_FILE = "station.key"
KEY_ENV = "BACKCHANNEL_STATION_KEY"
DATABASE_FILE = "station.db"
KEY_BYTES = 32


PRIVATE_FOLDER, PRIVATE_FILE = 0o700, 0o600
DATABASE_FILES = (DATABASE_FILE, DATABASE_FILE + "-wal", DATABASE_FILE + "-shm")


class ConfigError(Exception):
    """The data folder, its settings or its key are missing or wrong."""


def make_private_folder(folder: Path) -> None:
    """The station's folder, created (or narrowed) to its owner alone."""
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    folder.chmod(PRIVATE_FOLDER)


def make_private_file(path: Path) -> None:
    """An empty file only its owner may read, before anything writes to it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    path.chmod(PRIVATE_FILE)


def check_private(folder: Path) -> None:
    """Refuse a station folder, settings or database file that others may open.

    The database holds only sealed content, but names the tables, counts the rows
    and times every item; the folder also holds the key (unless it comes from the
    environment).  So all of it is its owner's alone, checked at every start.
    """
    if folder.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{folder} is open to others; run: chmod 700 {folder}")
    for name in (CONFIG_FILE, *DATABASE_FILES):
        path = folder / name
        if path.exists() and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path} is readable by others; run: chmod 600 {path}")


class ActivityKind(BaseModel):
    """A kind of activity a notification may announce, and what it must say."""

    min_notice_hours: float = Field(default=24.0, ge=0, le=90 * 24)
    fields: list[str] = Field(default_factory=list, max_length=16)  # details it requires


def _kinds() -> dict[str, ActivityKind]:
    """The humanitarian systems' lead times for movements (48 h) and a day for the rest."""
    return {
        "flight": ActivityKind(min_notice_hours=24, fields=["callsign", "aircraft"]),
        "convoy": ActivityKind(min_notice_hours=48, fields=["route", "vehicles"]),
        "demining": ActivityKind(min_notice_hours=72, fields=["team"]),
        "exercise": ActivityKind(min_notice_hours=72, fields=["units"]),
        "humanitarian-movement": ActivityKind(
            min_notice_hours=48, fields=["route", "vehicles", "personnel", "markings"]
        ),
    }


MIB = 1024 * 1024
# What a station takes by default (docs/attachments.md): documents, images, tables, maps.
ALLOWED_MEDIA_TYPES = [
    "application/pdf", "image/png", "image/jpeg", "text/plain", "text/csv",
    "application/geo+json",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
]  # fmt: skip


class AttachmentLimits(BaseModel):
    """What files this station sends and takes (docs/attachments.md)."""

    max_file_bytes: int = Field(default=100 * MIB, ge=1, le=1024 * MIB)
    max_item_bytes: int = Field(default=100 * MIB, ge=1, le=1024 * MIB)  # all of one item's
    channel_quota_bytes: int = Field(default=10 * 1024 * MIB, ge=0)  # received, per channel
    allowed_types: list[str] = Field(default_factory=lambda: list(ALLOWED_MEDIA_TYPES),
                                     max_length=64)  # fmt: skip


class Deconfliction(BaseModel):
    """Incident prevention at this station (docs/incidents.md)."""

    kinds: dict[str, ActivityKind] = Field(default_factory=_kinds, max_length=64)
    # Footprints this close meet as a warning (carried in each notification: a pair
    # uses the larger of its two, so both stations compute the same).
    warning_m: int = Field(default=2000, ge=0, le=100_000)
    max_vertices: int = Field(default=10_000, ge=4, le=10_000)
    max_area_km2: float = Field(default=250_000.0, gt=0, le=250_000.0)


# A name for logs, files and the counterpart's lists, as `init` accepts it.
STATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def preferred_languages(tags: list[str]) -> list[str]:
    """Languages in order of preference, each known and named once (ValueError if not)."""
    found = [languages.known(tag) for tag in tags]
    if len({t.lower() for t in found}) != len(found):
        raise ValueError("each preferred language is named once")
    return found


def field_error(exc: ValidationError, names: dict[str, str] | None = None) -> str:
    """The first error of a validation in one line, naming the field (as ``names`` calls
    it, e.g. the CLI's option) and what is allowed."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the settings"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{(names or {}).get(where, where)}: {message}"


class StationConfig(BaseModel):
    party: str = Field(min_length=1, max_length=100)
    # What `init` accepts is narrower (STATION_NAME); a counterpart's may be anything.
    station: str = Field(min_length=1, max_length=100)
    public_url: str = Field(min_length=1, max_length=2048)

    @field_validator("public_url")
    @classmethod
    def _an_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("give an http:// or https:// URL with a host")
        return value

    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=1, le=65535)
    database_url: str | None = None
    # Where overdue items are posted as JSON (no content), if anywhere.
    webhook_url: str | None = Field(default=None, max_length=2048)
    # Reverse proxies in front of `serve` (IP addresses): only their X-Forwarded-For
    # and X-Forwarded-Proto are believed.  Empty: the socket's address is the client.
    trusted_proxies: list[IPvAnyAddress] = Field(default_factory=list, max_length=32)
    # Whether a counterpart's endpoint may be a loopback or private address (a test
    # bed, a demo on one host, a private network between the ministries).
    allow_private_endpoints: bool = False
    # Whether `leaks scan` may fetch a URL on a loopback or private address (tests, an
    # intranet mirror of a news site).
    allow_private_sources: bool = False
    deconfliction: Deconfliction = Field(default_factory=Deconfliction)
    attachments: AttachmentLimits = Field(default_factory=AttachmentLimits)
    # What the counterpart is told of who sent an item: the sending officer's display
    # name beside the role ("name"), or the role alone ("role").
    share_names: Literal["name", "role"] = "role"
    # Whether what is shown before signing in (the sign-in page, an error page) names
    # the party and the station.  Off: an anonymous visitor learns only that this is a
    # backchannel station.  (The keys document names them, public by choice.)
    name_before_sign_in: bool = False
    # TLS: the certificate and key `serve` presents (paths; none: plain HTTP, or TLS
    # from a proxy in front), and the pins of every key the counterpart may see at
    # public_url (SHA-256 of the public key, hex), which go into each invitation and
    # acceptance and are changed on every channel by `backchannel tls announce`.
    tls_cert: str | None = Field(default=None, max_length=4096)
    tls_key: str | None = Field(default=None, max_length=4096)
    tls_pins: list[str] = Field(default_factory=list, max_length=4)
    # Witnessed audit heads (docs/station.md): our trail's head goes to each
    # counterpart once per slot of this many hours (when it moved; 0: never), rounded
    # down to a multiple of the step, so the counterpart learns the count roughly.
    audit_witness_hours: float = Field(default=6.0, ge=0, le=7 * 24)
    audit_witness_step: int = Field(default=64, ge=1, le=1 << 16)
    # The languages this station's officers read first, most preferred first (BCP 47):
    # the door shows the text of an item in several languages in the first of these it
    # has, unless an officer set their own (docs/languages.md).
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1, max_length=8)

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        return preferred_languages(value)

    @field_validator("tls_pins")
    @classmethod
    def _pins_are_digests(cls, value: list[str]) -> list[str]:
        if any(not re.fullmatch(r"[0-9a-f]{64}", pin) for pin in value):
            raise ValueError("each pin is the SHA-256 of a public key: 64 lower-case hex digits")
        if len(set(value)) != len(value):
            raise ValueError("the pins are distinct")
        return value

    def pins(self) -> tuple[bytes, ...]:
        return tuple(bytes.fromhex(pin) for pin in self.tls_pins)

    def database(self, folder: Path) -> str:
        return self.database_url or sqlite_url(folder / DATABASE_FILE)

    def save(self, folder: Path) -> None:
        """Write station.json, readable by its owner only (it names the party)."""
        path = folder / CONFIG_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.model_dump_json(indent=2) + "\n")
        path.chmod(PRIVATE_FILE)  # an existing file keeps its mode through O_CREAT

    @classmethod
    def load(cls, folder: Path) -> StationConfig:
        path = folder / CONFIG_FILE
        if not path.is_file():
            raise ConfigError(f"{folder} is not a station folder (no {CONFIG_FILE}); run init")
        check_private(folder)
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError as exc:
            raise ConfigError(f"{path} is not valid: {field_error(exc)}") from None


def create_key(folder: Path) -> None:
    """Write a new station key readable by its owner only (unless the env var provides one)."""
    if os.environ.get(KEY_ENV):
        load_key(folder)  # validate it
        return
    path = folder / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; refusing to overwrite a station key") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(os.urandom(KEY_BYTES).hex() + "\n")


def load_key(folder: Path) -> bytes:
    """The station key, from the environment or from the 0600 key file."""
    text = os.environ.get(KEY_ENV)
    source = KEY_ENV
    if not text:
        path = folder / KEY_FILE
        if not path.is_file():
            raise ConfigError(f"no station key: neither {KEY_ENV} nor {path}")
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path} is readable by others; run: chmod 600 {path}")
        text, source = path.read_text(encoding="utf-8"), str(path)
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"the station key in {source} is not hex") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"the station key in {source} must be {KEY_BYTES} bytes")
    return key
