"""The web UI: server-rendered pages, one small script, no inline code.

Every page goes through the same door as the API (``access/door.py``), so the
authorization matrix and the audit trail apply alike.  Jinja2 escapes every value it prints; the
Content-Security-Policy (see ``app.py``) allows scripts and styles from this
station only.  New items appear by polling ``/channels/{id}/since``, which returns
escaped HTML for the thread.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import FileSystemLoader
from starlette.concurrency import run_in_threadpool

from backchannel.analysis.canary import strip_invisible
from backchannel.protocol import Ack, Message, languages
from backchannel.protocol.items import Role
from backchannel.protocol.languages import Text as LanguageText
from backchannel.station.access import times
from backchannel.station.access.attention import ANSWERED_WITH, NOT_NEWS, Attention, answers
from backchannel.station.access.auth import (
    NEXT_COOKIE,
    Caller,
    CallerDep,
    DoorDep,
    accounts_of,
    login_cookie,
    next_page,
    origin_of,
    over_tls,
    same_secret,
    session_cookie,
    set_session_cookie,
    station_of,
)
from backchannel.station.access.door import DOING, Door, Rendering
from backchannel.station.access.officers import parse_clearances
from backchannel.station.access.policy import ROLES, Action, Officer
from backchannel.station.core.audit import AuditEntry
from backchannel.station.core.errors import (
    Busy,
    Flagged,
    Forbidden,
    StationError,
    TooManyAttempts,
)
from backchannel.station.core.items import short
from backchannel.station.core.records import ChannelStatus, Entry
from backchannel.station.web.params import After

if TYPE_CHECKING:
    from backchannel.station.attachments.desk import AttachmentDesk
    from backchannel.station.attachments.service import Held

# Every page prints and reads times through these (features import them from here).
stamp, parse_deadline, zone_name = times.stamp, times.parse_deadline, times.zone_name
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=[HERE / "templates"])
router = APIRouter(include_in_schema=False)
templates.env.filters["stamp"] = lambda at: stamp(at) if at else "never"
templates.env.filters["minute"] = lambda at: stamp(at, seconds=False)  # a date set by a person
Text = Annotated[str, Form()]  # a form field (optional ones have a default)


def add_templates(directory: Path) -> None:
    """A feature's own templates (they extend ``base.html`` of the shell)."""
    loader = templates.env.loader
    assert isinstance(loader, FileSystemLoader)
    if str(directory) not in loader.searchpath:
        loader.searchpath.append(str(directory))


