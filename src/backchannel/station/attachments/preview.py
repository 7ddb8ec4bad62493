"""Previews: a file of an item rendered here as a PNG, to read without downloading it.

A PDF page (pdfium, by pypdfium2) or a PNG or JPEG image (Pillow) becomes a picture of
at most 2000 px a side, and only its pixels come back: the station encodes the PNG
itself from them, so no metadata, profile, text chunk or script of the file passes.
A hostile file meets its limits before it is decoded: at most 32 MiB, the first 20
pages, an image declaring at most 40 million pixels (read from its header), a page of
at most 100,000 objects whose images declare at most 100 million pixels in all, and a
page drawn at a scale whose bitmap fits the 2000 px square whatever size it declares.
What is left unbounded by those (a PDF whose streams unpack to gigabytes, a JPEG of a
thousand scans, a crash of pdfium) is held by the process the decoding runs in
(``confined.py``): its end costs the preview, never the station.  Nothing is
stored: a preview is rendered each time it is asked for (docs/attachments.md,
"Previews").
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from collections.abc import Iterable
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]
from PIL import Image, ImageOps

from backchannel.station.attachments import confined
from backchannel.station.core.errors import InvalidRequest

MIB = 1024 * 1024
KINDS = {"application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG"}
MAX_FILE_BYTES = 32 * MIB
MAX_PAGES = 20  # a preview shows one of the first 20 pages of a PDF
SIDE = 2000  # px: a preview fits in SIDE x SIDE (4 Mpx)
MAX_SCALE = 4.0  # px per point (288 dpi): a small page is not blown up past it
MAX_IMAGE_PIXELS = 40_000_000  # an image file, or one image a PDF page draws
MAX_PAGE_OBJECTS = 100_000
MAX_DRAWN_PIXELS = 100_000_000  # every image a page draws, together
SECONDS = confined.SECONDS  # a preview's time, from start to answer
_ALONE = {0xFF, 0x01, *range(0xD0, 0xD8)}  # JPEG: fill, TEM, RSTn
_SOF = {*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)}


def check(media_type: str, size: int, page: int) -> None:
    """Refuse, before the file is opened, what no preview is made of."""
    if media_type not in KINDS:
        raise InvalidRequest(
            f"a preview is made of PDF, PNG and JPEG files; this one is {media_type[:60]}: "
            "download it instead"
        )
    if size > MAX_FILE_BYTES:
        raise _too_large(size)
    if not 0 <= page < (MAX_PAGES if media_type == "application/pdf" else 1):
        raise InvalidRequest(
            f"a preview shows one of the first {MAX_PAGES} pages of a PDF (0 to "
            f"{MAX_PAGES - 1}); an image has page 0 only"
        )


def render(media_type: str, data: bytes | Iterable[bytes], page: int = 0) -> bytes:
    """The file (its bytes, or its chunks in order) rendered as a PNG of pixels only."""
    whole = _whole(data)
    check(media_type, len(whole), page)
    return _png(_in_child(media_type, page, whole))


def _whole(data: bytes | Iterable[bytes]) -> bytes:
    if isinstance(data, bytes):
        return data
    parts, size = [], 0
    for part in data:  # read no further than a preview takes, whatever the file says
        size += len(part)
        if size > MAX_FILE_BYTES:
            raise _too_large(size)
        parts.append(part)
    return b"".join(parts)


def _too_large(size: int) -> InvalidRequest:
    return InvalidRequest(
        f"a preview is made of files up to {MAX_FILE_BYTES // MIB} MiB; this one is "
        f"{size / MIB:.1f} MiB: download it instead"
    )


# -- the station's side: a child process, and the pixels it answers ----------------


def _in_child(media_type: str, page: int, data: bytes) -> bytes:
    try:
        answer = confined.run(__name__, [media_type, str(page)], data, seconds=SECONDS)
    except confined.TimedOut:
        raise InvalidRequest(
            f"this file takes more than {SECONDS} s to render: more than a preview renders"
        ) from None
    except confined.OverLimits:
        answer = b""
    if answer.startswith(b"refused "):
        line = answer[8:].decode("utf-8", "replace")
        raise InvalidRequest(" ".join(line.split())[:300])
    if not answer.startswith(b"pixels "):  # ended by its limits
        raise InvalidRequest(
            f"rendering this file went past a preview's limits "
            f"({confined.MEMORY_BYTES // MIB} MiB of memory, {SECONDS} s): no preview of it"
        )
    return answer


def _png(answer: bytes) -> bytes:
    """Check what the child answered, and encode its pixels; nothing else is kept."""
    head, _, raw = answer.partition(b"\n")
    match head.split():
        case [b"pixels", b"RGB" | b"RGBA" as mode, width, height] if (width + height).isdigit():
            w, h, depth = int(width), int(height), len(mode)
        case _:
            raise InvalidRequest("the preview could not be rendered")
    if not (0 < w <= SIDE and 0 < h <= SIDE and len(raw) == w * h * depth):
        raise InvalidRequest("the preview could not be rendered")
    out = io.BytesIO()
    Image.frombytes(mode.decode(), (w, h), raw).save(out, "PNG")
    return out.getvalue()


# -- the child's side: decode within the limits, answer the pixels ------------------


def run_child() -> None:
    """The rendering process (``confined.py``): its arguments are the media type and
    page, stdin the file; stdout ``pixels MODE W H`` and the pixels, or ``refused``."""
    (media_type, number), data = confined.confine()
    page = int(number)
    try:
        image = _page(data, page) if media_type == "application/pdf" else _image(data, media_type)
        answer = f"pixels {image.mode} {image.width} {image.height}\n".encode() + image.tobytes()
    except InvalidRequest as exc:
        answer = f"refused {exc}\n".encode()
    except MemoryError:
        limit = confined.MEMORY_BYTES // MIB
        answer = f"refused this file needs more than {limit} MiB to render\n".encode()
    except Exception:  # a decoder's own failure on a file it could not read
        answer = b"refused this file could not be rendered\n"
    confined.answer(answer)


def _image(data: bytes, media_type: str) -> Image.Image:
    kind = KINDS[media_type]
    _fits(*_declared(data, kind), "this image declares")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # Pillow's own guard too (one file here)
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as opened:
            _fits(*opened.size, "this image declares")
            opened.draft("RGB", (SIDE, SIDE))  # a JPEG decodes at 1/2 to 1/8 when enough
            image = ImageOps.exif_transpose(opened)  # upright as taken; the EXIF stays behind
            image.thumbnail((SIDE, SIDE))
            return _plain(image)
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError,
            Image.DecompressionBombError, Image.DecompressionBombWarning):  # fmt: skip
        raise InvalidRequest(f"this file could not be read as a {kind} image") from None


def _declared(data: bytes, kind: str) -> tuple[int, int]:
    """Width and height as the file's header declares them, before anything is decoded."""
    if kind == "PNG" and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    at = 2 if kind == "JPEG" and data[:2] == b"\xff\xd8" else len(data)
    while at + 9 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker in _ALONE:  # a fill byte, or a marker with no length
            at += 1 if marker == 0xFF else 2
            continue
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return int(width), int(height)
        if marker in (0xD9, 0xDA):  # the end, or the pixels, before any frame header
            break
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    raise InvalidRequest(f"this file could not be read as a {kind} image")


