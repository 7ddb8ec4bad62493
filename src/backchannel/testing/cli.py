"""The CLI as the tests run it: a real process per command, forked from a warm one.

Starting Python and importing the station costs well over a second a command, and the
tests run a few hundred commands and start more than a hundred ``serve`` processes.  A
fork server (``multiprocessing``'s ``forkserver``) imports the CLI and what ``serve``
imports once; each command is a child forked from that single-threaded process, with
the caller's environment and working directory, its own standard output and error,
and its exit code: what ``python -m backchannel.cli`` does after its imports.  No
module reads the environment when it is imported (the test hooks are read when a
station starts), so a child with other settings than the fork server's is the same
as a new process.  (A few tests still start the real ``python -m backchannel.cli``,
to keep that path tried.)
"""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from functools import lru_cache
from multiprocessing.context import ForkServerContext
from pathlib import Path

TIMEOUT = 120.0


@lru_cache(maxsize=1)
def _warm() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["backchannel.cli.main", "backchannel.station.app", "backchannel.station.web.server",
         "uvicorn.lifespan.on", "uvicorn.loops.auto"]
    )  # fmt: skip
    return context


def run(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``backchannel ARGS…`` in a forked child; its output and exit code."""
    with tempfile.TemporaryDirectory(prefix="backchannel-cli-") as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        child = _warm().Process(
            target=_command, args=(list(args), dict(os.environ), os.getcwd(), out, err)
        )
        child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(["backchannel", *args], timeout)
        code = child.exitcode if child.exitcode is not None else 1
        return subprocess.CompletedProcess(
            ["backchannel", *args],
            code,
            out.read_text(encoding="utf-8", errors="replace"),
            err.read_text(encoding="utf-8", errors="replace"),
        )


class Started:
    """A command left running (``serve``): as much of ``subprocess.Popen`` as tests use."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self._child = _warm().Process(
            target=_command,
            args=(args, env, os.getcwd(), log, log),
            kwargs={"append": True},
            daemon=True,  # ended with the tests if a test leaves it running
        )
        self._child.start()
        assert self._child.pid is not None
        self.pid: int = self._child.pid

    @property
    def returncode(self) -> int | None:
        return self._child.exitcode

    def poll(self) -> int | None:
        return self._child.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._child.join(timeout)
        if self._child.exitcode is None:
            raise subprocess.TimeoutExpired(f"backchannel (pid {self.pid})", timeout or 0.0)
        return self._child.exitcode

    def send_signal(self, signum: int) -> None:
        if self._child.exitcode is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def start(args: list[str], env: dict[str, str], log: Path) -> Started:
    """Start ``backchannel ARGS…`` in a forked child writing to ``log``; do not wait."""
    return Started(args, env, log)


def _command(
    args: list[str], env: dict[str, str], cwd: str, out: Path, err: Path, *, append: bool = False
) -> None:
    """In the child: the caller's environment, fds 1 and 2 to the files, then main()."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    mode = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    for fd, path in ((1, out), (2, err)):
        os.dup2(os.open(path, mode, 0o600), fd)
    sys.stdout = _text(1)
    sys.stderr = _text(2)
    sys.argv = ["backchannel", *args]
    from backchannel.cli.main import main  # noqa: PLC0415 - preloaded by the fork server

    code = 0
    try:
        main()
    except SystemExit as exc:
        code = _code(exc)
    except BaseException as exc:  # as an uncaught exception in a real process
        import traceback  # noqa: PLC0415

        traceback.print_exception(exc)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _text(fd: int) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8",
                            line_buffering=True)  # fmt: skip


def _code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1
