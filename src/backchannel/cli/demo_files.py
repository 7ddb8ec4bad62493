"""The demo's files: a one-page letter as PDF and a GeoJSON map, made here (nothing
fetched), small enough to read in a terminal and real enough for libmagic."""

from __future__ import annotations

import json


def letter_pdf(lines: list[str]) -> bytes:
    """A one-page PDF of ``lines`` in Helvetica, with a correct cross-reference table."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    shown = "".join(f"({line}) Tj T* " for line in escaped)
    stream = f"BT /F1 12 Tf 16 TL 72 720 Td {shown}ET".encode("latin-1")
    return pdf_of(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        ]
    )


def pdf_of(objects: list[bytes], version: bytes = b"1.4") -> bytes:
    """A PDF of these objects (numbered from 1, the first the catalogue), with a
    correct cross-reference table, so that a reader need not repair it."""
    out = bytearray(b"%PDF-" + version + b"\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        table,
    )
    return bytes(out)


def corridor_geojson() -> bytes:
    """The humanitarian corridor as both sides drew it: a line and its two ends."""
    road = [[31.40, 46.60], [31.55, 46.63], [31.70, 46.61]]
    features = [
        {"type": "Feature", "properties": {"name": "river road corridor", "width_m": 1000},
         "geometry": {"type": "LineString", "coordinates": road}},
        {"type": "Feature", "properties": {"name": "Tarn checkpoint"},
         "geometry": {"type": "Point", "coordinates": road[0]}},
        {"type": "Feature", "properties": {"name": "Kessa checkpoint"},
         "geometry": {"type": "Point", "coordinates": road[-1]}},
    ]  # fmt: skip
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=1).encode()
