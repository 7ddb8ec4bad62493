"""The web UI and API against a running station, from an attacker's side.

Cross-site scripting through every name and text a peer or a visitor controls, CSRF
on every state-changing route, session fixation and logout, cookie flags, password
guessing (account lockout, per-address throttle), TOTP replay, and what answers
without a sign-in.  One station pair serves the whole module.  Sign-ins that are
meant to fail come from loopback addresses of their own (127.N.0.1), so that the
per-address and per-network throttles of one test never refuse another test's sign-ins.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pyotp
import pytest

from backchannel.cli.demo import free_port
from backchannel.protocol import Ack, Message
from backchannel.station.core.config import StationConfig
from backchannel.station.core.errors import StationError
from backchannel.station.service import Station

from .conftest import (
    PASSWORD,
    StationProcess,
    add_officer,
    grant,
    message,
    pair_running,
    start_together,
    wait_until,
)


def hostile(n: int) -> str:
    """Script, attribute break-out and template payloads in one string; ``n`` tells them apart."""
    return f'<script>alert({n})</script>"><img src=x onerror=alert({n})>{{{{7*{n}}}}}'


def no_slash(n: int) -> str:
    """A payload that fits in one URL path segment."""
    return f'"><img src=x onerror=alert({n})>{{{{7*{n}}}}}'


def escaped(text: str) -> str:
    """How an HTML-escaping template must print ``text`` (Jinja's choice of entities)."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace('"', "&#34;").replace("'", "&#39;")
    )  # fmt: skip


# Where each payload is planted.
PAYLOADS = {
    "our-party": f"Party {hostile(1)}",
    "our-station": f"alpha{hostile(2)}",
    "peer-party": f"Bravo {hostile(3)}",
    "peer-station": f"bravo{no_slash(4)}",
    "message-text": f"hello {hostile(5)}",
    "ack-note": f"noted {hostile(6)}",
    "pending-party": f"Charlie {hostile(7)}",
    "login-error": hostile(8),
    "compose-text": hostile(9),
    "compose-language": hostile(10),
    "audit-officer": hostile(11),
    "audit-item": hostile(12),
    "audit-since": hostile(13),
    "failed-name": '<script>alert(14)</script>"><img src=x onerror=alert(14)>',  # <= 64 chars
    "channel-path": no_slash(15),
    "officers-message": hostile(16),
    "reset-name": no_slash(17),
}
RAW_MARKERS = ("<script>alert(", "<img src=x onerror", "<img")
OWN_NAMES = ("our-party", "our-station")  # in the header of every full page


@dataclass
class Browser:
    """A signed-in client and its session's CSRF token."""

    client: httpx.Client
    csrf: str
    name: str

    @property
    def token(self) -> str:
        return self.client.cookies["bc_session"]


@dataclass
class Site:
    a: StationProcess
    b: StationProcess
    store: Station
    channel: str
    hostile_in: str  # hash of the received message with a hostile text
    second_in: str  # another received message (each item is acknowledged once)
    web_pending: str  # a channel waiting for our admin's confirmation (web route)
    api_pending: str  # another one (API route)
    browsers: dict[str, Browser] = field(default_factory=dict)
    victim_token: str = ""  # an API token of "victim-reset"
    disabled_token: str = ""  # an API token of "victim-disable"

    def url(self, path: str) -> str:
        return self.a.url + path


# -- clients, sign-in, stations -------------------------------------------------------------


def client(site_url: str, address: str = "127.0.0.1") -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.0.0.x reaches the server).

    Idle connections are dropped after 2 s, before the station's keep-alive timeout (5 s)
    could close one under a request being sent (a race of the client's, not the station's).
    """
    limits = httpx.Limits(keepalive_expiry=2.0)
    transport = httpx.HTTPTransport(local_address=address, limits=limits)
    return httpx.Client(base_url=site_url, transport=transport, follow_redirects=False, timeout=30)


def form_token(c: httpx.Client) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', c.get("/login").text)
    assert found is not None
    return found[1]


def login(c: httpx.Client, name: str, password: str = PASSWORD, code: str = "") -> httpx.Response:
    data = {"name": name, "password": password, "form_token": form_token(c), "code": code}
    return c.post("/login", data=data)


def csrf_of(c: httpx.Client) -> str:
    page = c.get("/channels")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text[:300]
    return found[1]


def browser(site_url: str, name: str, address: str = "127.0.0.1") -> Browser:
    c = client(site_url, address)
    done = login(c, name)
    assert done.status_code == 303, done.text[:300]
    return Browser(c, csrf_of(c), name)


def session_cookie(response: httpx.Response) -> str | None:
    """The bc_session Set-Cookie header of a response, if any."""
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith("bc_session=")]
    return found[0] if found else None


def hostile_station(tmp: Path, folder: str, party: str, station: str) -> StationProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = StationConfig(
        party=party, station=station, public_url=url, port=port, allow_private_endpoints=True,
        name_before_sign_in=True,  # so that the sign-in page shows the hostile names too
    )  # fmt: skip
    Station.create(tmp / folder, config).close()
    return StationProcess(tmp / folder, url)


def pending_channel(folder: Path, inviter: Station, party: str) -> str:
    """A channel the inviter's admin has not confirmed: a never-served station accepts."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    peer = Station.create(
        folder,
        StationConfig(
            party=party,
            station=folder.name,
            public_url=url,
            port=port,
            allow_private_endpoints=True,
        ),
    )
    try:
        return peer.pair(inviter.invite(3600)).channel_id
    finally:
        peer.close()


