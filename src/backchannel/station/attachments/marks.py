"""Reader marks in files: each download of a PDF is its reader's own copy.

The station's copy is never changed (its digest is what both transcripts record).
What a reader downloads is that file re-written by qpdf (pikepdf) with the reader's
tag on each of its first pages, as text in invisible rendering mode, and in the
second half of the file's ``/ID``. The tag is a keyed MAC of the item, the file's
position and the reader's login under a key derived from the station key, so a copy
of the database alone neither makes nor reads one; the audit record of the download
names it (``mark <tag>``), and ``trace`` finds which reader's copy a file is.

What it survives is measured in ``bench/canary.py`` and said in docs/attachments.md:
copying and re-saving the file, and extracting its text; not printing, scanning,
screenshots or a conversion to images, which drop the invisible text layer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re

import pikepdf

from backchannel.protocol.kdf import derive_key
from backchannel.station.attachments import confined
from backchannel.station.attachments.text import text_of
from backchannel.station.core.errors import Busy

MARKED_TYPES = ("application/pdf",)
MAX_MARKED_BYTES = 32 * 1024 * 1024  # a larger PDF is downloaded as it was sent
MAX_MARKED_PAGES = 100
PREFIX = "bc-mark "
TAG = re.compile(r"bc-mark ([a-z2-7]{16})")


class Marks:
    def __init__(self, station_key: bytes) -> None:
        self.key = derive_key(station_key, "file-marks")

    def tag(self, item_hash: str, position: int, reader: str) -> str:
        """16 base32 characters (80 bits) naming one reader's copy of one file."""
        mac = hmac.new(self.key, f"{item_hash}|{position}|{reader}".encode(), hashlib.sha256)
        return base64.b32encode(mac.digest()[:10]).decode().lower()


def mark_pdf(data: bytes, tag: str) -> bytes | None:
    """The PDF with ``tag`` on its first pages and in its /ID; None if it cannot be
    marked (encrypted, damaged, past the limits of ``confined.py``): the caller serves
    it unmarked and says so."""
    try:
        answer = confined.run(__name__, ["mark", tag], data)
    except (confined.TimedOut, confined.OverLimits, Busy):
        return None
    return answer[7:] if answer.startswith(b"marked\n") else None


def tags_in(data: bytes) -> set[str]:
    """The tags a PDF carries: in its text layer, and in its /ID."""
    found = set(TAG.findall(text_of("application/pdf", data)))
    try:
        answer = confined.run(__name__, ["id"], data)
    except (confined.TimedOut, confined.OverLimits, Busy):
        return found
    if re.fullmatch(rb"[a-z2-7]{16}", answer):
        found.add(answer.decode())
    return found


def run_child() -> None:
    """The marking process: ``mark TAG`` answers the marked PDF, ``id`` the second
    half of its /ID; stdin the PDF."""
    args, data = confined.confine()
    try:
        answer = b"marked\n" + _marked(data, args[1]) if args[0] == "mark" else _second_id(data)
    except Exception:  # qpdf's own failure on a file it could not read
        answer = b""
    confined.answer(answer)


def _marked(data: bytes, tag: str) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        font = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica,
        ))  # fmt: skip
        for page in list(pdf.pages)[:MAX_MARKED_PAGES]:
            name = page.add_resource(font, pikepdf.Name.Font, prefix="BM")
            text = f"q BT 3 Tr {name} 1 Tf 1 0 0 1 2 2 Tm ({PREFIX}{tag}) Tj ET Q"
            page.contents_add(pikepdf.Stream(pdf, text.encode("ascii")), prepend=False)
        first = bytes(pdf.trailer.ID[0]) if "/ID" in pdf.trailer else tag.encode()
        pdf.trailer.ID = pikepdf.Array([pikepdf.String(first), pikepdf.String(tag.encode())])
        out = io.BytesIO()
        # Streams pass through as they are: nothing is decoded, so none can unpack.
        pdf.save(out, static_id=True, stream_decode_level=pikepdf.StreamDecodeLevel.none)
        return out.getvalue()


def _second_id(data: bytes) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        if "/ID" in pdf.trailer and len(pdf.trailer.ID) == 2:
            return bytes(pdf.trailer.ID[1])
    return b""