def page(request: Request, name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    station = station_of(request)
    context.setdefault("who", None)
    who = context["who"]
    needs = needs_of(request.app.state.door, who.officer) if who is not None else Attention()
    named = who is not None or station.config.name_before_sign_in
    context.update(station=station.config, request=request, Action=Action, needs=needs,
                   zone=zone_name(), named=named)  # fmt: skip
    return templates.TemplateResponse(request, name, context, status_code=http_status)


def needs_of(door: Door, officer: Officer) -> Attention:
    """What needs this officer, over every channel (the header's count)."""
    if not officer.may(Action.READ_ITEM):
        return Attention()
    return sum(door.attention.attention(officer, door.due(officer)).values(), Attention())


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- signing in and out ------------------------------------------------------------------


@router.get("/")
def home() -> RedirectResponse:
    return back("/channels")


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return login_form(request)


def login_form(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
    """The sign-in form with a fresh double-submit token; ``error`` comes from us only.

    The page is rendered once per error and kept, the token put in afterwards: a flood
    of sign-ins is answered with this page, and must not cost a template each time.
    """
    nonce = secrets.token_urlsafe(24)
    config = station_of(request).config
    key = (config.party, config.station, config.name_before_sign_in, error[:200], over_tls(request))
    if key not in _LOGIN_PAGES:
        if len(_LOGIN_PAGES) > 64:
            _LOGIN_PAGES.clear()
        rendered = page(request, "login.html", form_token=_NONCE, error=key[3])
        _LOGIN_PAGES[key] = bytes(rendered.body)
    html = _LOGIN_PAGES[key].replace(_NONCE.encode(), nonce.encode())
    response = HTMLResponse(html, status_code=status)
    response.set_cookie(
        login_cookie(request),
        nonce,
        httponly=True,
        samesite="strict",
        secure=over_tls(request),
        path="/login",
    )
    return response


@router.post("/login")
async def login(
    request: Request, name: Text, password: Text, form_token: Text, code: Text = ""
) -> Response:
    address = request.client.host if request.client else "unknown"
    expected = request.cookies.get(login_cookie(request), "")
    if not expected or not same_secret(form_token, expected):
        return login_again(request, "the sign-in form expired; please try again")
    accounts = accounts_of(request)
    try:
        # Throttles and room, on the event loop: a refusal touches no thread or database.
        accounts.gate.check(address, name.strip()[:64])
        with accounts.gate.admitted():
            old = request.cookies.get(session_cookie(request))
            if old:  # never carry a session over a sign-in (fixation)
                await run_in_threadpool(accounts.sign_out, old, origin_of(request, "web"))
            signed = await run_in_threadpool(
                accounts.sign_in, name.strip(), password, code, origin_of(request, "web"), address
            )
    except StationError as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 503 if isinstance(exc, Busy) else 401
        return login_again(request, str(exc), status=status)
    response = back(next_page(request))
    set_session_cookie(request, response, signed.token)
    response.delete_cookie(login_cookie(request), path="/login", secure=over_tls(request))
    response.delete_cookie(NEXT_COOKIE, path="/login", secure=over_tls(request))
    return response


def login_again(request: Request, error: str, status: int = 400) -> HTMLResponse:
    return login_form(request, error, status)


_NONCE = "@@form-token@@"
_LOGIN_PAGES: dict[tuple[str, str, bool, str, bool], bytes] = {}  # station, named, error, TLS


@router.post("/logout")
def logout(request: Request, who: CallerDep) -> RedirectResponse:
    token = request.cookies.get(session_cookie(request), "")
    accounts_of(request).sign_out(token, who.origin)
    response = back("/login")
    response.delete_cookie(session_cookie(request), path="/", secure=over_tls(request))
    return response


# -- channels and items ------------------------------------------------------------------


@router.get("/channels")
def channels(request: Request, who: CallerDep, door: DoorDep) -> HTMLResponse:
    listed = door.channels(who.officer)
    needs = (
        door.attention.attention(who.officer, door.due(who.officer))
        if who.officer.may(Action.READ_ITEM)
        else {}
    )
    return page(request, "channels.html", who=who, channels=listed, per_channel=needs)


@router.get("/channels/{channel}")
def thread(
    request: Request, channel: str, who: CallerDep, door: DoorDep, done: str = "", item: str = ""
) -> HTMLResponse:
    status = door.channel(who.officer, channel)
    readable = who.officer.may(Action.READ_ITEM, ())
    last = door.attention.last_visit(who.officer, status.channel_id) if readable else 0
    shown = door.thread(who.officer, status.channel_id, who.origin, quote=True) if readable else []
    after = max((r.entry.position for r in shown), default=0)
    door.attention.visited(who.officer, status.channel_id, after)
    return page(
        request,
        "thread.html",
        who=who,
        status=status,
        entries=views(door, status, shown, who.officer, last, desk=desk_of(request)),
        first_unread=first_unread(shown, last),
        after=after,
        readable=readable,
        done=DONE.get(done, ""),
        done_item=item if HASH.fullmatch(item) else "",
    )


# What the thread says was just done (``?done=``): our words, never the query's.
DONE = {
    "acknowledged": "Acknowledged: the counterpart is told that you have read it.",
    "sent": "Sent: it is queued and delivered as soon as the counterpart's station answers.",
}
HASH = re.compile(r"[0-9a-f]{64}")


def first_unread(shown: list[Rendering], last: int) -> int:
    """The position of the first item that arrived since the officer's last visit (0:
    none, or a first visit, when everything would be new)."""
    if not last:
        return 0
    return next(
        (r.entry.position for r in shown
         if r.entry.direction == "in" and r.entry.position > last
         and r.entry.item_type not in NOT_NEWS),
        0,
    )  # fmt: skip


@router.get("/channels/{channel}/since")
def since(
    request: Request, channel: str, who: CallerDep, door: DoorDep, after: After = 0
) -> Response:
    """New items after a position, as escaped HTML for the thread (the live feed's
    fallback, polled by app.js); the officer has now seen them."""
    shown = door.thread(who.officer, channel, who.origin, after=after, quote=True)
    if not shown:
        return Response(status_code=204)
    status = door.channel(who.officer, channel)
    newest = max(r.entry.position for r in shown)
    door.attention.visited(who.officer, status.channel_id, newest)
    entries = views(door, status, shown, who.officer, desk=desk_of(request))
    response = page(request, "_entries.html", who=who, entries=entries)
    response.headers["x-after"] = str(newest)
    return response


@router.get("/channels/{channel}/items/{item_hash}")
def item(
    request: Request, channel: str, item_hash: str, who: CallerDep, door: DoorDep,
    language: Annotated[str, Query(max_length=35)] = "", side: bool = False,
) -> HTMLResponse:  # fmt: skip
    """An item; one in several languages in the reader's language first (``language``:
    this one), its other texts a click away, or all ``side`` by side."""
    shown = door.item(who.officer, channel, item_hash, who.origin, language=language)
    status, entry = door.channel(who.officer, channel), shown.entry
    may_ack = (
        entry.direction == "in"
        and not entry.acknowledged
        and isinstance(entry.item, Message)
        and who.officer.may(Action.ACKNOWLEDGE, entry.clearances)
    )
    return page(
        request,
        "item.html",
        who=who,
        status=status,
        e=view(door, status, shown, files=files_of(desk_of(request), who.officer, status, entry)),
        may_ack=may_ack,
        side=side and len(shown.texts) > 1,
        capacity=(
            door.capacity(who.officer, status.channel_id, entry.envelope_hash)
            if who.officer.may(Action.ATTRIBUTE_LEAK)
            else None
        ),
    )


@router.post("/channels/{channel}/items/{item_hash}/ack")
def acknowledge(
    channel: str, item_hash: str, who: CallerDep, door: DoorDep, note: Text = "", to: Text = ""
) -> RedirectResponse:
    """Acknowledge from the item's page, or (``to=thread``) in one step from the thread,
    which then says so and shows the item where it was."""
    door.acknowledge(who.officer, channel, item_hash, who.origin, note)
    if to != "thread" or not HASH.fullmatch(item_hash):
        return back(f"/channels/{channel}/items/{item_hash}")
    return back(f"/channels/{channel}?done=acknowledged&item={item_hash}#i-{item_hash[:16]}")


@router.get("/channels/{channel}/compose")
def compose_form(
    request: Request, channel: str, who: CallerDep, door: DoorDep, reply_to: str = "",
    quote: str = "",
) -> HTMLResponse:  # fmt: skip
    """The compose form: the officer's draft of it if they left one; a reply names the
    item it answers (shown through the door), a quote starts with its words."""
    _require(who.officer, Action.SEND_ITEM)
    status = door.channel(who.officer, channel)
    form = door.attention.draft(who.officer, draft_of(status.channel_id))
    answering = None
    if HASH.fullmatch(reply_to):
        answering = view(door, status, door.item(who.officer, channel, reply_to, who.origin))
        form["reply_to"] = reply_to
        form.setdefault("to_role", _addressable(answering["from_role"]))
        if quote and not form.get("text"):
            form["text"] = quoted(answering["text"])
    return page(request, "compose.html", who=who, status=status, form=form, roles=ROLES,
                error="", answering=answering, uploads=())  # fmt: skip


def draft_of(channel_id: str, form: str = "compose") -> str:
    """The name of the draft of a channel's form: compose, proposal or release."""
    return f"{form}:{channel_id}"


def quoted(text: str) -> str:
    """The start of a quoted message, as a reply begins: '> ' before each line."""
    lines = strip_invisible(text).splitlines()[:20]
    return "\n".join(f"> {line}" for line in lines) + "\n\n"


def _addressable(role: str) -> str:
    return role if role in ("principal", "officer", "reader") else "principal"


@router.post("/channels/{channel}/compose")
async def compose(request: Request, channel: str, who: CallerDep, door: DoorDep) -> Response:
    _require(who.officer, Action.SEND_ITEM)
    form = {k: str(v) for k, v in (await request.form()).multi_items() if k != "clearance"}
    labels = [str(v) for v in (await request.form()).getlist("clearance")]
    uploads = tuple(str(v) for v in (await request.form()).getlist("attachment"))
    desk = desk_of(request)
    try:
        deadline = parse_deadline(form.get("deadline", ""))
        await run_in_threadpool(
            lambda: desk.send(
                who.officer,
                channel,
                who.origin,
                uploads,
                text=form.get("text", ""),
                to_role=_role(form.get("to_role", "")),
                language=form.get("language", "en"),
                clearances=parse_clearances(labels),
                ack_deadline=deadline,
                reply_to=form.get("reply_to", ""),
                **second_text(form),
            )
        )
    except Forbidden:
        raise
    except StationError as exc:
        status = await run_in_threadpool(door.channel, who.officer, channel)
        flagged = exc.flags if isinstance(exc, Flagged) else ()
        return page(
            request,
            "compose.html",
            422,
            who=who,
            status=status,
            form=form,
            chosen=labels,
            roles=ROLES,
            error="" if flagged else str(exc),
            flags=flagged,
            uploads=uploads,  # the files staged for it stay attached
        )
    sent = await run_in_threadpool(door.channel, who.officer, channel)
    await run_in_threadpool(door.attention.drop_draft, who.officer, draft_of(sent.channel_id))
    return back(f"/channels/{sent.channel_id}?done=sent")


def second_text(form: dict[str, str]) -> dict[str, Any]:
    """The compose form's second text, its language and which text prevails
    ("same-force", "first" or "second"), as ``Door.send`` takes them."""
    text = form.get("other_text", "")
    if not text.strip():
        return {"despite_flags": bool(form.get("despite_flags"))}
    other = form.get("other_language", "").strip()
    said = form.get("authority", languages.SAME_FORCE)
    authority = {"first": form.get("language", "en"), "second": other}.get(said, said)
    return {
        "others": (LanguageText(other, text),),
        "authority": authority,
        "despite_flags": bool(form.get("despite_flags")),
    }


@router.post("/channels/{channel}/confirm")
def confirm(channel: str, who: CallerDep, door: DoorDep) -> RedirectResponse:
    door.confirm(who.officer, channel, who.origin)
    return back("/channels")


# -- audit and officers ------------------------------------------------------------------


@router.get("/audit")
def audit(
    request: Request,
    who: CallerDep,
    door: DoorDep,
    officer: str = "",
    item: str = "",
    since: str = "",
    until: str = "",
) -> HTMLResponse:
    _require(who.officer, Action.READ_AUDIT)
    trail = door.station.audit
    try:
        item_hash = bytes.fromhex(item) if item else None
        rows = trail.show(officer or None, item_hash, _when(since), _when(until))
        error = ""
    except (ValueError, StationError) as exc:
        rows, error = [], str(exc)
    filters = {"officer": officer, "item": item, "since": since, "until": until}
    return page(
        request,
        "audit.html",
        who=who,
        rows=[audit_view(r) for r in rows],
        verdict=trail.verify(),
        error=error,
        filters=filters,
    )


@router.get("/officers")
def officers_page(request: Request, who: CallerDep) -> HTMLResponse:
    return officers(request, who)


def officers(request: Request, who: Caller, message: str = "") -> HTMLResponse:
    """The officers page; ``message`` comes from us only (never from the query)."""
    _require(who.officer, Action.MANAGE_OFFICERS)
    accounts = accounts_of(request).accounts()
    return page(
        request,
        "officers.html",
        who=who,
        accounts=accounts,
        roles=ROLES,
        message=message[:300],
        now=station_of(request).clock(),
    )


@router.post("/officers")
def add_officer(
    request: Request,
    who: CallerDep,
    name: Text,
    role: Text,
    password: Text,
    clearances: Text = "",
) -> Response:
    _require(who.officer, Action.MANAGE_OFFICERS)
    accounts = accounts_of(request)
    try:
        accounts.add(
            who.officer.name,
            who.origin,
            name.strip(),
            role=role,
            clearances=parse_clearances(clearances),
            password=password,
            on_host=False,
        )
    except StationError as exc:
        return officers(request, who, message=f"not added: {exc}")
    return back("/officers")


@router.post("/officers/{name}/disable")
def disable_officer(request: Request, name: str, who: CallerDep) -> RedirectResponse:
    _require(who.officer, Action.MANAGE_OFFICERS)
    accounts_of(request).disable(who.officer.name, who.origin, name)
    return back("/officers")


@router.post("/officers/{name}/reset")
def reset_officer(request: Request, name: str, who: CallerDep, password: Text) -> Response:
    _require(who.officer, Action.MANAGE_OFFICERS)
    try:
        accounts_of(request).reset(who.officer.name, who.origin, name, password)
    except StationError as exc:
        return officers(request, who, message=f"not reset: {exc}")
    return back("/officers")


@router.get("/approvals")
def approvals_page(request: Request, who: CallerDep) -> HTMLResponse:
    return approvals(request, who)


def approvals(request: Request, who: Caller, message: str = "") -> HTMLResponse:
    """Grants waiting for a second person (grants.py); ``message`` comes from us only."""
    _require(who.officer, Action.APPROVE_GRANTS)
    grants = accounts_of(request).pending_grants()
    return page(request, "approvals.html", who=who, grants=grants, message=message[:300])


@router.post("/approvals/{name}")
def approve_grant(request: Request, name: str, who: CallerDep, what: Text = "") -> Response:
    _require(who.officer, Action.APPROVE_GRANTS)
    try:
        accounts_of(request).approve(who.officer, who.origin, name, seen=what)
    except StationError as exc:
        return approvals(request, who, message=f"not approved: {exc}")
    return back("/approvals")


# -- what the templates show -------------------------------------------------------------


def views(
    door: Door, status: ChannelStatus, shown: list[Rendering], officer: Officer | None = None,
    last: int = 0, desk: AttachmentDesk | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The items as the thread shows them; for ``officer``, what they may do with each
    in one step, and (``last``: their last visit) which are new to them; with ``desk``,
    the files of each document and where they stand."""
    return [
        view(door, status, r, officer, last,
             files=files_of(desk, officer, status, r.entry) if desk and officer else None)
        for r in shown
    ]  # fmt: skip


def view(
    door: Door, status: ChannelStatus, shown: Rendering, officer: Officer | None = None,
    last: int = 0, files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """An item as the templates show it: the door's words, and the fields around them.
    ``files`` (``files_of``): a document's files; without them (the live feed's new
    items) the thread says how many there are and links to the item."""
    e, item, now = shown.entry, shown.entry.item, door.station.clock()
    deadline = item.ack_deadline if isinstance(item, Message) else None
    overdue = deadline is not None and not e.acknowledged and deadline.timestamp() < now
    ours, message = e.direction == "out", isinstance(item, Message)
    answered = shown.quoted.item if message and shown.quoted is not None else None
    return {
        "entry": e, "kind": shown.kind, "text": shown.text, "deadline": deadline,
        "overdue": overdue, "when": stamp(e.created_at),
        "from_role": getattr(item, "from_role", ""), "to_role": getattr(item, "to_role", ""),
        "sender": getattr(item, "from_name", ""),
        "language": getattr(item, "language", ""), "channel": status.channel_id,
        "dir": direction_of(getattr(item, "language", "")),
        "author": f"from us ({door.station.config.party})" if ours else f"from {status.peer_party}",
        "refers": shown.quoted.envelope_hash if shown.quoted is not None else (
            item.item_hash.hex() if isinstance(item, Ack) else ""
        ),
        "replying": short(answered.text) if isinstance(answered, Message) else "",
        "page": door.station.hooks.item(e.item_type).page(item),
        "unread": bool(last) and not ours and e.position > last,
        "may_ack": officer is not None and message and not ours and not e.acknowledged
                   and officer.may(Action.ACKNOWLEDGE, e.clearances),
        "may_reply": officer is not None and message and not ours
                     and officer.may(Action.SEND_ITEM),
        "files": files or [], "file_count": len(getattr(item, "attachments", ())),
        "others": [text_view(t) for t in shown.texts[1:]], "authority": shown.authority,
        "texts": [text_view(t) for t in shown.texts],
    }  # fmt: skip


def text_view(t: LanguageText) -> dict[str, str]:
    """One text of an item in several languages, as the pages show it."""
    return {"language": t.language, "name": languages.name(t.language), "text": t.text,
            "dir": direction_of(t.language)}  # fmt: skip


def desk_of(request: Request) -> AttachmentDesk:
    desk: AttachmentDesk = request.app.state.attachment_desk
    return desk


# Files the preview route (``.../attachments/{n}/preview``) draws as a PNG.
PREVIEWED = frozenset({"application/pdf", "image/png", "image/jpeg"})


def files_of(
    desk: AttachmentDesk, officer: Officer, status: ChannelStatus, entry: Entry
) -> list[dict[str, Any]]:
    """A document's files as the pages list them (none for other items): asked of the
    desk, which checks that the officer may read the item."""
    if entry.item_type != "document":
        return []
    held = desk.held(officer, status.channel_id, entry.envelope_hash)
    base = f"/channels/{status.channel_id}/items/{entry.envelope_hash}/attachments"
    return [file_view(h, f"{base}/{n}", theirs=entry.direction == "in") for n, h in enumerate(held)]


def file_view(held: Held, url: str, theirs: bool) -> dict[str, Any]:
    """One file: its reference's metadata (the sender's, printed escaped), its state,
    and a download and preview only once its bytes are here whole."""
    ref, state = held.ref, held.state
    if state == "refused":
        said = f"refused {'here' if theirs else 'by the counterpart'}: {held.detail}"
    elif state in ("receiving", "uploading"):
        said = f"{held.held} of {ref.chunks} chunks here"
    else:
        said = FILE_STATES.get(state, "")
    return {
        "name": ref.name, "media_type": ref.media_type, "size": ref.size,
        "sha256": ref.digest.hex(), "state": state, "said": said, "ready": held.ready,
        "url": url if held.ready else "",
        "preview": f"{url}/preview" if held.ready and ref.media_type in PREVIEWED else "",
        "tone": "ok" if state in ("complete", "sent") else "bad" if state == "refused" else "",
    }  # fmt: skip


def size_text(n: int) -> str:
    """A size as people read it, as app.js writes it too: "142 B", "1.5 KiB", "100 MiB"."""
    if n < 1024:
        return f"{n} B"
    value, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


templates.env.filters["bytes"] = size_text


# What each state of a file means, as the item's page says it (refused and arriving
# files say more: why, and how much is here).
FILE_STATES = {
    "staged": "staged here, not sent yet",
    "sending": "kept here; being sent to the counterpart",
    "sent": "the counterpart holds all of it",
    "complete": "all here, checked against its SHA-256",
}


# Languages written right to left (their BCP 47 primary subtags).
RIGHT_TO_LEFT = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "ku", "ps", "sd", "ug", "ur", "yi"}
)


def direction_of(language: str) -> str:
    """The text direction of a language tag: ``rtl`` for Arabic, Hebrew, Persian …; else
    ``auto`` (the browser decides from the text)."""
    return "rtl" if language.split("-", maxsplit=1)[0].lower() in RIGHT_TO_LEFT else "auto"


def audit_view(r: AuditEntry) -> dict[str, Any]:
    rec = r.record
    return {
        "seq": r.seq,
        "when": stamp(r.at),
        "officer": rec.officer,
        "action": rec.action,
        "item": (rec.item_hash or b"").hex(),
        "channel": rec.channel_id or "",
        "origin": rec.origin,
        "detail": rec.detail,
    }


def _when(value: str) -> datetime | None:
    return parse_deadline(value) if value else None


def _role(value: str) -> Role:
    if value not in ROLES:
        raise StationError(f"choose a role to address: {', '.join(ROLES)}")
    return value


def _require(officer: Officer, action: Action) -> None:
    if not officer.may(action):
        raise Forbidden(f"your role ({officer.role}) does not allow {DOING[action]}")


@router.get("/due")
def due(request: Request, who: CallerDep, door: DoorDep) -> HTMLResponse:
    items = door.due(who.officer)
    now = door.station.clock()
    names = {c.channel_id: c.peer_party for c in door.channels(who.officer)}
    return page(
        request,
        "due.html",
        who=who,
        items=items,
        now=now,
        names=names,
        stamp=stamp,
        principal=who.officer.role == "principal",
        answers=lambda d: answers(who.officer, d),
        answered_with=lambda d: ANSWERED_WITH.get(d.kind, Action.ACKNOWLEDGE),
    )