def arrived(station: Station, channel: str, kind: type[Any], test: Callable[[Any], bool]) -> str:
    """The hash of a received item of ``kind`` passing ``test``, or "" if none yet."""
    for e in station.transcript(channel):
        if e.direction == "in" and isinstance(e.item, kind) and test(e.item):
            return e.envelope_hash
    return ""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("websec")
    a = hostile_station(tmp, "alpha", PAYLOADS["our-party"], PAYLOADS["our-station"])
    b = hostile_station(tmp, "bravo", PAYLOADS["peer-party"], PAYLOADS["peer-station"])
    start_together(a, b)
    store, peer = a.open(), b.open()
    browsers: dict[str, Browser] = {}
    try:
        pair_running(a, b)
        channel = store.resolve(None)
        # The peer sends a hostile text, and acknowledges our message with a hostile note.
        text = PAYLOADS["message-text"]
        peer.send(channel, Message(text=text, language="en", from_role="officer",
                                   to_role="principal"))  # fmt: skip
        peer.send(channel, message("a second one to acknowledge"))
        ours = store.send(channel, message("for bravo")).envelope_hash
        wait_until(lambda: arrived(peer, channel, Message, lambda i: True), "our message at B")
        peer.acknowledge(channel, ours, PAYLOADS["ack-note"])
        wait_until(lambda: arrived(store, channel, Ack, lambda i: True), "the ack at A")
        hostile_in = arrived(store, channel, Message, lambda i: i.text == text)
        assert hostile_in
        wait_until(lambda: arrived(store, channel, Message, lambda i: "second" in i.text), "2nd")
        second_in = arrived(store, channel, Message, lambda i: "second" in i.text)
        web_pending = pending_channel(tmp / "charlie", store, PAYLOADS["pending-party"])
        api_pending = pending_channel(tmp / "delta", store, "Party delta")
        for name, role in (("pat", "principal"), ("ada", "admin"), ("aud", "auditor"),
                           ("victim-disable", "officer"), ("victim-reset", "officer"),
                           ("locked-one", "officer"), ("throttled", "officer")):  # fmt: skip
            add_officer(a, name, role)
        site = Site(a, b, store, channel, hostile_in, second_in, web_pending, api_pending,
                    browsers)  # fmt: skip
        site.victim_token = store.accounts.create_token("test", "test", "victim-reset", "t")
        site.disabled_token = store.accounts.create_token("test", "test", "victim-disable", "t")
        for name in ("pat", "ada", "aud"):
            site.browsers[name] = browser(a.url, name)
        # A failed sign-in under a hostile name puts that name in the audit trail.
        with client(a.url, "127.50.0.1") as c:
            assert login(c, PAYLOADS["failed-name"], "wrong password!").status_code == 401
        yield site
    finally:
        for signed_in in browsers.values():
            signed_in.client.close()
        store.close()
        peer.close()
        a.stop()
        b.stop()


# -- XSS and the Content-Security-Policy ----------------------------------------------------


