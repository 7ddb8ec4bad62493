"""Filler items for the leak benchmark's large archives: routine traffic of a line.

Sentences are drawn from templates with fictional parties, places, figures and dates,
seeded, so the same ``n`` gives the same items on every machine.  Their embeddings
are computed once and cached in ``bench/.cache/`` (never committed): a cached file
is used only if it was made from the same texts (its name holds their digest).
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from pathlib import Path

import numpy as np

CACHE = Path(__file__).parent / ".cache"

_PARTIES = [
    "the Ministry of Defence",
    "the Joint Staff",
    "the Border Directorate",
    "the Naval Command",
    "the Air Operations Centre",
    "the Liaison Office",
    "the Delegation",
    "the Humanitarian Unit",
]
_PLACES = [
    "Varna Ridge",
    "the Osk valley",
    "Tellin",
    "the northern gulf",
    "Marrow Point",
    "Kessa",
    "the Drava crossing",
    "Hill 402",
    "the Lomen airfield",
    "Brask",
    "the eastern corridor",
    "the Selm estuary",
    "Port Aven",
    "the Tarn plateau",
    "Korvin",
    "the southern checkpoint",
]
_ACTIVITIES = [
    "a live-fire exercise",
    "a transport flight",
    "a convoy of {n} vehicles",
    "a demining operation",
    "a medical evacuation",
    "a maritime patrol",
    "a reconnaissance flight",
    "an engineering survey",
    "a rotation of {n} personnel",
    "a search and rescue drill",
    "the delivery of {n} tonnes of supplies",
]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_TEMPLATES = [
    "{P} informs the counterpart that {A} is planned near {L} from {d} to {e}.",
    "{P} acknowledges receipt of the notification concerning {A} near {L}.",
    "Please confirm by {d} whether the arrangements for {A} at {L} remain acceptable.",
    "{P} requests that the safety buffer around {L} be kept at {m} metres during {A}.",
    "The altitude band for {A} will be {m} to {k} metres above mean sea level.",
    "Contact on the day will be through the duty officer at {L}, reference {r}.",
    "{P} notes with concern the activity reported near {L} on {d}.",
    "No change is foreseen to the schedule agreed for {L} at the meeting of {d}.",
    "The {A} announced for {d} has been postponed to {e} owing to weather.",
    "{P} proposes that the next working meeting take place at {L} on {d}.",
]  # fmt: skip


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(_MONTHS)}"


def _reference(rng: random.Random) -> str:
    return f"{rng.randint(100, 999)}/{rng.randint(10, 99)}"


def _sentence(rng: random.Random) -> str:
    activity = rng.choice(_ACTIVITIES).format(n=rng.randint(3, 60))
    said = rng.choice(_TEMPLATES).format(
        P=rng.choice(_PARTIES), A=activity, L=rng.choice(_PLACES), d=_date(rng), e=_date(rng),
        m=rng.randint(1, 40) * 100, k=rng.randint(41, 90) * 100, r=_reference(rng),
    )  # fmt: skip
    return said[0].upper() + said[1:]


def texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(_sentence(rng) for _ in range(rng.randint(1, 3))) for _ in range(n)]


CACHED = 100_000  # the filler is made and cached at this size; smaller sets are its start


def embedded(n: int, embed: object, sentences: object) -> tuple[list[str], list[np.ndarray]]:
    """The first ``n`` filler texts and the vectors of each one's sentences (cached)."""
    items, vectors = _embedded(max(n, CACHED), embed, sentences)
    return items[:n], vectors[:n]


def _embedded(n: int, embed: object, sentences: object) -> tuple[list[str], list[np.ndarray]]:
    items = texts(n)
    digest = hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]
    path = CACHE / f"filler-{n}-{digest}.npz"
    said = [sentences(t) for t in items]  # type: ignore[operator]
    if path.exists():
        with np.load(path) as z:
            flat = z["vectors"]
    else:
        CACHE.mkdir(exist_ok=True)
        flat_text = [s for group in said for s in group]
        started, chunks = time.perf_counter(), []
        for i in range(0, len(flat_text), 4096):
            chunks.append(embed(flat_text[i : i + 4096]))  # type: ignore[operator]
            done = min(i + 4096, len(flat_text))
            rate = done / (time.perf_counter() - started)
            print(
                f"  embedding filler: {done}/{len(flat_text)} sentences ({rate:.0f}/s)",
                file=sys.stderr,
            )
        flat = np.concatenate(chunks)
        np.savez(path, vectors=flat)
    out, at = [], 0
    for group in said:
        out.append(flat[at : at + len(group)])
        at += len(group)
    return items, out
