"""The words of attachments: found in every format that has them, bounded, and read
by leak scanning and archive search like an item's own text; and each reader's marked
copy of a PDF, traced when it is found outside."""

from __future__ import annotations

import io
import time
import zipfile
import zlib
from collections.abc import Iterator

import pikepdf
import pytest

from backchannel.cli.demo_files import corridor_geojson, letter_pdf
from backchannel.station.access.door import Door
from backchannel.station.access.policy import Officer
from backchannel.station.attachments.desk import AttachmentDesk
from backchannel.station.attachments.marks import mark_pdf
from backchannel.station.attachments.text import MAX_PART_BYTES, text_of
from backchannel.station.core.errors import Forbidden
from backchannel.station.leaks.desk import LeakDesk
from backchannel.station.service import Station

from .files import PDF, pdf_page, png
from .test_attachments_store import HOST, push, staged
from .test_store import deliver, paired_in_process

OXML = "application/vnd.openxmlformats-officedocument."
MEMO = [
    "Memorandum for the Minister",
    "The artillery of the second brigade would withdraw behind the Vessa by 3 June,",
    "provided that the observers of both sides are admitted at Tarn on the same day.",
]
PIA = Officer(4, "pia", "principal", frozenset())  # at bravo
NINA = Officer(5, "nina", "principal", frozenset({"negotiation"}))  # at bravo