def _fits(width: int, height: int, what: str) -> None:
    if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
        raise InvalidRequest(
            f"{what} {width}x{height} pixels: more than a preview renders (at most "
            f"{MAX_IMAGE_PIXELS // 1_000_000} million)"
        )


def _page(data: bytes, number: int) -> Image.Image:
    try:
        with pdfium.PdfDocument(data) as pdf:
            return _drawing(pdf, number)
    except pdfium.PdfiumError:
        raise InvalidRequest("this file could not be read as a PDF, or it has a password") from None


def _drawing(pdf: Any, number: int) -> Image.Image:
    """Page ``number`` drawn at a scale that keeps its bitmap within the square."""
    count = len(pdf)
    if number >= count:
        raise InvalidRequest(f"this PDF has {count} page(s): no page {number} (from 0)")
    page = pdf[number]
    width, height = page.get_size()
    if not (width > 0 and height > 0 and math.isfinite(width * height)):
        raise InvalidRequest(f"page {number} of this PDF has no size")
    _drawn(page, number)
    # The bitmap is ceil(size x scale) a side: at most SIDE, whatever the page says.
    scale = min(MAX_SCALE, (SIDE - 0.5) / max(width, height))
    bitmap = page.render(scale=scale, bitmap_maker=_bitmap, may_draw_forms=False)
    return _plain(bitmap.to_pil().copy())


def _drawn(page: Any, number: int) -> None:
    """What the page draws, counted from its objects before any of it is decoded."""
    objects = pixels = 0
    for drawn in page.get_objects():
        objects += 1
        if objects > MAX_PAGE_OBJECTS:
            raise InvalidRequest(
                f"page {number} of this PDF draws more than {MAX_PAGE_OBJECTS} objects: "
                "more than a preview renders"
            )
        if drawn.type != pdfium.raw.FPDF_PAGEOBJ_IMAGE:
            continue
        try:
            width, height = drawn.get_px_size()
        except pdfium.PdfiumError:
            continue  # an image pdfium cannot size, it does not draw either
        _fits(width, height, f"page {number} of this PDF draws an image of")
        pixels += width * height
        if pixels > MAX_DRAWN_PIXELS:
            raise InvalidRequest(
                f"page {number} of this PDF draws images of more than "
                f"{MAX_DRAWN_PIXELS // 1_000_000} million pixels: more than a preview renders"
            )


def _bitmap(width: int, height: int, **options: Any) -> Any:
    if not (0 < width <= SIDE and 0 < height <= SIDE):  # the scale sees to it; checked anyway
        raise InvalidRequest("this page cannot be drawn within a preview's size")
    return pdfium.PdfBitmap.new_native(width, height, **options)


def _plain(image: Image.Image) -> Image.Image:
    """The pixels alone, in RGB, or RGBA where the image has transparency."""
    clear = image.mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in image.info
    return image.convert("RGBA" if clear else "RGB")
