"""Small files of every type a station takes by default, built here (nothing fetched)."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

from backchannel.cli.demo_files import pdf_of

PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffdb0043") + bytes(64) + b"\xff\xd9"
GEOJSON = json.dumps({
    "type": "FeatureCollection",
    "features": [{"type": "Feature", "properties": {"name": "corridor"},
                  "geometry": {"type": "LineString", "coordinates": [[30.5, 50.4], [30.6, 50.5]]}}],
}).encode()  # fmt: skip


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def opendocument(kind: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), f"application/vnd.oasis.opendocument.{kind}")
        z.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


def office(folder: str, main: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns='
                   '"http://schemas.openxmlformats.org/package/2006/content-types"/>')  # fmt: skip
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr(f"{folder}/{main}", "<document/>")
    return out.getvalue()


def every_type() -> dict[str, tuple[bytes, str]]:
    """File name -> (bytes, the media type a station must find in them)."""
    oxml = "application/vnd.openxmlformats-officedocument."
    odf = "application/vnd.oasis.opendocument."
    return {
        "letter.pdf": (PDF, "application/pdf"),
        "photo.png": (png(), "image/png"),
        "photo.jpg": (JPEG, "image/jpeg"),
        "note.txt": ("Привіт, світ\n".encode(), "text/plain"),
        "points.csv": (b"lat,lon\n50.4,30.5\n", "text/csv"),
        "corridor.geojson": (GEOJSON, "application/geo+json"),
        "minutes.odt": (opendocument("text"), odf + "text"),
        "table.ods": (opendocument("spreadsheet"), odf + "spreadsheet"),
        "slides.odp": (opendocument("presentation"), odf + "presentation"),
        "minutes.docx": (office("word", "document.xml"), oxml + "wordprocessingml.document"),
        "table.xlsx": (office("xl", "workbook.xml"), oxml + "spreadsheetml.sheet"),
        "slides.pptx": (office("ppt", "presentation.xml"), oxml + "presentationml.presentation"),
    }


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header declares ``width`` x ``height`` pixels (RGB):
    a decompression bomb, for whatever decodes it before looking at that header."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes(64 * 1024), 9)  # rows of zeros, as far as they go
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


def pdf_page(
    content: bytes = b"BT /F1 24 Tf 72 700 Td (Hello, preview) Tj ET",
    *,
    box: tuple[int, int] = (612, 792),
    content_filter: bytes = b"",
    image: bytes = b"",
    drawn: int = 1,
) -> bytes:
    """A one-page PDF drawing ``content`` on a page of ``box`` points, with Helvetica as
    /F1 and ``image`` (an image XObject's dictionary entries and stream) as /Im1; its
    cross-reference table is correct, so pdfium reads it without repairing it.  The page's
    contents are that one stream ``drawn`` times over (a PDF may name a stream again)."""
    width, height = box
    resources = b"/Font << /F1 4 0 R >>" + (b" /XObject << /Im1 6 0 R >>" if image else b"")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << %s >> "
        b"/Contents [%s] >>" % (width, height, resources, b" ".join([b"5 0 R"] * drawn)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        pdf_stream(content_filter, content),
    ]
    if image:
        objects.append(image)
    return pdf_of(objects, b"1.7")


def pdf_stream(entries: bytes, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (entries, len(data), data)
