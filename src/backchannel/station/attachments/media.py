"""What a file is, from its bytes: libmagic's answer, never the name's.

The name only narrows what the bytes already say: a text file named ``.csv`` is a
CSV table; JSON whose first bytes name a GeoJSON type is a GeoJSON map.  A file the
bytes call HTML, a script or an executable stays that, whatever its name, and a
station's allowed list (``attachments.allowed_types``) decides.
"""

from __future__ import annotations

import functools
import re

import magic

DETECT_BYTES = 64 * 1024  # libmagic's tests look at the start of a file
_GEOJSON = re.compile(
    rb'"type"\s*:\s*"(FeatureCollection|Feature|Point|MultiPoint|LineString|'
    rb'MultiLineString|Polygon|MultiPolygon|GeometryCollection)"'
)


@functools.cache
def _magic() -> magic.Magic:
    return magic.Magic(mime=True)  # from_buffer holds the instance's own lock


def detect(head: bytes, name: str) -> str:
    """The media type of a file that begins with ``head`` (its first chunk)."""
    found = str(_magic().from_buffer(head[:DETECT_BYTES])).lower()
    lower = name.lower()
    if found in ("application/json", "text/plain") and _GEOJSON.search(head[:DETECT_BYTES]):
        return "application/geo+json"
    if found == "text/plain" and lower.endswith(".csv"):
        return "text/csv"
    return found
