"""Previews: a file of an item drawn as a PNG at the station, bounded, audited, kept nowhere.

In process, over the two stations of test_attachments_store.py (SQLite and
PostgreSQL), and once through the web app's routes.  The bombs are small files built
here that declare, or unpack to, far more than a preview draws.
"""

from __future__ import annotations

import io
import os
import struct
import time
import zlib

import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin
from sqlalchemy import select

from backchannel.station.access.door import NO_ITEM
from backchannel.station.access.policy import Officer
from backchannel.station.app import create_app
from backchannel.station.attachments import preview as previews
from backchannel.station.core.errors import ChannelNotFound, InvalidRequest
from backchannel.station.service import Station
from backchannel.store.attachments import AttachmentChunkRow, AttachmentRow

from . import test_attachments_store as store
from .files import pdf_page, pdf_stream, png_declaring
from .test_attachments_store import HOST, desk, push, staged
from .test_store import deliver

stations = store.stations  # the same pair of stations, on SQLite and PostgreSQL
LABEL = "negotiation"
READER = Officer(7, "rex", "reader", frozenset())
CLEARED = Officer(8, "pia", "principal", frozenset({LABEL}))
SECRET = "secret-author-Kessa"


def shared(a: Station, b: Station, data: bytes, name: str, labels: tuple[str, ...] = ()) -> str:
    """A file sent from Alpha and whole at Bravo; its item's hash."""
    entry = desk(a).send(
        HOST, a.resolve(None), "test", (staged(a, data, name),), text="For reading.",
        to_role="principal", from_role="officer", clearances=labels,
    )  # fmt: skip
    deliver(a, b)
    push(a, b)
    return entry.envelope_hash


def shown(s: Station, item_hash: str, page: int = 0, officer: Officer = HOST) -> Image.Image:
    """The preview of an item's first file, as a browser would read it."""
    png = desk(s).preview(officer, s.resolve(None), item_hash, 0, "test", page=page)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png), formats=["PNG"])
    image.load()
    return image


def chunk_types(png: bytes) -> list[bytes]:
    at, kinds = 8, []
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kinds.append(png[at + 4 : at + 8])
        at += 12 + length
    return kinds


def kept(s: Station) -> tuple[list[tuple[str, str, int, float]], int]:
    """Every file row as it stands, and the number of chunks: what a preview must not change."""
    with s.db.reading() as session:
        rows = session.execute(
            select(AttachmentRow.attachment_id, AttachmentRow.state, AttachmentRow.held,
                   AttachmentRow.updated_at).order_by(AttachmentRow.attachment_id)
        )  # fmt: skip
        files = [(r[0], r[1], r[2], r[3]) for r in rows]
        chunks = len(list(session.scalars(select(AttachmentChunkRow.idx))))
    return files, chunks


def previews_of(s: Station, item_hash: str) -> list[tuple[str, str]]:
    entries = s.audit.show(item_hash=bytes.fromhex(item_hash))
    return [(e.record.officer, e.record.detail) for e in entries if e.record.action == "preview"]