class Tags(HTMLParser):
    """Every element and attribute of a page, and any text inside <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


def assert_strict_csp(response: httpx.Response) -> None:
    csp = response.headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("script-src") == ["'self'"], csp
    assert directives.get("default-src") == ["'none'"], csp
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers.get("x-content-type-options") == "nosniff"


def assert_inert(response: httpx.Response, planted: tuple[str, ...]) -> None:
    """No payload runs: only our one script, no handlers, no images; ``planted`` shows escaped."""
    body = response.text
    for raw in RAW_MARKERS:
        assert raw not in body, (raw, body[max(0, body.find(raw) - 200) :][:400])
    tags = Tags()
    tags.feed(body)
    for tag, attrs in tags.tags:
        assert tag not in {"img", "svg", "iframe", "object", "embed", "base"}, (tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, attrs)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, attrs)
        if tag == "script":
            assert attrs == {"src": "/static/app.js", "defer": None}, attrs
    assert not tags.script_text.strip()
    for source in planted:
        assert escaped(PAYLOADS[source]) in body, source
    assert "{{7*" in body  # template syntax is printed, never evaluated


@dataclass(frozen=True)
class Page:
    who: str | None  # a signed-in officer, or None
    method: str
    path: Callable[[Site], str]
    status: int
    planted: tuple[str, ...]  # payloads this page must show, escaped
    data: Callable[[Site], dict[str, str]] | None = None
    full: bool = True  # a whole page with the station header (not a fragment)


PAGES: dict[str, Page] = {
    "login": Page(None, "GET", lambda s: "/login?error=" + quote(PAYLOADS["login-error"]), 200,
                  ()),
    "channels": Page("pat", "GET", lambda s: "/channels", 200, ("peer-party", "peer-station",
                                                                 "pending-party")),
    "thread": Page("pat", "GET", lambda s: f"/channels/{s.channel}", 200,
                   ("peer-party", "peer-station", "message-text", "ack-note")),
    "thread-by-peer-name": Page("pat", "GET",
                                lambda s: "/channels/" + quote(PAYLOADS["peer-station"], safe=""),
                                200, ("peer-party", "message-text")),
    "since": Page("pat", "GET", lambda s: f"/channels/{s.channel}/since?after=0", 200,
                  ("message-text", "ack-note"), full=False),
    "since-by-peer-name": Page(
        "pat", "GET",
        lambda s: "/channels/" + quote(PAYLOADS["peer-station"], safe="") + "/since?after=0",
        200, ("message-text", "ack-note"), full=False),
    "item": Page("pat", "GET", lambda s: f"/channels/{s.channel}/items/{s.hostile_in}", 200,
                 ("message-text", "peer-party")),
    "compose": Page("pat", "GET", lambda s: f"/channels/{s.channel}/compose", 200,
                    ("peer-party", "peer-station")),
    "compose-error": Page(
        "pat", "POST", lambda s: f"/channels/{s.channel}/compose", 422,
        ("compose-text", "compose-language"),
        data=lambda s: {"csrf": s.browsers["pat"].csrf, "to_role": "principal",
                        "text": PAYLOADS["compose-text"],
                        "language": PAYLOADS["compose-language"]}),
    "error-page": Page("pat", "GET", lambda s: "/channels/" + quote(PAYLOADS["channel-path"],
                                                                     safe=""), 404,
                       ("channel-path",)),
    "audit-filters": Page(
        "aud", "GET",
        lambda s: "/audit?" + "&".join(
            f"{k}={quote(PAYLOADS['audit-' + v])}"
            for k, v in (("officer", "officer"), ("item", "item"), ("since", "since"),
                         ("until", "since"))),
        200, ("audit-officer", "audit-item", "audit-since")),
    "audit-trail": Page("aud", "GET", lambda s: "/audit", 200, ("failed-name",)),
    "officers": Page("ada", "GET",
                     lambda s: "/officers?message=" + quote(PAYLOADS["officers-message"]), 200,
                     ()),
    "officers-reset-error": Page(
        "ada", "POST", lambda s: "/officers/" + quote(PAYLOADS["reset-name"], safe="") + "/reset",
        200, ("reset-name",),
        data=lambda s: {"csrf": s.browsers["ada"].csrf, "password": "a long new password"}),
    "officers-add-error": Page(
        "ada", "POST", lambda s: "/officers", 200, (),
        data=lambda s: {"csrf": s.browsers["ada"].csrf, "name": PAYLOADS["failed-name"],
                        "role": "reader", "password": PASSWORD, "clearances": ""}),
    "channels-admin": Page("ada", "GET", lambda s: "/channels", 200, ("pending-party",)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(PAGES))
def test_page_shows_payloads_escaped_under_a_strict_csp(site: Site, name: str) -> None:
    spec = PAGES[name]
    data = spec.data(site) if spec.data else None
    if spec.who is None:
        response = httpx.request(spec.method, site.url(spec.path(site)), data=data)
    else:
        response = site.browsers[spec.who].client.request(spec.method, spec.path(site), data=data)
    assert response.status_code == spec.status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert_strict_csp(response)
    planted = spec.planted + (OWN_NAMES if spec.full else ())
    assert_inert(response, planted)


@pytest.mark.parametrize(
    ("who", "path", "payload"),
    [(None, "/login?error=", "login-error"), ("ada", "/officers?message=", "officers-message")],
)
def test_a_link_cannot_put_words_on_a_page(
    site: Site, who: str | None, path: str, payload: str
) -> None:
    """Messages on these pages come from the station only, never from the query string."""
    url = path + quote(PAYLOADS[payload])
    get = httpx.get if who is None else site.browsers[who].client.get
    response = get(site.url(url) if who is None else url)
    assert response.status_code == 200
    assert escaped(PAYLOADS[payload]) not in response.text
    assert 'role="alert"' not in response.text


def test_the_one_script_is_served_from_the_station(site: Site) -> None:
    response = httpx.get(site.url("/static/app.js"))
    assert response.status_code == 200
    assert "insertAdjacentHTML" in response.text  # it inserts only the server's escaped HTML
    assert_strict_csp(response)


HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "Admin",
    "",
    "a" * 65,
    "-leading-dash",
    "two words",
    "émile",
    "name\n",
    "a/b",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_officer_name_is_refused(site: Site, name: str) -> None:
    with pytest.raises(StationError, match="officer name is 1-64 lower-case letters"):
        site.store.accounts.add("test", "test", name, role="reader", clearances=(),
                                password=PASSWORD)  # fmt: skip
    assert name not in {a.name for a in site.store.accounts.accounts()}


def test_a_hostile_officer_name_is_refused_by_the_web_form(site: Site) -> None:
    ada = site.browsers["ada"]
    response = ada.client.post("/officers", data={
        "csrf": ada.csrf, "name": "<script>alert(1)</script>", "role": "reader",
        "password": PASSWORD, "clearances": ""})  # fmt: skip
    assert response.status_code == 200
    assert "not added: an officer name is 1-64 lower-case letters" in response.text
    assert "<script>alert(1)</script>" not in {a.name for a in site.store.accounts.accounts()}


# -- CSRF -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A state-changing request and how to see whether it changed anything."""

    who: str
    path: Callable[[Site], str]
    fields: Callable[[Site], dict[str, str]]
    state: Callable[[Site], object]
    done: int  # the status when the token is right
    api: bool = False  # JSON body and X-CSRF-Token header instead of a form


