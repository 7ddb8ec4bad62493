"""Padding to size buckets, so that a length on the wire says little about its content.

Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
Communication with PURBs", PETS 2019): a length L is rounded up so that only its top
``floor(log2(floor(log2 L))) + 1`` bits may be non-zero.  It costs at most 12% (less
as L grows) and leaves O(log log L) bits of the length visible, where powers of two
leave the same number of bits but cost up to 100%.  Below ``FLOOR`` everything is one
bucket: a short answer, a filler and an acknowledgement-sized item look the same.
"""

from __future__ import annotations

FLOOR = 1024  # the smallest envelope or batch on the wire, in bytes


def padme(length: int) -> int:
    """``length`` rounded up to its Padmé bucket."""
    if length < 2:
        return length
    exponent = length.bit_length() - 1  # floor(log2 L)
    kept = exponent.bit_length()  # floor(log2 E) + 1 bits of L stay
    mask = (1 << (exponent - kept)) - 1
    return (length + mask) & ~mask


def bucket(length: int) -> int:
    """The size on the wire of something ``length`` bytes long."""
    return padme(max(length, FLOOR))
