"""How the CLI prints: one clear line per error, tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer

from backchannel.station.core.records import to_json


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    json.dump(to_json(value), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def plain(text: str) -> str:
    """A peer's text made safe for a terminal: control characters (an escape sequence
    could rewrite the screen) shown as '?', line breaks and tabs kept.  Format
    characters (the canary marks' zero-width ones) are not controls and stay."""
    return "".join("?" if unicodedata.category(c) == "Cc" and c not in "\n\t" else c
                   for c in text)  # fmt: skip
