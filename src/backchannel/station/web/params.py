"""The shapes of what officer routes take in their paths and queries, bounded.

Every id in a path has its pattern in the OpenAPI schema and is refused with a 422
before a handler runs; every number a client may send is bounded, so that no value
reaches the database that it cannot hold (a position past 2**63 used to be a 500).
A page refuses a bad value in the station's own words: the value's name and what it
may be (``refusal``), never the validator's wording and never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from annotated_types import Ge, Le, MaxLen
from fastapi import Path, Query
from pydantic import BaseModel
from pydantic.fields import FieldInfo

HEX32, HEX64 = r"^[0-9a-f]{32}$", r"^[0-9a-f]{64}$"
LARGEST_POSITION = 2**62  # transcript positions and sequence numbers stay below this

ChannelId = Annotated[str, Path(pattern=HEX32, description="A channel's id (32 hex digits).")]
ItemHash = Annotated[str, Path(pattern=HEX64, description="An item's hash (64 hex digits).")]
RequestId = Annotated[str, Path(pattern=HEX32, description="A release request's id.")]
ProposalId = Annotated[str, Path(pattern=HEX32, description="A proposal's id.")]
After = Annotated[
    int, Query(ge=0, le=LARGEST_POSITION, description="Only items that arrived after this.")
]
ChannelFilter = Annotated[str | None, Query(pattern=HEX32, description="Only this channel.")]
Language = Annotated[
    str, Query(max_length=35, description="Show the text in this language first (BCP 47).")
]
OfficerFilter = Annotated[str | None, Query(max_length=64, description="Only this officer.")]
ItemFilter = Annotated[str | None, Query(pattern=HEX64, description="Only this item.")]
MAX_CLAUSE_ROWS = 50
ClauseRows = Annotated[
    int, Query(ge=1, le=MAX_CLAUSE_ROWS, description="How many clause rows the form has.")
]


class ErrorOut(BaseModel):
    """Every refusal of the officer API: one line saying why, never the input back."""

    error: str


_REFUSALS = {
    401: "No valid session or API token.",
    403: "The officer's role does not allow this, or a label they lack was asked for.",
    404: "No such channel, or no such item, request or proposal that the officer may see.",
    409: "Refused in the channel's or the item's present state.",
    413: "The request body is too large.",
    422: "A field, path or query value is not acceptable.",
    429: "Too many attempts; wait a while.",
    503: "The station is busy; try again in a moment.",
}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in _REFUSALS.items()
}


# What a pattern of ours asks for, in words.
PATTERNS = {HEX32: "32 hexadecimal digits (0-9, a-f)", HEX64: "64 hexadecimal digits (0-9, a-f)"}


def refusal(error: Mapping[str, Any], fields: Mapping[str, FieldInfo]) -> str:
    """One plain line for a value a page refuses: its name and what is allowed."""
    location = error.get("loc", ())
    name = str(location[-1]) if len(location) > 1 else "the request"
    if error.get("type") == "missing":
        return one_line(f"{name} is required")
    field = fields.get(name)
    return one_line(f"{name} must be {allowed(field)}" if field else f"{name} is not acceptable")


def allowed(field: FieldInfo) -> str:
    """What a field accepts, from its type and bounds ("a whole number from 1 to 50")."""
    bounds = {type(m): m for m in field.metadata}
    low, high = bounds.get(Ge), bounds.get(Le)
    if field.annotation is int:
        if isinstance(low, Ge) and isinstance(high, Le):
            return f"a whole number from {low.ge} to {high.le}"
        return f"a whole number of at least {low.ge}" if isinstance(low, Ge) else "a whole number"
    if field.annotation is bool:
        return "true or false"
    pattern = next((p for m in field.metadata if (p := getattr(m, "pattern", None))), None)
    if pattern is not None:
        return PATTERNS.get(pattern, "in the form this page gives it")
    longest = bounds.get(MaxLen)
    if isinstance(longest, MaxLen):
        return f"at most {longest.max_length} characters"
    return "a value this page gives"


def one_line(text: str) -> str:
    """A refusal as one line of words, however the check that raised it wrote it."""
    return " ".join(text.split())[:300]
