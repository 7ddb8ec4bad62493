"""A station behind a real reverse proxy: Debian's nginx terminating TLS on loopback.

The station lists 127.0.0.1 (where nginx connects from) in ``trusted_proxies``, so it
believes the X-Forwarded-For and X-Forwarded-Proto that nginx sets, and no one else's.
Each client comes from a loopback address of its own (127.0.0.x), which nginx passes on
as ``$remote_addr``: the tests check that the station sees that address, not the
proxy's, for the audit trail and the sign-in throttles, that it treats the browser's
connection as TLS (``__Host-`` cookie, HSTS), and that a client who reaches the port
directly cannot claim either by sending the same headers.  CI installs nginx
(`make nginx`); without it the module is skipped.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from backchannel.cli.demo import free_port
from backchannel.station.core.config import CONFIG_FILE
from backchannel.station.service import Station

from .conftest import PASSWORD, StationProcess, add_officer, make_station, write_pem

WAIT = 30.0
FORGED_FOR = "198.51.100.7"  # a documentation address no client here has


def find_nginx() -> str | None:
    # Debian puts it in /usr/sbin, which is not on every user's PATH.
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


NGINX = find_nginx()
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (`make nginx` installs it; CI does)"
)


# -- a certificate, nginx, clients -----------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own issuer) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return write_pem(folder, "cert", cert, key)


def nginx_config(folder: Path, port: int, upstream: int, cert: Path, key: Path) -> str:
    """A foreground nginx that keeps every file it writes in ``folder``."""
    # As root, nginx's workers would switch to "nobody"; keep them root, like the master.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(
        f"    {kind}_temp_path {folder / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    access_log {folder / "access.log"};
{temp}    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


@dataclass
class Nginx:
    folder: Path
    url: str
    tls: ssl.SSLContext  # trusts our certificate only
    process: subprocess.Popen[bytes]

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def wait_answering(self) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"nginx exited: {self.error_log()}")
            try:
                if httpx.get(self.url + "/health", verify=self.tls, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"nginx at {self.url} did not answer: {self.error_log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_nginx(folder: Path, upstream: int) -> Nginx:
    assert NGINX is not None
    folder.mkdir()
    cert, key = self_signed(folder)
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(nginx_config(folder, port, upstream, cert, key), encoding="utf-8")
    command = [NGINX, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")]
    with (folder / "nginx.out").open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    tls = ssl.create_default_context(cafile=cert)
    proxy = Nginx(folder, f"https://127.0.0.1:{port}", tls, process)
    try:
        proxy.wait_answering()
    except BaseException:
        proxy.stop()
        raise
    return proxy


def client(
    url: str, address: str, tls: ssl.SSLContext | None = None, headers: dict[str, str] | None = None
) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.0.0.x reaches loopback)."""
    transport = httpx.HTTPTransport(local_address=address, verify=tls or True)
    return httpx.Client(
        base_url=url, transport=transport, headers=headers or {}, follow_redirects=False, timeout=30
    )


