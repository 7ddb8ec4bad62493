"""How the CLI prints: one clear line per error, tables for people, JSON for scripts."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import UTC, datetime
from typing import Any, NoReturn

import msgspec
import typer


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def to_json(value: Any) -> Any:
    """Plain JSON values for dataclasses, Structs, containers, bytes (hex) and dates."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    elif isinstance(value, msgspec.Struct):
        value = {name: getattr(value, name) for name in value.__struct_fields__}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def print_json(value: Any) -> None:
    json.dump(to_json(value), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
