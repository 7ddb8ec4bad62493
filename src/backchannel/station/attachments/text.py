"""The text a person reads in a file, for leak scanning and search: bounded.

PDF: the text layer of its first pages (pdfium, in a child process with limits:
``confined.py``). Plain text, CSV and GeoJSON: the file
as UTF-8. Office (OOXML) and OpenDocument: the text of their main XML parts, each read
through a bounded decompression (a zip bomb yields its first bytes, not gigabytes),
tags dropped without an XML parser (no entity is ever expanded). Images: none (their
words are pixels). A file that cannot be read yields no text, never an error: the
file was checked whole and is kept; only its scanning is lost.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Iterable

import pypdfium2 as pdfium  # type: ignore[import-untyped]

from backchannel.station.attachments import confined
from backchannel.station.core.errors import Busy

MAX_TEXT_CHARS = 200_000  # what one file gives the index, at most
MAX_PART_BYTES = 8 * 1024 * 1024  # decompressed, per XML part of an Office file
MAX_PARTS = 64
MAX_PDF_PAGES = 50
PLAIN = ("text/plain", "text/csv", "application/geo+json")
OOXML = "application/vnd.openxmlformats-officedocument."
ODF = "application/vnd.oasis.opendocument."
# The parts that hold a document's words, by format.
_PARTS = re.compile(
    r"^(word/document\.xml|word/(header|footer|footnotes)\d*\.xml|xl/sharedStrings\.xml"
    r"|ppt/slides/slide\d+\.xml|content\.xml)$"
)
_BREAK = re.compile(r"</(w:p|a:p|text:p|text:h|si)>|<(text:line-break|w:br|w:tab)\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")


def has_text(media_type: str) -> bool:
    return media_type in (*PLAIN, "application/pdf") or media_type.startswith((OOXML, ODF))


def text_of(media_type: str, data: bytes) -> str:
    """The words in ``data`` (a file of ``media_type``, checked), at most MAX_TEXT_CHARS."""
    try:
        if media_type in PLAIN:
            text = data[: 4 * MAX_TEXT_CHARS].decode("utf-8", errors="replace")
        elif media_type == "application/pdf":
            text = _pdf(data)
        elif media_type.startswith((OOXML, ODF)):
            text = _office(data)
        else:
            return ""
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError):
        return ""
    return text[:MAX_TEXT_CHARS]


def _pdf(data: bytes) -> str:
    try:
        answer = confined.run(__name__, [], data)
    except (confined.TimedOut, confined.OverLimits, Busy):
        return ""
    return answer.decode("utf-8", errors="replace")


def run_child() -> None:
    """The reading process: stdin a PDF, stdout the words of its text layer."""
    _args, data = confined.confine()
    try:
        words = _pdf_words(data)
    except Exception:  # pdfium's own failure on a file it could not read: no words
        words = ""
    confined.answer(words.encode("utf-8", errors="replace"))


def _pdf_words(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    try:
        pages: list[str] = []
        for number in range(min(len(pdf), MAX_PDF_PAGES)):
            page = pdf[number]
            pages.append(page.get_textpage().get_text_range())
            if sum(len(p) for p in pages) >= MAX_TEXT_CHARS:
                break
        return "\n\n".join(pages).replace("\r\n", "\n")
    finally:
        pdf.close()


def _office(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = sorted((n for n in z.namelist() if _PARTS.match(n)), key=_reading_order)
        return "\n".join(_words(_bounded(z, name)) for name in names[:MAX_PARTS])


def _reading_order(name: str) -> tuple[str, int]:
    """Slides in their order (slide2 before slide10)."""
    digits = re.search(r"(\d+)\.xml$", name)
    return (re.sub(r"\d+\.xml$", "", name), int(digits.group(1)) if digits else 0)


def _bounded(z: zipfile.ZipFile, name: str) -> str:
    with z.open(name) as part:
        return part.read(MAX_PART_BYTES).decode("utf-8", errors="replace")


def _words(xml: str) -> str:
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", xml))).strip()


def joined(chunks: Iterable[bytes], limit: int) -> bytes | None:
    """The file's bytes if it is at most ``limit`` long, else None (not read further)."""
    out = bytearray()
    for chunk in chunks:
        out += chunk
        if len(out) > limit:
            return None
    return bytes(out)
