"""Plumbing shared by the console's routes: its per-application state, sessions, the
CSRF check on forms, and rendering pages with the security headers every page gets."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any, Protocol, cast
from urllib.parse import parse_qsl, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.websockets import WebSocket

from openline._signing import Signer, load_secret
from openline.console import views
from openline.console._session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    Session,
    Tokens,
    cookie_options,
)
from openline.domain.calls import LogMetric, LogRecord
from openline.platform import Platform

HERE = Path(__file__).parent
MAX_FORM_BYTES = 16_384
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
NOTICES = {
    "redelivered": "Queued for delivery again.",
    "already_pending": "That delivery is already queued.",
    "analyzed": "Analysis finished.",
    "analysis_failed": "Analysis failed; the reason is shown below.",
    "signed_out": "Signed out.",
}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(
    offset=views.offset,
    when=views.when,
    iso=views.iso,
    duration=views.duration,
    compact=views.compact,
)


class Macros(Protocol):
    """The macros of ``_macros.html`` the routes render alone, for live updates."""

    def log_row(self, line: LogRecord) -> Markup: ...
    def call_facts(self, call: dict, agent_known: bool = True) -> Markup: ...
    def deliveries_panel(
        self, call: dict, deliveries: list[dict], webhooks: dict[str, dict], csrf_token: str
    ) -> Markup: ...
    def analysis_panel(
        self,
        call: dict,
        metrics: list[LogMetric],
        stats: dict[str, int],
        csrf_token: str,
        evaluations: dict[str, Any] | None = None,
    ) -> Markup: ...


# A template module gets its macros as attributes only when it runs: this names their types.
macros = cast(Macros, templates.get_template("_macros.html").module)


class SignInRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class FormRefused(Exception):
    """A POST without a valid CSRF token (or from another site)."""


class Console:
    """What the console keeps per application: its cookie signer, and the platform's
    sessions."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        settings = platform.settings
        self.tokens = Tokens(Signer(load_secret(settings.data_dir, settings.console_secret)))
        self.sessions = platform.sessions


_CREATING = threading.Lock()


def console(request: Request | WebSocket) -> Console:
    state = request.app.state
    found = getattr(state, "console", None)
    if found is None or found.platform is not state.platform:
        with _CREATING:
            found = getattr(state, "console", None)
            if found is None or found.platform is not state.platform:
                found = state.console = Console(state.platform)
    return found


# -- sessions, forms and rendering -------------------------------------------------------


def current_session(request: Request | WebSocket) -> Session | None:
    found = console(request)
    session_id = found.tokens.session_id(request.cookies.get(SESSION_COOKIE))
    if not session_id:
        return None
    key_id = found.sessions.key_of(session_id)
    return None if key_id is None else Session(session_id, key_id)


def signed_in(request: Request) -> Session:
    session = current_session(request)
    if session is None:
        query = request.url.query
        raise SignInRequired(request.url.path + (f"?{query}" if query else ""))
    return session


SignedIn = Annotated[Session, Depends(signed_in)]


def platform_of(request: Request) -> Platform:
    return request.app.state.platform


async def verified_form(request: Request) -> dict[str, str]:
    """The posted form, once its CSRF token matches the cookie's and it came from here."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise FormRefused
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormRefused
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormRefused
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if not console(request).tokens.csrf_ok(request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
        raise FormRefused
    return form


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    tokens = console(request).tokens
    token = tokens.csrf(request.cookies.get(CSRF_COOKIE))
    fresh = None
    if token is None:
        token, fresh = tokens.new_csrf()
    notice = NOTICES.get(request.query_params.get("notice", ""))
    context = {"csrf_token": token, "signed_in": True, "notice": notice} | context
    html = templates.get_template(template).render(context)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if fresh:
        response.set_cookie(CSRF_COOKIE, fresh, **cookie_options(secure(request)))
    return response


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def not_found_page(request: Request, what: str, ident: str, back: str) -> HTMLResponse:
    return page(
        request,
        "message.html",
        status=404,
        heading="Not found",
        message=f"There is no {what} with id {ident}.",
        back=back,
    )
