"""A peer's file parsed by a child process with limits, never by the station itself.

pdfium, Pillow and qpdf read files a peer chose. A file can be made to unpack to
gigabytes, to take minutes, or to crash a decoder (pdfium aborts its process when an
allocation fails, and is not thread-safe): so whatever opens one runs in a child of
the station, ``python -I -c`` of its module's ``run_child``, with the file on stdin,
1 GiB of address space, 20 s of time, no core file and no file written, at most two
at a time. Its end costs what it was asked (a preview, a file's words, a reader's
mark), never the station. It runs as the station's user: a bound on cost and a wall
against a crash, not a sandbox against an exploit of a decoder.
"""

from __future__ import annotations

import math
import resource
import subprocess
import sys
import threading

from backchannel.station.core.errors import Busy

MIB = 1024 * 1024
MEMORY_BYTES = 1024 * MIB  # the child's address space
SECONDS = 20  # its time, from start to answer
AT_ONCE = 2  # children at one time
_SLOTS = threading.BoundedSemaphore(AT_ONCE)


class TimedOut(Exception):
    """The child took longer than it may."""


class OverLimits(Exception):
    """The child ended without an answer: past its memory or time, or crashed."""


def run(module: str, args: list[str], data: bytes, seconds: float = SECONDS) -> bytes:
    """What ``module.run_child()`` answers on stdout when fed ``data``."""
    code = f"from {module} import run_child; run_child()"
    limits = [str(MEMORY_BYTES), str(max(1, math.ceil(seconds)))]
    if not _SLOTS.acquire(timeout=seconds):
        raise Busy("the station is reading other files; try again in a moment")
    try:
        done = subprocess.run(  # noqa: S603 -- our own interpreter and code, no shell
            [sys.executable, "-I", "-c", code, *limits, *args], input=data,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=seconds, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise TimedOut from None
    finally:
        _SLOTS.release()
    if done.returncode != 0:
        raise OverLimits
    return done.stdout


def confine() -> tuple[list[str], bytes]:
    """In the child: take on the limits its parent gave; its own arguments and stdin."""
    memory, seconds = int(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file of a decrypted file
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # it writes no file
    return sys.argv[3:], sys.stdin.buffer.read()


def answer(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
