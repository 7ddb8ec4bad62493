"""The station's TLS keys as its counterparts pin them: show, announce, use.

A rotation without a moment of refused connections, in three steps:

1. ``tls announce --cert old.pem --cert new.pem``: every peer pins both keys;
2. ``tls use --cert new.pem --key new.key`` and restart ``serve`` (or the proxy);
3. ``tls announce --cert new.pem``: the old key is pinned no more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backchannel.station.core.audit import Record
from backchannel.station.core.tls import TlsError, pin_of_file

from .common import HOST, StationDir, host_user, opened
from .output import fail, print_json

tls_app = typer.Typer(
    help="The TLS keys counterparts pin: show them, announce a change, use a certificate.",
    no_args_is_help=True,
)
Certs = Annotated[
    list[Path],
    typer.Option("--cert", help="A certificate (PEM) this station presents; repeat for several."),
]


def pins_of(paths: list[Path]) -> tuple[bytes, ...]:
    """The pins of certificate files, in order and without repeats; one line on error."""
    try:
        return tuple(dict.fromkeys(pin_of_file(path) for path in paths))
    except TlsError as exc:
        fail(str(exc))


@tls_app.command("show")
def show(station: StationDir, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The pins this station hands out, and the certificate `serve` presents."""
    with opened(station) as s:
        config = s.config
    if as_json:
        print_json({"pins": config.tls_pins, "cert": config.tls_cert, "key": config.tls_key})
        return
    if not config.tls_pins:
        typer.echo("no TLS pins: counterparts check this station's certificate by their CAs")
    for pin in config.tls_pins:
        typer.echo(f"pin sha256:{pin}")
    typer.echo(f"serve presents {config.tls_cert or 'no certificate (plain HTTP)'}")


@tls_app.command("announce")
def announce(station: StationDir, cert: Certs) -> None:
    """Pin these certificates' keys from now on, in invitations and on every channel."""
    pins = pins_of(cert)
    with opened(station) as s:
        detail = "pins " + ", ".join(pin.hex()[:16] for pin in pins)
        told = s.announce_pins(pins, Record(host_user(), "tls-announce", HOST, detail=detail))
        current = s.config.tls_cert
        if current and pins_of([Path(current)])[0] not in pins:
            typer.echo("warning: the certificate serve presents now is not among these keys")
    typer.echo(f"{len(pins)} TLS key(s) pinned; told the peers of {len(told)} channel(s)")


@tls_app.command("use")
def use(
    station: StationDir,
    cert: Annotated[Path, typer.Option(help="The certificate (PEM) serve presents.")],
    key: Annotated[Path, typer.Option(help="Its private key (PEM).")],
) -> None:
    """Make `serve` present this certificate; its key must have been announced first."""
    pin = pins_of([cert])[0]
    if not key.is_file():
        fail(f"no key file {key}")
    with opened(station) as s:
        if pin.hex() not in s.config.tls_pins:
            fail(
                f"{cert}'s key is not pinned by the counterparts yet: "
                f"run 'backchannel tls announce' with it first"
            )
        s.use_certificate(cert.resolve(), key.resolve(), Record(host_user(), "tls-use", HOST))
    typer.echo(f"serve presents {cert} from its next start")
