"""The channel core: sans-I/O, bytes in and events out.

Nothing here opens a socket, a file or a database, or starts a thread: time comes
in as ``now`` arguments, randomness through an injectable ``rng`` (Olm and
ML-KEM draw their own from the operating system), and state leaves as sealed
snapshots that the caller persists.  Read ``docs/protocol.md`` for the design.

- :mod:`.identity` a station's long-term keys and the safety number
- :mod:`.pairing` invitation, acceptance, confirmation
- :mod:`.channel` ``send_item`` / ``receive`` / ``ack`` / ``snapshot``
- :mod:`.items` typed items and their open registry
- :mod:`.wire`, :mod:`.outer`, :mod:`.transcript` the layers underneath
"""

from . import release as release  # registers the release item types
from .attachments import Document
from .channel import Channel, SentEnvelope
from .errors import AuthenticationFailed, LocalProtocolError, ProtocolError, RemoteProtocolError
from .events import (
    ChannelActive,
    CheckpointMatched,
    Delivered,
    DuplicateReceived,
    EnvelopeHeld,
    EpochRenewed,
    Event,
    ForkDetected,
    HeldEnvelopeDiscarded,
    ItemReceived,
    PeerConfirmed,
)
from .identity import Identity, PublicIdentity, safety_number
from .items import Ack, Checkpoint, Item, Message, PairingConfirm, TlsPins, register_item_type
from .outer import ChannelPolicy
from .pairing import (
    Acceptance,
    PendingInvitation,
    SignedInvitation,
    accept_invitation,
    complete_pairing,
    create_invitation,
)
from .states import Pairing
from .wire import VERSION, envelope_hash

__all__ = [
    "VERSION",
    "Acceptance",
    "Ack",
    "AuthenticationFailed",
    "Channel",
    "ChannelActive",
    "ChannelPolicy",
    "Checkpoint",
    "CheckpointMatched",
    "Delivered",
    "Document",
    "DuplicateReceived",
    "EnvelopeHeld",
    "EpochRenewed",
    "Event",
    "ForkDetected",
    "HeldEnvelopeDiscarded",
    "Identity",
    "Item",
    "ItemReceived",
    "LocalProtocolError",
    "Message",
    "Pairing",
    "PairingConfirm",
    "PeerConfirmed",
    "PendingInvitation",
    "ProtocolError",
    "PublicIdentity",
    "RemoteProtocolError",
    "SentEnvelope",
    "SignedInvitation",
    "TlsPins",
    "accept_invitation",
    "complete_pairing",
    "create_invitation",
    "envelope_hash",
    "register_item_type",
    "safety_number",
]
