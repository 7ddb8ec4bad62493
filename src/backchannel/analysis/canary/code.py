"""The code: which form each reader is shown at each position, and how a copy is scored.

Every slot bit has a bias ``p`` drawn from the arcsine distribution cut to
``[CUTOFF, 1 - CUTOFF]``, and each reader is shown the other form with probability
``p``: the symmetric Tardos code.  The sites are too few for Tardos' collusion bound
to be reachable (a few bits per hundred words), so their bias is 1/2, which gives a
lone copier the highest expected score per bit; the same score and threshold apply.  Both come
from a keyed PRF (HMAC-SHA-256 expanded with SHAKE-256): the bias from (key, item,
part), the reader's forms from (key, item, part, reader).  A rendering is therefore
reproducible from the audit record that names the reader and the item, and nobody
without the key can tell which form a reader was given.

A copy is scored per reader with the symmetric Tardos score.  An innocent reader's
forms are independent of the copy, so their score is a sum of independent terms of
mean zero whose two values and odds are known at each position; the threshold is
the Chernoff bound on that sum at the false-accusation probability asked for.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

CUTOFF = 0.15
VERSION = "v1"
_LOW = math.asin(math.sqrt(CUTOFF))
_SPAN = math.pi / 2 - 2 * _LOW
_LAMBDAS = np.array([0.02 * 1.15**k for k in range(48)])[:, None]  # Chernoff exponents tried

Floats = npt.NDArray[np.float64]
Bits = npt.NDArray[np.int8]


def _uniform(key: bytes, label: str, *parts: bytes | str, n: int) -> Floats:
    seed = hmac.new(key, label.encode(), hashlib.sha256)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        seed.update(len(data).to_bytes(4, "big") + data)
    raw = np.frombuffer(hashlib.shake_256(seed.digest()).digest(2 * n), dtype=">u2")
    return (raw.astype(np.float64) + 0.5) / 65536


@functools.lru_cache(maxsize=4096)
def biases(key: bytes, item: bytes, part: str, n: int, even: int = 0) -> Floats:
    """The bias of each of the ``n`` positions of one part of one item (read-only);
    the first ``even`` (the sites) are even odds: see ``docs/canary.md``."""
    p = np.sin(_LOW + _uniform(key, "bias", item, part, n=n) * _SPAN) ** 2
    p[:even] = 0.5
    p.flags.writeable = False
    return p


@functools.lru_cache(maxsize=65536)
def bits(key: bytes, item: bytes, part: str, reader: str, n: int, even: int = 0) -> Bits:
    """The reader's form (0 as written, 1 the other) at each of the ``n`` positions."""
    p = biases(key, item, part, n, even)
    x = _uniform(key, "reader", item, part, reader, n=n) < p
    out = x.astype(np.int8)
    out.flags.writeable = False
    return out


def variant(key: bytes, item: bytes, reader: str) -> str:
    """The name of a reader's variant of an item, as the audit record gives it."""
    tag = hmac.new(key, b"variant" + item + reader.encode(), hashlib.sha256).hexdigest()[:12]
    return f"canary {VERSION} {tag}"


def _terms(y: Bits, p: Floats) -> tuple[Floats, Floats, Floats]:
    """Per position: the chance an innocent shows what the copy shows, and the score
    term when they do and when they do not."""
    q = np.where(y == 1, p, 1 - p)
    return q, np.sqrt((1 - q) / q), -np.sqrt(q / (1 - q))


def scores(y: Bits, x: npt.NDArray[np.int8], p: Floats) -> Floats:
    """Symmetric Tardos scores of readers' forms ``x`` (readers x positions) against ``y``."""
    _q, agree, differ = _terms(y, p)
    out: Floats = np.where(x == y, agree, differ).sum(axis=-1)
    return out


def threshold(y: Bits, p: Floats, alpha: float) -> float:
    """The score an innocent reader passes with probability at most ``alpha``.

    P(S >= Z) <= exp(-lambda Z) * prod E[exp(lambda term)] for every lambda > 0; the
    smallest Z over the lambdas tried.
    """
    if len(y) == 0:
        return math.inf
    q, agree, differ = _terms(y, p)
    u, v = _LAMBDAS * agree, _LAMBDAS * differ
    top = np.maximum(u, v)
    log_m = (top + np.log(q * np.exp(u - top) + (1 - q) * np.exp(v - top))).sum(axis=1)
    return float(np.min((log_m - math.log(alpha)) / _LAMBDAS[:, 0]))


def mean_guilty(p: Sequence[float] | Floats) -> float:
    """A lone copier's expected score per position (the copy is their own forms)."""
    arr = np.asarray(p, dtype=np.float64)
    return float(np.mean(2 * np.sqrt(arr * (1 - arr)))) if len(arr) else 0.0