def _outgoing(s: Site) -> int:
    return sum(e.direction == "out" for e in s.store.transcript(s.channel))


def _account(s: Site, name: str) -> object:
    found = [a for a in s.store.accounts.accounts() if a.name == name]
    return found[0].disabled if found else None


def _disabled(s: Site) -> object:
    return _account(s, "victim-disable"), s.store.accounts.by_token(s.disabled_token) is not None


def _resets(s: Site) -> object:
    records = s.store.audit.show(officer="ada", limit=10_000)
    count = sum(e.record.action == "officer-reset" for e in records)
    return count, s.store.accounts.by_token(s.victim_token) is not None


CHANGES: dict[str, Change] = {
    "logout": Change("pat", lambda s: "/logout", lambda s: {},
                     lambda s: s.store.accounts.session(s.browsers["pat"].token) is not None, 303),
    "compose": Change("pat", lambda s: f"/channels/{s.channel}/compose",
                      lambda s: {"text": "csrf probe", "to_role": "principal", "language": "en"},
                      _outgoing, 303),
    "ack": Change("pat", lambda s: f"/channels/{s.channel}/items/{s.hostile_in}/ack",
                  lambda s: {"note": "csrf probe"}, _outgoing, 303),
    "confirm": Change("ada", lambda s: f"/channels/{s.web_pending}/confirm", lambda s: {},
                      lambda s: s.store.status(s.web_pending).pairing, 303),
    "add-officer": Change("ada", lambda s: "/officers",
                          lambda s: {"name": "csrf-new", "role": "reader", "password": PASSWORD,
                                     "clearances": ""},
                          lambda s: _account(s, "csrf-new"), 303),
    "disable": Change("ada", lambda s: "/officers/victim-disable/disable", lambda s: {},
                      _disabled, 303),
    "reset": Change("ada", lambda s: "/officers/victim-reset/reset",
                    lambda s: {"password": "another long password"}, _resets, 303),
    "api-send": Change("pat", lambda s: f"/api/v1/channels/{s.channel}/messages",
                       lambda s: {"text": "csrf probe"}, _outgoing, 201, api=True),
    "api-ack": Change("pat", lambda s: f"/api/v1/channels/{s.channel}/acks",
                      lambda s: {"item_hash": s.second_in}, _outgoing, 201, api=True),
    "api-confirm": Change("ada", lambda s: f"/api/v1/channels/{s.api_pending}/confirm",
                          lambda s: {}, lambda s: s.store.status(s.api_pending).pairing, 200,
                          api=True),
}  # fmt: skip


