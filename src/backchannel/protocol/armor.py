"""ASCII armour for invitations, so they travel as text files or in an e-mail body."""

from __future__ import annotations

import base64
import binascii
import textwrap

from .errors import RemoteProtocolError

BEGIN = "-----BEGIN BACKCHANNEL INVITATION-----"
END = "-----END BACKCHANNEL INVITATION-----"
MAX_ARMORED_CHARS = 32 * 1024


def armor(data: bytes) -> str:
    body = "\n".join(textwrap.wrap(base64.b64encode(data).decode(), 64))
    return f"{BEGIN}\n{body}\n{END}\n"


def dearmor(text: str) -> bytes:
    """The bytes inside the armour; a clear error for anything else."""
    if len(text) > MAX_ARMORED_CHARS:
        raise RemoteProtocolError("the invitation file is too large")
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != BEGIN or lines[-1] != END:
        raise RemoteProtocolError("not a backchannel invitation file (armour lines missing)")
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except binascii.Error:
        raise RemoteProtocolError("the invitation file is damaged (bad base64)") from None
