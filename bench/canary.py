"""Canary marks on the held-out corpus: who is named, who is not, and what marking costs.

The corpus (``bench/corpus/canary.json``) is fictional traffic written for this
benchmark by someone who had not seen the variation tables; its first
``TUNING`` items are the part the tables may be checked against, and the benchmark
runs on the rest only.  For every cell (attack x excerpt length x readers) it runs
``--trials`` trials: all ``n`` readers are shown an item, one (or two) leaks an
excerpt of their own copy, and ``backchannel.analysis.canary.attribute`` — the same
function the station calls — names suspects at the default false-accusation risk
(10^-3, corrected for the readers tested).

Attacks:
  verbatim   the copy pasted as rendered (invisible marks kept)
  retyped    invisible marks stripped, Unicode (NFKC), quotes and whitespace normalised
  edited     retyped, then 10% of the words deleted, replaced or doubled at random
  colluders  two readers' copies mixed position by position, then retyped
  several    three short items leaked together, retyped (excerpt length split among them)

Per cell: ``top1`` (the first suspect named is a leaker), ``insufficient`` (nobody
named), ``false`` (somebody innocent named).  Zero false accusations in 3,000 trials
bound the rate below 10^-3 with 95% confidence (the rule of three); every trial of
every cell is counted in ``false_accusation_trials``.

Marking cost: the time to mark a 300-word item for one reader, against the time to
HTML-escape the same text (what every page does to it anyway), in the same run.

Marks in files (``--files`` runs only this part and updates the results file): the
demo's letter, as a 10-page PDF, downloaded by ``FILE_READERS`` readers, each copy
then attacked: ``downloaded`` (the file as served), ``re-saved`` (rewritten by qpdf
with a fresh /ID), ``text`` (its text layer copied out, as select-all and paste
does), ``printed`` (each page rendered to pixels and put back in a PDF: what
printing and scanning, a screenshot or a conversion to images leave). Per attack,
the share of copies traced to their reader and the copies traced to another. Marking
cost: the time to mark a copy against the time qpdf takes to rewrite the same file,
in the same run.

Run: ``.venv/bin/python bench/canary.py [--trials N] [--seed S] [--files]``; writes
``bench/results/canary.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import statistics
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

import pikepdf
import pypdfium2 as pdfium  # type: ignore[import-untyped]
from markupsafe import escape

from backchannel.analysis import canary
from backchannel.analysis.canary import code
from backchannel.analysis.canary.layout import INVISIBLE, layout
from backchannel.analysis.canary.render import render
from backchannel.cli.demo_files import letter_pdf
from backchannel.station.attachments.marks import TAG, Marks, mark_pdf, tags_in
from backchannel.station.attachments.text import text_of

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "corpus" / "canary.json"
RESULTS = ROOT / "results" / "canary.json"
TUNING = 16  # c001..c016: the part the tables may be checked against
ATTACKS = ("verbatim", "retyped", "edited", "colluders", "several")
LENGTHS = (30, 100, 300)
READERS = (10, 100, 1000)
KEY = bytes(range(32))


def held_out() -> list[dict[str, str]]:
    items: list[dict[str, str]] = json.loads(CORPUS.read_text())["items"]
    return items[TUNING:]


def retype(text: str) -> str:
    text = "".join(c for c in text if c not in INVISIBLE)
    text = unicodedata.normalize("NFKC", text)
    text = text.translate({0x201C: '"', 0x201D: '"', 0x2018: "'", 0x2019: "'"})
    return re.sub(r"\s+", " ", text).strip()


def edit(text: str, rng: random.Random, share: float = 0.10) -> str:
    words = text.split()
    out = []
    for w in words:
        if rng.random() >= share:
            out.append(w)
            continue
        what = rng.randrange(3)
        if what == 1:
            out.append(rng.choice(words))
        elif what == 2:
            out += [w, w]
    return " ".join(out)


def excerpt(text: str, words: int, rng: random.Random) -> str:
    """``words`` consecutive words of a copy (cut at whitespace, marks kept)."""
    chunks = re.findall(r"\S+\s*", text)
    visible = [i for i, c in enumerate(chunks) if any(ch not in INVISIBLE for ch in c.strip())]
    if len(visible) <= words:
        return text
    start = rng.randrange(len(visible) - words + 1)
    return "".join(chunks[visible[start] : visible[start + words - 1] + 1]).strip()


def copy_of(item: dict[str, str], reader: str) -> str:
    return canary.mark(KEY, item["id"].encode(), "text", reader, item["text"])


def mixed(item: dict[str, str], a: str, b: str, rng: random.Random) -> str:
    """Two readers' copies mixed position by position: where they differ, either."""
    lay = layout(item["text"])
    n = lay.visible_bits + lay.invisible_bits
    xa = code.bits(KEY, item["id"].encode(), "text", a, n, lay.visible_bits).tolist()
    xb = code.bits(KEY, item["id"].encode(), "text", b, n, lay.visible_bits).tolist()
    return render(lay, [u if u == v else rng.choice((u, v)) for u, v in zip(xa, xb, strict=True)])


