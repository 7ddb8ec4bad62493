"""Errors raised by the channel core, split by who is to blame.

Drivers map ``LocalProtocolError`` (our caller misused the core) to a 5xx or a
programming error, and ``RemoteProtocolError`` (the peer or the network sent
something wrong) to a 4xx.  Every failure to authenticate incoming bytes is the
same ``AuthenticationFailed`` with the same message, whichever layer noticed it,
so an attacker learns nothing from the answer.
"""


class ProtocolError(Exception):
    """Base of every error the protocol core raises."""


class LocalProtocolError(ProtocolError):
    """The caller asked for something the protocol does not allow now."""


class RemoteProtocolError(ProtocolError):
    """The bytes that came in are not acceptable; no state was changed."""


class ConflictingEnvelope(RemoteProtocolError):
    """A different envelope at a position already processed, that does not open."""


class AuthenticationFailed(RemoteProtocolError):
    """Incoming bytes failed authentication (uniform for every layer)."""

    def __init__(self) -> None:
        super().__init__("authentication failed")