def photo(kind: str, size: tuple[int, int], **saved: object) -> bytes:
    """An image of ``size`` pixels, red on the left and blue on the right."""
    image = Image.new("RGB", size, (200, 0, 0))
    image.paste((0, 0, 200), (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    image.save(out, kind, **saved)
    return out.getvalue()


def test_a_pdf_page_is_a_png_within_the_square(stations: tuple[Station, Station]) -> None:
    a, b = stations
    item_hash = shared(a, b, pdf_page(), "letter.pdf")
    page = shown(b, item_hash)
    assert page.size == (1546, 2000)  # a letter page, its long side at 2000 px
    darkest, _lightest = page.convert("L").getextrema()
    assert isinstance(darkest, int) and darkest < 100  # the text is drawn, dark on white
    assert shown(a, item_hash).size == page.size  # the sender's own copy previews too
    with pytest.raises(InvalidRequest, match=r"this PDF has 1 page\(s\): no page 3"):
        shown(b, item_hash, page=3)
    with pytest.raises(InvalidRequest, match="one of the first 20 pages"):
        shown(b, item_hash, page=20)
    small = shown(b, shared(a, b, pdf_page(box=(100, 50)), "card.pdf"))
    assert small.size == (400, 200)  # a small page is drawn at 4 px a point, no more


def test_images_are_drawn_again_from_their_pixels_alone(stations: tuple[Station, Station]) -> None:
    a, b = stations
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET)
    info.add_text("Comment", SECRET, zip=True)
    info.add_itxt("Description", SECRET)
    exif = Image.Exif()
    exif[0x010E] = SECRET  # ImageDescription
    exif[0x0112] = 6  # Orientation: taken on its side, to be turned 90 degrees right
    png = photo("PNG", (300, 200), pnginfo=info, icc_profile=SECRET.encode() * 8)
    jpeg = photo("JPEG", (300, 200), exif=exif.tobytes(), comment=SECRET,
                 icc_profile=SECRET.encode() * 8)  # fmt: skip
    for data, name, size in ((png, "map.png", (300, 200)), (jpeg, "photo.jpg", (200, 300))):
        assert SECRET.encode() in data
        item_hash = shared(a, b, data, name)
        out = desk(b).preview(HOST, b.resolve(None), item_hash, 0, "test")
        assert set(chunk_types(out)) == {b"IHDR", b"IDAT", b"IEND"}, name
        assert SECRET.encode() not in out and b"Exif" not in out
        image = Image.open(io.BytesIO(out))
        assert image.size == size and image.mode == "RGB" and not image.info, name
        # Red at the start, blue at the end: the photo turned upright has red on top.
        red, blue = image.getpixel((0, 0)), image.getpixel((size[0] - 1, size[1] - 1))
        assert isinstance(red, tuple) and isinstance(blue, tuple)
        assert red[0] > 150 > red[2] and blue[2] > 150 > blue[0], name
    big = shown(b, shared(a, b, photo("JPEG", (6000, 3000)), "wide.jpg"))
    assert big.size == (2000, 1000)


def test_a_decompression_bomb_image_is_refused_and_nothing_is_kept(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    bomb = png_declaring(100_000, 100_000)
    assert len(bomb) < 1024
    item_hash = shared(a, b, bomb, "map.png")
    before = kept(b)
    started = time.monotonic()
    with pytest.raises(InvalidRequest) as refused:
        shown(b, item_hash)
    assert str(refused.value) == (
        "this image declares 100000x100000 pixels: more than a preview renders (at most 40 million)"
    )
    assert time.monotonic() - started < 5
    assert kept(b) == before
    # The file opened for the officer even though nothing was drawn: audited, once.
    assert previews_of(b, item_hash) == [("host:test", "attachment 0 page 0")]
    # Under Pillow's own limit of 89 million, a JPEG whose frame header says 48 million.
    jpeg = bytearray(photo("JPEG", (64, 64)))
    frame = jpeg.index(b"\xff\xc0")
    jpeg[frame + 5 : frame + 9] = struct.pack(">HH", 6000, 8000)
    with pytest.raises(InvalidRequest, match="declares 8000x6000 pixels: more than a preview"):
        shown(b, shared(a, b, bytes(jpeg), "photo.jpg"))
    with pytest.raises(InvalidRequest, match="could not be read as a PNG image"):
        shown(b, shared(a, b, png_declaring(20, 10)[:40] + b"\x00" * 64, "cut.png"))
    assert kept(b)[1] > before[1]  # (the two files sent since are kept, as files are)


@pytest.fixture(scope="module")
def content_bomb() -> bytes:
    """17 KB of PDF whose page contents unpack to 1 GiB: a stream of 16 MiB of spaces,
    named 64 times."""
    spaces = zlib.compress(b" " * (16 << 20) + b"BT /F1 24 Tf 72 700 Td (x) Tj ET ", 9)
    return pdf_page(spaces, content_filter=b"/Filter /FlateDecode", drawn=64)


def test_a_pdf_bomb_is_drawn_within_the_square_or_refused_and_nothing_is_kept(
    stations: tuple[Station, Station], content_bomb: bytes
) -> None:
    a, b = stations
    huge = shown(b, shared(a, b, pdf_page(box=(10_000_000, 10_000_000)), "huge.pdf"))
    assert huge.size == (2000, 2000)  # a page of 3.5 km a side, drawn in the square
    image = pdf_stream(
        b"/Type /XObject /Subtype /Image /Width 100000 /Height 100000 /ColorSpace "
        b"/DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode",
        zlib.compress(bytes(1 << 20), 9),
    )
    drawing = pdf_page(b"q 612 0 0 792 0 0 cm /Im1 Do Q", image=image)
    item_hash = shared(a, b, drawing, "scan.pdf")
    before = kept(b)
    with pytest.raises(InvalidRequest) as refused:
        shown(b, item_hash)
    assert str(refused.value) == (
        "page 0 of this PDF draws an image of 100000x100000 pixels: more than a preview "
        "renders (at most 40 million)"
    )
    assert len(content_bomb) < 20_000
    item_hash = shared(a, b, content_bomb, "memo.pdf")
    before = kept(b)
    started = time.monotonic()
    with pytest.raises(InvalidRequest) as stopped:
        shown(b, item_hash)
    assert str(stopped.value) == (
        "rendering this file went past a preview's limits (1024 MiB of memory, 20 s): "
        "no preview of it"
    )
    assert time.monotonic() - started < previews.SECONDS
    assert kept(b) == before
    assert previews_of(b, item_hash) == [("host:test", "attachment 0 page 0")]
    assert shown(b, shared(a, b, pdf_page(), "after.pdf")).size == (1546, 2000)  # still here


def test_time_is_bounded_too(
    stations: tuple[Station, Station], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = stations
    item_hash = shared(a, b, pdf_page(), "letter.pdf")
    monkeypatch.setattr(previews, "SECONDS", 0.05)  # less than a process takes to start
    with pytest.raises(InvalidRequest, match=r"takes more than 0.05 s to render"):
        shown(b, item_hash)


def test_a_file_of_another_type_or_too_large_is_refused_before_it_is_opened(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    item_hash = shared(a, b, b"lat,lon\n50.4,30.5\n", "points.csv")
    with pytest.raises(InvalidRequest) as refused:
        shown(b, item_hash)
    assert str(refused.value) == (
        "a preview is made of PDF, PNG and JPEG files; this one is text/csv: download it instead"
    )
    image = shared(a, b, photo("PNG", (20, 10)), "map.png")
    with pytest.raises(InvalidRequest, match="an image has page 0 only"):
        shown(b, image, page=1)
    large = shared(a, b, pdf_page() + os.urandom(33 * 1024 * 1024 - 2000), "archive.pdf")
    with pytest.raises(InvalidRequest) as too_large:
        shown(b, large)
    assert str(too_large.value) == (
        "a preview is made of files up to 32 MiB; this one is 33.0 MiB: download it instead"
    )
    assert previews_of(b, item_hash) == previews_of(b, image) == previews_of(b, large) == []


def test_a_reader_without_the_clearance_is_told_what_a_missing_item_tells(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    item_hash = shared(a, b, pdf_page(), "terms.pdf", labels=(LABEL,))
    with pytest.raises(ChannelNotFound) as hidden:
        shown(b, item_hash, officer=READER)
    with pytest.raises(ChannelNotFound) as missing:
        shown(b, "ab" * 32, officer=READER)
    assert str(hidden.value) == str(missing.value) == NO_ITEM
    assert shown(b, item_hash, officer=CLEARED).size == (1546, 2000)
    shown(b, item_hash, page=0, officer=CLEARED)
    assert previews_of(b, item_hash) == [("pia", "attachment 0 page 0")] * 2  # once each


def test_the_routes_answer_a_png_shown_inline_in_a_sandbox(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    item_hash = shared(a, b, pdf_page(), "letter.pdf")
    bomb = shared(a, b, png_declaring(100_000, 100_000), "map.png")
    b.accounts.add("test", "test", "rea", role="reader", clearances=(), password="long enough pw")
    headers = {"authorization": f"Bearer {b.accounts.create_token('test', 'test', 'rea', 't')}"}
    files = f"/channels/{b.resolve(None)}/items/{item_hash}/attachments/0"
    with TestClient(create_app(b, deliver=False)) as client:
        got = client.get(f"/api/v1{files}/preview", headers=headers)
        page = client.get(f"{files}/preview", headers=headers, params={"page": 0})
        beyond = client.get(f"/api/v1{files}/preview", headers=headers, params={"page": 20})
        refused = client.get(f"/api/v1{files.replace(item_hash, bomb)}/preview", headers=headers)
        anonymous = client.get(f"/api/v1{files}/preview")
    assert got.status_code == 200 and got.content == page.content
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"] == 'inline; filename="preview.png"'
    assert "sandbox; default-src 'none'" in got.headers.get_list("content-security-policy")
    assert got.headers["cache-control"] == "no-store"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert Image.open(io.BytesIO(got.content)).size == (1546, 2000)
    assert beyond.status_code == 422
    assert refused.status_code == 422 and "declares 100000x100000 pixels" in refused.json()["error"]
    assert anonymous.status_code == 401
    assert previews_of(b, item_hash) == [("rea", "attachment 0 page 0")] * 2