def part(item: dict[str, str], readers: list[str]) -> canary.Part:
    marked: dict[str, tuple[int, ...]] = {r: (i,) for i, r in enumerate(readers)}
    return canary.Part(item["id"].encode(), "text", item["text"], "en", marked)


def trial(
    attack: str, words: int, n: int, items: dict[str, list[dict[str, str]]], rng: random.Random
) -> tuple[set[str], canary.Report]:
    readers = [f"reader-{i:04d}" for i in range(n)]
    guilty = rng.sample(readers, 2 if attack == "colluders" else 1)
    if attack == "several":
        chosen = rng.sample(items["short"], 3)
        leak = " ".join(excerpt(copy_of(it, guilty[0]), words // 3, rng) for it in chosen)
        parts = [part(it, readers) for it in chosen]
        return set(guilty), canary.attribute(retype(leak), parts, KEY)
    pool = items["long"] if words >= 100 else items["any"]
    item = rng.choice(pool)
    if attack == "colluders":
        text = mixed(item, guilty[0], guilty[1], rng)
    else:
        text = copy_of(item, guilty[0])
    leak = excerpt(text, words, rng)
    if attack != "verbatim":
        leak = retype(leak)
    if attack == "edited":
        leak = edit(leak, rng)
    return set(guilty), canary.attribute(leak, [part(item, readers)], KEY)


def cell(
    attack: str, words: int, n: int, *, trials: int, items: Any, rng: random.Random
) -> dict[str, Any]:
    top1 = insufficient = false = 0
    for _ in range(trials):
        guilty, report = trial(attack, words, n, items, rng)
        named = {s.reader for s in report.suspects}
        top1 += bool(report.suspects) and report.suspects[0].reader in guilty
        insufficient += not named
        false += bool(named - guilty)
    return {
        "attack": attack, "words": words, "readers": n, "trials": trials,
        "top1": top1 / trials, "insufficient": insufficient / trials,
        "false_accusations": false, "false_accusation_rate": false / trials,
    }  # fmt: skip


def capacity(items: list[dict[str, str]]) -> dict[str, float]:
    caps = [canary.capacity(it["text"]) for it in items]
    words = sum(c.words for c in caps)
    return {
        "visible_bits_per_100_words": 100 * sum(c.visible for c in caps) / words,
        "invisible_bits_per_100_words": 100 * sum(c.invisible for c in caps) / words,
        "words": words,
    }


def marking_cost(items: list[dict[str, str]], rounds: int = 2000) -> dict[str, float]:
    text = next(it["text"] for it in items if len(it["text"].split()) >= 300)
    text = " ".join(text.split()[:300])
    layout(text)  # laid out once per text, as the station's cache does

    def timed(fn: Any) -> float:
        start = time.perf_counter()
        for i in range(rounds):
            fn(i)
        return (time.perf_counter() - start) / rounds * 1e3

    marked = statistics.median(
        timed(lambda i: canary.mark(KEY, b"cost", "text", f"r{i}", text)) for _ in range(5)
    )
    escaped = statistics.median(timed(lambda i: str(escape(text + str(i)))) for _ in range(5))
    return {"mark_ms_per_300_words": marked, "escape_ms_per_300_words": escaped,
            "ratio_to_escape": marked / escaped}  # fmt: skip


FILE_READERS = 50
FILE_ATTACKS = ("downloaded", "re-saved", "text", "printed")


def attacked(data: bytes, attack: str) -> bytes:
    """A reader's copy after ``attack`` (see the module's docstring)."""
    if attack == "re-saved":
        with pikepdf.open(io.BytesIO(data)) as pdf:
            del pdf.trailer.ID
            out = io.BytesIO()
            pdf.save(out)
            return out.getvalue()
    if attack == "text":
        return text_of("application/pdf", data).encode()
    if attack == "printed":
        document = pdfium.PdfDocument(data)
        pages = [page.render(scale=1.5).to_pil().convert("RGB") for page in document]
        document.close()
        out = io.BytesIO()
        pages[0].save(out, "PDF", save_all=True, append_images=pages[1:])
        return out.getvalue()
    return data


def traced(copy: bytes, attack: str, tags: dict[str, str]) -> set[str]:
    """The readers whose tag the copy carries."""
    found = set(TAG.findall(copy.decode("latin-1"))) if attack == "text" else tags_in(copy)
    return {tags[t] for t in found if t in tags}


def file_marks() -> dict[str, Any]:
    letter = letter_pdf([f"Page line {n}: the corridor from Tarn to Kessa." for n in range(40)])
    with pikepdf.open(io.BytesIO(letter)) as pdf:  # ten pages of the same letter
        for _ in range(9):
            pdf.pages.append(pdf.pages[0])
        out = io.BytesIO()
        pdf.save(out)
        letter = out.getvalue()
    marks = Marks(KEY)
    readers = [f"reader{n}" for n in range(FILE_READERS)]
    tags = {marks.tag("ab" * 32, 0, r): r for r in readers}
    copies = {r: mark_pdf(letter, t) for t, r in tags.items()}
    results: dict[str, Any] = {"readers": FILE_READERS, "pages": 10}
    for attack in FILE_ATTACKS:
        right = wrong = 0
        for reader, copy in copies.items():
            assert copy is not None
            named = traced(attacked(copy, attack), attack, tags)
            right += named == {reader}
            wrong += bool(named - {reader})
        results[attack] = {"traced": right / FILE_READERS, "traced_to_another": wrong}
        print(f"file marks, {attack:10}: traced {right}/{FILE_READERS}, to another {wrong}")

    def timed(fn: Any, rounds: int = 20) -> float:
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        return (time.perf_counter() - start) / rounds * 1e3

    def rewrite() -> None:
        with pikepdf.open(io.BytesIO(letter)) as pdf:
            pdf.save(io.BytesIO())

    mark_ms = statistics.median(timed(lambda: mark_pdf(letter, "a" * 16)) for _ in range(5))
    rewrite_ms = statistics.median(timed(rewrite) for _ in range(5))
    results["cost"] = {"mark_ms_per_10_pages": mark_ms, "rewrite_ms_per_10_pages": rewrite_ms,
                       "ratio_to_rewrite": mark_ms / rewrite_ms}  # fmt: skip
    print(f"file marks, cost: {mark_ms:.1f} ms a copy, {mark_ms / rewrite_ms:.2f}x a qpdf rewrite")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--files", action="store_true", help="only the marks in files")
    args = parser.parse_args()
    if args.files:
        kept = json.loads(args.out.read_text()) if args.out.exists() else {}
        kept["files"] = file_marks()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(kept, indent=2) + "\n")
        return
    rng = random.Random(args.seed)
    corpus = held_out()
    items = {
        "any": [it for it in corpus if len(it["text"].split()) >= 40],
        "long": [it for it in corpus if len(it["text"].split()) >= 350],
        "short": [it for it in corpus if len(it["text"].split()) < 160],
    }
    cells, started = [], time.monotonic()
    for attack in ATTACKS:
        for words in LENGTHS:
            for n in READERS:
                result = cell(attack, words, n, trials=args.trials, items=items, rng=rng)
                cells.append(result)
                print(
                    f"{attack:9} {words:3} words {n:4} readers: top-1 {result['top1']:6.1%}"
                    f"  insufficient {result['insufficient']:6.1%}"
                    f"  false {result['false_accusations']}/{args.trials}"
                    f"  ({time.monotonic() - started:.0f} s)", flush=True,
                )  # fmt: skip
    by = {(c["attack"], c["words"], c["readers"]): c for c in cells}
    cap, cost = capacity(corpus), marking_cost(corpus)
    summary = {
        "max_false_accusation_rate": max(c["false_accusation_rate"] for c in cells),
        "false_accusation_trials": sum(c["trials"] for c in cells),
        "false_accusations": sum(c["false_accusations"] for c in cells),
        "verbatim30_n1000_top1": by["verbatim", 30, 1000]["top1"],
        "retyped300_n100_top1": by["retyped", 300, 100]["top1"],
        "retyped100_n100_top1": by["retyped", 100, 100]["top1"],
        "bits_per_100_words": cap["visible_bits_per_100_words"],
        "invisible_bits_per_100_words": cap["invisible_bits_per_100_words"],
        **cost,
    }
    out = {"summary": summary, "cells": cells, "capacity": cap, "trials_per_cell": args.trials,
           "held_out_items": len(corpus), "seed": args.seed, "files": file_marks()}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
