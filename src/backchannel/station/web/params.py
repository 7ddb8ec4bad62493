"""The shapes of what officer routes take in their paths and queries, bounded.

Every id in a path has its pattern in the OpenAPI schema and is refused with a 422
before a handler runs; every number a client may send is bounded, so that no value
reaches the database that it cannot hold (a position past 2**63 used to be a 500).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel

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
OfficerFilter = Annotated[str | None, Query(max_length=64, description="Only this officer.")]
ItemFilter = Annotated[str | None, Query(pattern=HEX64, description="Only this item.")]


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
