"""The CLI's mistakes as a new user makes them: each is one plain line naming what is
wrong and what is allowed, exits non-zero, and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backchannel.analysis.canary import strip_invisible
from backchannel.protocol import Message
from backchannel.station.service import Station

from .conftest import cli, cold_cli
from .test_store import deliver, paired_in_process


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    a, b = paired_in_process(tmp_path_factory.mktemp("cli-errors"))
    b.send(b.resolve(None), Message(text="Please confirm the meeting.", language="en",
                                    from_role="officer", to_role="principal"))  # fmt: skip
    deliver(b, a)
    folders = (a.folder, b.folder)
    a.close()
    b.close()
    yield folders


def one_line(result: object, message: str) -> None:
    assert getattr(result, "returncode", 0) != 0, result
    err = str(getattr(result, "stderr", ""))
    assert message in err, err
    assert "Traceback" not in err and "╭" not in err and len(err.strip().splitlines()) == 1, err


def test_backup_into_a_missing_folder_or_onto_a_folder(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _b = folders
    one_line(cli("backup", "--station", str(a), "--out", str(tmp_path / "nope" / "x")),
             "there is no folder")  # fmt: skip
    one_line(cli("backup", "--station", str(a), "--out", str(tmp_path)), "is a folder")
    assert list(tmp_path.iterdir()) == []


def test_the_inbox_shows_hashes_and_ack_takes_the_number_once(folders: tuple[Path, Path]) -> None:
    a, _b = folders
    inbox = cli("inbox", "--station", str(a))
    line = next(x for x in strip_invisible(inbox.stdout).splitlines() if "Please" in x)
    number, prefix = line.split()[1], line.split()[2]
    assert number.startswith("#") and len(prefix) == 12
    done = cli("ack", number, "--station", str(a))
    assert done.returncode == 0, done.stderr
    one_line(cli("ack", prefix, "--station", str(a)), "already acknowledged")
    one_line(cli("ack", "#999", "--station", str(a)), "no single received item is #999")


def test_send_refuses_roles_that_cannot_speak_or_read_and_a_past_deadline(
    folders: tuple[Path, Path],
) -> None:
    a, _b = folders
    s = Station.open(a)
    try:
        before = len(s.transcript(None))
    finally:
        s.close()
    one_line(cli("send", "hi", "--station", str(a), "--from-role", "auditor"),
             "--from-role is one of: principal, officer")  # fmt: skip
    one_line(cli("send", "hi", "--station", str(a), "--to-role", "admin"),
             "addressed to one of: principal, officer, reader")  # fmt: skip
    one_line(cli("send", "hi", "--station", str(a), "--deadline", "2020-01-01T00:00"),
             "deadline is in the past")  # fmt: skip
    one_line(cli("send", "hi", "--station", str(a), "--deadline", "tomorrow"),
             "Invalid value for '--deadline': give a date and time such as")  # fmt: skip
    one_line(cli("send", "hi", "--station", str(a), "--to-role", "sideways"),
             "'sideways' is not one of 'principal'")  # fmt: skip
    s = Station.open(a)
    try:
        assert len(s.transcript(None)) == before
    finally:
        s.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--party", "", "--name", "hq", "--url", "http://x.test"], "--party: String should"),
        (["--party", "P", "--name", "a b", "--url", "http://x.test"], "--name: use letters"),
        (["--party", "P", "--name", "hq", "--url", "x.test"], "--url: give an http://"),
        (
            [
                "--party",
                "P",
                "--name",
                "hq",
                "--url",
                "http://x.test",
                "--database",
                "postgresql://nobody@127.0.0.1:1/none",
            ],
            "cannot set up the database",
        ),
    ],
    ids=["party", "name", "url", "database"],
)
def test_init_names_the_option_and_leaves_no_folder(
    options: list[str], message: str, tmp_path: Path
) -> None:
    one_line(cli("init", "--station", str(tmp_path / "new"), *options), message)
    assert not (tmp_path / "new").exists()


def test_unknown_commands_officers_and_the_version(folders: tuple[Path, Path]) -> None:
    a, _b = folders
    one_line(cold_cli("nope"), "No such command 'nope'")  # as a user starts it, too
    one_line(cli("officer", "reset", "bob", "--station", str(a)), "no officer is named 'bob'")
    version = cold_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("backchannel ")