def bad_tokens(site: Site, who: str) -> dict[str, str | None]:
    other = site.browsers["aud"].csrf  # a live token, but of another session
    return {"missing": None, "empty": "", "wrong": "x" * 43, "other-session": other,
            "truncated": site.browsers[who].csrf[:-1]}  # fmt: skip


def post(
    site: Site, change: Change, token: str | None, c: httpx.Client | None = None
) -> httpx.Response:
    c = c or site.browsers[change.who].client
    fields = change.fields(site)
    if change.api:
        headers = {} if token is None else {"x-csrf-token": token}
        return c.post(change.path(site), json=fields, headers=headers)
    data = fields if token is None else {**fields, "csrf": token}
    return c.post(change.path(site), data=data)


@pytest.mark.parametrize("token", ["missing", "empty", "wrong", "other-session", "truncated"])
@pytest.mark.parametrize("route", list(CHANGES))
def test_state_change_without_the_right_csrf_token_is_refused(
    site: Site, route: str, token: str
) -> None:
    change = CHANGES[route]
    before = change.state(site)
    response = post(site, change, bad_tokens(site, change.who)[token])
    assert response.status_code == 403, response.text[:300]
    assert "CSRF" in response.text
    assert change.state(site) == before


def test_a_wrong_header_is_not_rescued_by_a_right_form_field(site: Site) -> None:
    pat, change = site.browsers["pat"], CHANGES["compose"]
    before = _outgoing(site)
    response = pat.client.post(
        change.path(site),
        data={**change.fields(site), "csrf": pat.csrf},
        headers={"x-csrf-token": "wrong"},
    )
    assert response.status_code == 403
    assert _outgoing(site) == before


def test_the_header_works_for_a_form_too(site: Site) -> None:
    pat, change = site.browsers["pat"], CHANGES["compose"]
    before = _outgoing(site)
    response = pat.client.post(
        change.path(site), data=change.fields(site), headers={"x-csrf-token": pat.csrf}
    )
    assert response.status_code == 303
    assert _outgoing(site) == before + 1


@pytest.mark.parametrize("route", list(CHANGES))
def test_state_change_with_the_right_csrf_token_works(site: Site, route: str) -> None:
    change = CHANGES[route]
    if route == "logout":  # a session of its own, so the other tests keep theirs
        own = browser(site.a.url, "pat")
        token = own.token
        before = site.store.accounts.session(token) is not None
        response = post(site, change, own.csrf, own.client)
        own.client.close()
        assert (before, site.store.accounts.session(token) is not None) == (True, False)
    else:
        state = change.state(site)
        response = post(site, change, site.browsers[change.who].csrf)
        assert change.state(site) != state
    assert response.status_code == change.done, response.text[:300]


NON_ASCII: dict[str, tuple[dict[str, str], dict[bytes, bytes]]] = {
    "form": ({"csrf": "é"}, {}),
    "header": ({}, {b"x-csrf-token": b"\xe9"}),  # Latin-1 on the wire
}


@pytest.mark.parametrize("api", [False, True], ids=["web", "api"])
@pytest.mark.parametrize("where", list(NON_ASCII))
def test_a_non_ascii_csrf_token_is_refused_not_a_crash(site: Site, where: str, api: bool) -> None:
    """BUG (auth.py, csrf_checked): secrets.compare_digest raises TypeError on non-ASCII str."""
    data, headers = NON_ASCII[where]
    path = f"/api/v1/channels/{site.web_pending}/confirm" if api else "/officers/pat/disable"
    before = _account(site, "pat"), site.store.status(site.web_pending).pairing
    response = httpx.post(
        site.url(path), data=data, headers=headers,
        cookies={"bc_session": site.browsers["ada"].token},
    )  # fmt: skip
    assert response.status_code == 403, response.text[:200]
    assert (_account(site, "pat"), site.store.status(site.web_pending).pairing) == before