def login(c: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    """The sign-in form, fetched and posted as a browser does."""
    form = c.get("/login")
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert token is not None, (form.status_code, form.text[:300])
    data = {"name": name, "password": password, "form_token": token[1], "code": ""}
    return c.post("/login", data=data)


def cookie(response: httpx.Response, name: str) -> dict[str, str]:
    """The attributes (lower-cased names) of the cookie ``name`` the response sets."""
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        if first.partition("=")[0] == name:
            pairs = (a.partition("=") for a in attributes)
            return {k.lower(): v for k, _, v in pairs}
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


def cookie_names(response: httpx.Response) -> set[str]:
    return {h.partition("=")[0] for h in response.headers.get_list("set-cookie")}


def origins(station: StationProcess, officer: str, action: str) -> list[str]:
    """Where the audit trail says ``officer`` did ``action`` from, newest first."""
    s = Station.open(station.folder)
    try:
        entries = s.audit.show(officer=officer)
    finally:
        s.close()
    return [e.record.origin for e in entries if e.record.action == action]


# -- the station behind nginx ----------------------------------------------------------------


@dataclass
class Proxied:
    station: StationProcess
    nginx: Nginx

    def through_proxy(self, address: str, headers: dict[str, str] | None = None) -> httpx.Client:
        return client(self.nginx.url, address, self.nginx.tls, headers)

    def direct(self, address: str, headers: dict[str, str] | None = None) -> httpx.Client:
        return client(self.station.url, address, headers=headers)


OFFICERS = ("amira", "basil", "chen", "dana")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    tmp = tmp_path_factory.mktemp("proxy")
    station = make_station(tmp, "alpha")
    settings = station.folder / CONFIG_FILE
    config = json.loads(settings.read_text(encoding="utf-8"))
    config["trusted_proxies"] = ["127.0.0.1"]
    settings.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    for name in OFFICERS:
        add_officer(station, name, "officer")
    station.start()
    try:
        nginx = start_nginx(tmp / "nginx", int(station.url.rsplit(":", 1)[1]))
        try:
            yield Proxied(station, nginx)
        finally:
            nginx.stop()
    finally:
        station.stop()


def test_sign_in_through_the_proxy_sets_a_host_only_secure_session_cookie(
    proxied: Proxied,
) -> None:
    with proxied.through_proxy("127.0.0.5") as c:
        form = c.get("/login")
        assert form.status_code == 200
        assert cookie(form, "__Secure-bc_login").keys() >= {"secure", "httponly"}
        done = login(c, "amira")
        assert done.status_code == 303, done.text[:300]
        session = cookie(done, "__Host-bc_session")
        assert "secure" in session and "httponly" in session
        assert session["samesite"].lower() == "strict"
        assert session["path"] == "/"
        assert "domain" not in session  # a __Host- cookie must have none
        assert "bc_session" not in cookie_names(done)
        # The browser sends it back over TLS and is signed in.
        assert c.get("/channels").status_code == 200


def test_responses_through_the_proxy_carry_hsts(proxied: Proxied) -> None:
    with proxied.through_proxy("127.0.0.6") as c:
        for path in ("/login", "/health", "/static/app.js"):
            response = c.get(path)
            assert "max-age=" in response.headers.get("strict-transport-security", ""), path


def test_the_audit_trail_records_the_client_behind_the_proxy(proxied: Proxied) -> None:
    # nginx replaces whatever X-Forwarded-For a client sends with the address it sees.
    with proxied.through_proxy("127.0.0.7", {"x-forwarded-for": FORGED_FOR}) as c:
        assert login(c, "basil").status_code == 303
        assert login(c, "basil", "not the password").status_code == 401
    assert origins(proxied.station, "basil", "sign-in") == ["127.0.0.7 web"]
    assert origins(proxied.station, "basil", "sign-in-failed") == ["127.0.0.7 web"]


def test_failed_sign_ins_throttle_the_client_not_the_proxy(proxied: Proxied) -> None:
    with proxied.through_proxy("127.0.0.20") as guesser:
        for n in range(20):  # names no account has, so that no name throttle fills
            failed = login(guesser, f"nobody-{n}", "a wrong guess")
            assert failed.status_code == 401, (n, failed.text[:300])
        refused = login(guesser, "chen")  # even the right password: this address waits
        assert refused.status_code == 429, refused.text[:300]
    with proxied.through_proxy("127.0.0.21") as colleague:  # through the same nginx
        done = login(colleague, "chen")
        assert done.status_code == 303, done.text[:300]
    assert origins(proxied.station, "chen", "sign-in") == ["127.0.0.21 web"]


def test_a_direct_client_cannot_forge_forwarded_headers(proxied: Proxied) -> None:
    forged = {"x-forwarded-for": FORGED_FOR, "x-forwarded-proto": "https"}
    with proxied.direct("127.0.0.9", forged) as c:
        form = c.get("/login")
        assert "strict-transport-security" not in form.headers
        assert cookie_names(form) == {"bc_login"}
        done = login(c, "dana")
        assert done.status_code == 303, done.text[:300]
        session = cookie(done, "bc_session")
        assert "secure" not in session
        assert "__Host-bc_session" not in cookie_names(done)
        assert "strict-transport-security" not in done.headers
    assert origins(proxied.station, "dana", "sign-in") == ["127.0.0.9 web"]


def test_a_station_without_trusted_proxies_ignores_forwarded_headers(tmp_path: Path) -> None:
    station = make_station(tmp_path, "bravo")  # trusted_proxies left empty
    add_officer(station, "emil", "officer")
    station.start()
    try:
        forged = {"x-forwarded-for": FORGED_FOR, "x-forwarded-proto": "https"}
        with client(station.url, "127.0.0.1", headers=forged) as c:  # even from the loopback
            done = login(c, "emil")
            assert done.status_code == 303, done.text[:300]
            assert "secure" not in cookie(done, "bc_session")
            assert "strict-transport-security" not in done.headers
        assert origins(station, "emil", "sign-in") == ["127.0.0.1 web"]
    finally:
        station.stop()