def zipped(parts: dict[str, str | bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return out.getvalue()


def test_each_format_gives_the_words_a_person_reads() -> None:
    docx = zipped({"word/document.xml": "<w:document><w:body><w:p><w:r><w:t>Safe return"
                   "</w:t></w:r></w:p><w:p><w:r><w:t>of the crews &amp; ships</w:t></w:r></w:p>"
                   "</w:body></w:document>"})  # fmt: skip
    xlsx = zipped({"xl/sharedStrings.xml": "<sst><si><t>Tarn</t></si><si><t>Kessa</t></si></sst>"})
    pptx = zipped({f"ppt/slides/slide{n}.xml": f"<p:sld><a:p><a:t>slide {n}</a:t></a:p></p:sld>"
                   for n in (10, 2, 1)})  # fmt: skip
    odt = zipped({"mimetype": "application/vnd.oasis.opendocument.text",
                  "content.xml": "<text:p>Convoy at dawn</text:p>"})  # fmt: skip
    assert "withdraw behind the Vessa by 3 June" in text_of("application/pdf", letter_pdf(MEMO))
    assert text_of(f"{OXML}wordprocessingml.document", docx) == "Safe return\nof the crews & ships"
    assert text_of(f"{OXML}spreadsheetml.sheet", xlsx).split() == ["Tarn", "Kessa"]
    assert text_of(f"{OXML}presentationml.presentation", pptx).split("\n") == [
        "slide 1", "slide 2", "slide 10"]  # fmt: skip
    assert text_of("application/vnd.oasis.opendocument.text", odt) == "Convoy at dawn"
    assert "Tarn checkpoint" in text_of("application/geo+json", corridor_geojson())
    assert text_of("text/csv", b"lat,lon\n46.6,31.4\n") == "lat,lon\n46.6,31.4\n"
    assert text_of("image/png", png()) == ""  # its words are pixels


def test_a_zip_bomb_or_a_broken_file_yields_bounded_text_or_none() -> None:
    bomb = zipped({"word/document.xml": b"<w:t>" + b"A" * (200 * MAX_PART_BYTES // 8)})
    assert len(bomb) < 2 * 1024 * 1024  # 200 MiB of text in a file of kilobytes
    began = time.monotonic()
    words = text_of(f"{OXML}wordprocessingml.document", bomb)
    assert len(words) <= 200_000 and time.monotonic() - began < 5  # read to its bound only
    assert text_of("application/pdf", PDF[:40]) == ""
    spaces = zlib.compress(b" " * (16 << 20) + b"BT /F1 24 Tf 72 700 Td (x) Tj ET ", 9)
    pdf_bomb = pdf_page(spaces, content_filter=b"/Filter /FlateDecode", drawn=64)
    began = time.monotonic()  # 1 GiB of page contents: pdfium's process ends, not ours
    assert text_of("application/pdf", pdf_bomb) == "" and time.monotonic() - began < 25
    marked = mark_pdf(pdf_bomb, "a" * 16)  # qpdf passes its streams through undecoded
    assert marked is None or len(marked) < 2 * len(pdf_bomb)
    assert text_of(f"{OXML}wordprocessingml.document", b"PK\x03\x04 not a zip") == ""


@pytest.fixture(scope="module")
def stations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Station, Station]]:
    a, b = paired_in_process(tmp_path_factory.mktemp("texts"))
    yield a, b
    a.close()
    b.close()


def sent_file(a: Station, b: Station, data: bytes, name: str, labels: tuple[str, ...] = ()) -> str:
    entry = AttachmentDesk(Door(a), a.attachments).send(
        HOST, a.resolve(None), "test", (staged(a, data, name),), text="The memo, attached.",
        to_role="principal", from_role="officer", clearances=labels,
    )  # fmt: skip
    deliver(a, b)
    push(a, b)
    return entry.envelope_hash


def test_a_leaked_document_is_found_by_the_scan_and_search_like_a_message(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    item_hash = sent_file(a, b, letter_pdf(MEMO), "memo.pdf")
    leak = (
        "<html><body><article><h1>Leaked memo</h1><p>The document says the artillery of "
        "the second brigade would withdraw behind the Vessa by 3 June, provided that the "
        "observers of both sides are admitted at Tarn on the same day.</p></article></body></html>"
    )
    desk = LeakDesk(Door(b), b.leaks)
    report = desk.scan(PIA, leak, "wire.html", "test")
    [found] = [d for d in report.scan.items if d.part == "attachment-0"]
    assert found.item_hash == item_hash and report.scan.violation
    said = report.shown[(found.channel_id, item_hash, "attachment-0")]
    assert any("withdraw behind the Vessa" in s for s in said)  # shown through the door
    hits = desk.search(PIA, "brigade withdraws behind the Vessa", "test")
    assert any(r.hit.item_hash == item_hash and "Vessa" in r.sentence for r in hits)


def test_a_file_under_a_label_is_found_only_by_those_cleared(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    words = "The prisoner lists are exchanged at the Brask crossing on the fourth of May."
    item_hash = sent_file(a, b, words.encode(), "lists.txt", ("negotiation",))
    desk = LeakDesk(Door(b), b.leaks)
    query = "prisoner lists exchanged at the Brask crossing"
    assert all(r.hit.item_hash != item_hash for r in desk.search(PIA, query, "test"))
    assert any(r.hit.item_hash == item_hash for r in desk.search(NINA, query, "test"))


def test_each_reader_downloads_a_marked_copy_and_a_copy_found_outside_is_traced(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    letter = letter_pdf(MEMO)
    item_hash = sent_file(a, b, letter, "memo.pdf")
    desk = AttachmentDesk(Door(b), b.attachments)
    copies = {}
    for reader in (PIA, NINA):
        got = desk.download(reader, b.resolve(None), item_hash, 0, "test")
        copies[reader.name] = b"".join(got.chunks)
        assert got.size == len(copies[reader.name]) and got.mark.startswith(", mark ")
        assert MEMO[1] in text_of("application/pdf", copies[reader.name])  # the letter still
    assert copies["pia"] != copies["nina"] and letter not in copies.values()
    [traced] = desk.trace(PIA, copies["nina"], "test")
    assert (traced.reader, traced.item_hash, traced.name) == ("nina", item_hash, "memo.pdf")
    resaved = io.BytesIO()  # re-saved by another tool, with a fresh /ID
    with pikepdf.open(io.BytesIO(copies["pia"])) as pdf:
        del pdf.trailer.ID
        pdf.save(resaved)
    assert [t.reader for t in desk.trace(PIA, resaved.getvalue(), "test")] == ["pia"]
    assert desk.trace(PIA, letter, "test") == []  # the file as sent carries no reader's mark
    with pytest.raises(Forbidden):
        desk.trace(Officer(7, "rita", "reader", frozenset()), copies["pia"], "test")
    records = [r.record for r in b.audit.show(item_hash=bytes.fromhex(item_hash))]
    assert sum(r.action == "download" for r in records) == 2