def test_a_bearer_token_needs_no_csrf_token(site: Site) -> None:
    token = site.store.accounts.create_token("test", "test", "pat", "script")
    before = _outgoing(site)
    response = httpx.post(
        site.url(f"/api/v1/channels/{site.channel}/messages"), json={"text": "by script"},
        headers={"authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert response.status_code == 201
    assert _outgoing(site) == before + 1


@pytest.mark.parametrize("case", ["no-login-cookie", "mismatch", "other-clients-token", "empty"])
def test_login_without_its_double_submit_token_is_refused(site: Site, case: str) -> None:
    """Even with the right password: no session, no sign-in, no failure counted."""
    before = len(site.store.audit.show(officer="pat", limit=10_000))
    with client(site.a.url) as c, client(site.a.url) as other:
        if case == "no-login-cookie":
            token = form_token(other)
        elif case == "mismatch":
            form_token(c)
            token = "made-up-token"
        elif case == "other-clients-token":
            form_token(c)
            token = form_token(other)
        else:
            token = ""
        response = c.post("/login", data={"name": "pat", "password": PASSWORD,
                                          "form_token": token, "code": ""})  # fmt: skip
        if case == "empty":  # an empty form field counts as missing: a validation error
            assert response.status_code == 422
        else:
            assert response.status_code == 400
            assert "the sign-in form expired" in response.text
        assert session_cookie(response) is None
        assert "bc_session" not in c.cookies
        assert c.get("/channels").status_code == 303
    assert len(site.store.audit.show(officer="pat", limit=10_000)) == before


def test_a_non_ascii_login_form_token_is_refused_not_a_crash(site: Site) -> None:
    """BUG (web.py, login): secrets.compare_digest raises TypeError on non-ASCII str."""
    with client(site.a.url) as c:
        form_token(c)
        response = c.post("/login", data={"name": "pat", "password": PASSWORD,
                                          "form_token": "é", "code": ""})  # fmt: skip
        assert response.status_code == 400, response.text[:200]
        assert session_cookie(response) is None


# -- sessions and cookies -------------------------------------------------------------------


def test_a_planted_session_cookie_is_never_adopted(site: Site) -> None:
    planted = "attacker-chosen-session-value-0123456789abcdef"
    with client(site.a.url) as c:
        c.cookies.set("bc_session", planted, domain="127.0.0.1")
        assert c.get("/channels").headers["location"] == "/login"
        assert c.get("/api/v1/me").status_code == 401
        assert login(c, "pat").status_code == 303
        fresh = c.cookies["bc_session"]
        assert fresh != planted
        assert c.get("/api/v1/me").json()["name"] == "pat"
    replay = httpx.get(site.url("/api/v1/me"), cookies={"bc_session": planted})
    assert replay.status_code == 401


def test_a_new_sign_in_ends_the_previous_session_of_the_client(site: Site) -> None:
    with client(site.a.url) as c:
        assert login(c, "pat").status_code == 303
        first = c.cookies["bc_session"]
        assert login(c, "pat").status_code == 303
        second = c.cookies["bc_session"]
    assert second != first
    assert httpx.get(site.url("/api/v1/me"), cookies={"bc_session": first}).status_code == 401
    old = httpx.get(site.url("/channels"), cookies={"bc_session": first})
    assert (old.status_code, old.headers["location"]) == (303, "/login")
    assert httpx.get(site.url("/api/v1/me"), cookies={"bc_session": second}).status_code == 200


def test_logout_ends_the_session_on_the_server(site: Site) -> None:
    own = browser(site.a.url, "pat")
    token = own.token
    response = own.client.post("/logout", data={"csrf": own.csrf})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert "bc_session" not in own.client.cookies  # the browser was told to drop it
    replay = httpx.get(site.url("/channels"), cookies={"bc_session": token})
    assert (replay.status_code, replay.headers["location"]) == (303, "/login")
    api = httpx.get(site.url("/api/v1/me"), cookies={"bc_session": token})
    assert api.status_code == 401 and "error" in api.json()
    own.client.close()
    records = site.store.audit.show(officer="pat", limit=20)
    assert any(e.record.action == "sign-out" for e in records)


def test_cookie_flags(site: Site) -> None:
    with client(site.a.url) as c:
        form = c.get("/login")
        login_cookie = [h for h in form.headers.get_list("set-cookie") if h.startswith("bc_login=")]
        assert len(login_cookie) == 1
        flags = [f.strip().lower() for f in login_cookie[0].split(";")]
        assert {"httponly", "samesite=strict", "path=/login"} <= set(flags)
        response = login(c, "pat")
        assert response.status_code == 303
        header = session_cookie(response)
        assert header is not None
        value, *attrs = [f.strip() for f in header.split(";")]
        flags = [f.lower() for f in attrs]
        assert {"httponly", "samesite=strict", "path=/"} <= set(flags), header
        assert not any(f.startswith("domain=") for f in flags)  # host-only
        assert len(value.removeprefix("bc_session=")) >= 40  # 32 random bytes, base64


# -- guessing passwords ---------------------------------------------------------------------


def audit_actions(site: Site, name: str) -> list[tuple[str, str]]:
    """(action, detail) of an officer's records, oldest first."""
    records = site.store.audit.show(officer=name, limit=10_000)
    return [(e.record.action, e.record.detail) for e in reversed(records)]


def test_five_wrong_passwords_lock_the_account_until_reset(site: Site) -> None:
    with client(site.a.url, "127.11.0.1") as c:
        for _ in range(5):
            refused = login(c, "locked-one", "not the password")
            assert refused.status_code == 401
            assert "wrong name, password or code" in refused.text
    # The right password, even from another address, is refused while locked.
    with client(site.a.url, "127.12.0.1") as c:
        locked = login(c, "locked-one")
        assert locked.status_code in (401, 429)
        assert "locked" in locked.text
        assert session_cookie(locked) is None
    actions = audit_actions(site, "locked-one")
    failed = [detail for action, detail in actions if action == "sign-in-failed"]
    assert len(failed) == 5
    assert failed[-1].endswith("locked for 15 minutes")
    assert actions[-1][0] == "sign-in-locked"
    assert "sign-in" not in [action for action, _ in actions]
    new_password = "a brand new password"
    done = subprocess.run(
        [sys.executable, "-m", "backchannel.cli", "officer", "reset", "--station",
         str(site.a.folder), "locked-one", "--password-stdin"],
        input=new_password + "\n", capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with client(site.a.url, "127.12.0.1") as c:
        assert login(c, "locked-one", PASSWORD).status_code == 401  # the old one is gone
        # Whoever reset it knows the new password: a second person approves first.
        assert login(c, "locked-one", new_password).status_code == 401
        approve = subprocess.run(
            [sys.executable, "-m", "backchannel.cli", "officer", "approve", "--station",
             str(site.a.folder), "locked-one", "--by", "pat", "--password-stdin"],
            input=PASSWORD + "\n", capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert approve.returncode == 0, approve.stderr
        assert login(c, "locked-one", new_password).status_code == 303


def test_an_address_with_many_failures_is_throttled(site: Site) -> None:
    with client(site.a.url, "127.21.0.1") as c:
        for n in range(20):
            assert login(c, f"nobody-{n}", "not the password").status_code == 401
        # Now even the right password of a real account is refused from this address...
        throttled = login(c, "throttled")
        assert throttled.status_code == 429
        assert session_cookie(throttled) is None
        assert login(c, "pat").status_code == 429
        # ... and a forwarded-for header from an untrusted client changes nothing.
        data = {"name": "throttled", "password": PASSWORD, "form_token": form_token(c), "code": ""}
        spoofed = c.post("/login", data=data, headers={"x-forwarded-for": "203.0.113.9"})
        assert spoofed.status_code == 429
    with client(site.a.url, "127.22.0.1") as c:
        assert login(c, "throttled").status_code == 303  # other addresses are not affected
    unknown = audit_actions(site, "nobody-7")
    assert unknown == [("sign-in-failed", "unknown name")]


# -- TOTP -----------------------------------------------------------------------------------


def test_totp_is_required_and_a_code_works_once(site: Site) -> None:
    uri = grant(site.store, "two-factor", "officer", password=PASSWORD, totp=True)
    assert uri is not None
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    with client(site.a.url, "127.31.0.1") as c:
        assert login(c, "two-factor").status_code == 401  # no code
        now = int(site.store.clock())
        valid = {totp.at(now + drift) for drift in (-30, 0, 30)}
        wrong = next(f"{n:06d}" for n in range(10) if f"{n:06d}" not in valid)
        assert login(c, "two-factor", code=wrong).status_code == 401
        code = totp.now()
        signed = login(c, "two-factor", code=code)
        assert signed.status_code == 303
        assert session_cookie(signed) is not None
    with client(site.a.url, "127.32.0.1") as c:
        replayed = login(c, "two-factor", code=code)
        assert replayed.status_code == 401
        assert session_cookie(replayed) is None
    failed = [d for a, d in audit_actions(site, "two-factor") if a == "sign-in-failed"]
    assert failed == ["wrong or reused code"] * 3


def test_a_non_ascii_totp_code_is_a_counted_failure(site: Site) -> None:
    """BUG (officers.py, _totp_step): a non-ASCII code with the right password crashes (500).

    The crash rolls back the attempt: no failure is counted towards the lockout, none
    towards the address throttle, nothing is audited, and the 500 (against the 401 of a
    wrong password) tells a guesser that the password was right without any code.
    """
    grant(site.store, "two-factor-b", "officer", password=PASSWORD, totp=True)
    with client(site.a.url, "127.33.0.1") as c:
        wrong_password = login(c, "two-factor-b", "not the password", code="12345é")
        assert wrong_password.status_code == 401
    with client(site.a.url, "127.34.0.1") as c:
        right_password = login(c, "two-factor-b", code="12345é")
        assert right_password.status_code == wrong_password.status_code, right_password.text[:200]
        assert session_cookie(right_password) is None
    failed = [d for a, d in audit_actions(site, "two-factor-b") if a == "sign-in-failed"]
    assert failed == ["wrong password", "wrong or reused code"]


# -- without signing in ---------------------------------------------------------------------

API_ROUTES = [
    ("GET", "/api/v1/me"), ("GET", "/api/v1/channels"), ("GET", "/api/v1/channels/{c}"),
    ("POST", "/api/v1/channels/{c}/confirm"), ("POST", "/api/v1/channels/{c}/messages"),
    ("POST", "/api/v1/channels/{c}/acks"), ("GET", "/api/v1/channels/{c}/inbox"),
    ("GET", "/api/v1/channels/{c}/transcript"), ("GET", "/api/v1/channels/{c}/items/{h}"),
    ("GET", "/api/v1/audit"),
]  # fmt: skip
PAGE_ROUTES = [
    ("GET", "/channels"), ("GET", "/channels/{c}"), ("GET", "/channels/{c}/since"),
    ("GET", "/channels/{c}/items/{h}"), ("GET", "/channels/{c}/compose"), ("GET", "/audit"),
    ("GET", "/officers"), ("POST", "/logout"), ("POST", "/channels/{c}/compose"),
    ("POST", "/channels/{c}/items/{h}/ack"), ("POST", "/channels/{c}/confirm"),
    ("POST", "/officers"), ("POST", "/officers/pat/disable"), ("POST", "/officers/pat/reset"),
]  # fmt: skip
FORM = {"text": "t", "to_role": "principal", "name": "x", "role": "reader", "note": "n",
        "password": PASSWORD, "csrf": "x"}  # fmt: skip


def fill(site: Site, path: str) -> str:
    return path.format(c=site.channel, h=site.hostile_in)


@pytest.mark.parametrize("credentials", ["none", "unknown-cookie", "unknown-bearer"])
@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_api_without_a_sign_in_answers_401(
    site: Site, method: str, path: str, credentials: str
) -> None:
    headers = {"authorization": "Bearer bct_unknown"} if credentials == "unknown-bearer" else {}
    cookies = {"bc_session": "unknown"} if credentials == "unknown-cookie" else {}
    json = {"text": "t", "item_hash": site.hostile_in} if method == "POST" else None
    before = _outgoing(site)
    response = httpx.request(method, site.url(fill(site, path)), json=json, headers=headers,
                             cookies=cookies)  # fmt: skip
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"}
    assert _outgoing(site) == before


@pytest.mark.parametrize(("method", "path"), PAGE_ROUTES)
def test_pages_without_a_sign_in_go_to_login(site: Site, method: str, path: str) -> None:
    data = FORM if method == "POST" else None
    response = httpx.request(method, site.url(fill(site, path)), data=data)
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert_strict_csp(response)


def test_the_home_page_leads_to_the_channels(site: Site) -> None:
    response = httpx.get(site.url("/"))
    assert (response.status_code, response.headers["location"]) == (303, "/channels")


@pytest.mark.parametrize("path", ["/peer/v1/envelope", "/peer/v1/envelopes", "/peer/v1/pair"])
def test_peer_endpoints_need_no_sign_in(site: Site, path: str) -> None:
    """They authenticate the envelopes themselves: garbage is a 400, never a 401 or 303."""
    response = httpx.post(site.url(path), content=b"not an envelope")
    assert response.status_code == 400
    assert "error" in response.json()


def test_health_and_the_login_page_are_open(site: Site) -> None:
    assert httpx.get(site.url("/health")).json() == {"status": "ok"}
    login_page = httpx.get(site.url("/login"))
    assert login_page.status_code == 200
    assert_strict_csp(login_page)
