"""The console's pages: agents, calls, a call's tabs, the playground, deployments.

Pages are rendered on the server from the store (no HTTP round trips to the API); a few
small JS modules make them live. Everything under ``/console`` except the sign-in page
and the static files needs a signed-in session (see ``_session``); every POST needs the
CSRF token.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup
from starlette.routing import Route

from openline.analysis.runner import analysis_awaited
from openline.api.auth import client_address
from openline.api.errors import ApiError
from openline.console import _passthrough, alerts, fleet, timeline, views
from openline.console._passthrough import PassThrough
from openline.console._session import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL_S,
    cookie_options,
)
from openline.console._web import (
    HERE,
    FormRefused,
    SignedIn,
    SignInRequired,
    console,
    current_session,
    macros,
    not_found_page,
    page,
    platform_of,
    secure,
    signed_in,
    verified_form,
)
from openline.domain.calls import (
    TRANSCRIPT_KINDS,
    CallStatus,
    EndReason,
    LogEvent,
    LogMetric,
    ToolCall,
    Turn,
)
from openline.domain.log_levels import LEVELS, at_least
from openline.domain.shapes import transcript_order
from openline.platform import Platform
from openline.store.blobs import recording_key
from openline.store.calls import CallFilter
from openline.store.deployments import LogQuery
from openline.store.pagination import Page, PageRequest

PAGE_SIZE = 25
PLAYGROUND_TOKEN_TTL_S = 60  # only opens the websocket: a call may outlast it
LOG_PAGE = 500
TIMELINE_LOGS = 5000  # log lines drawn on a call's timeline (the Logs tab pages them all)
RUNTIME = ("stdout", "stderr", "system")  # a deployment's log streams other than the build

router = APIRouter(prefix="/console", include_in_schema=False)


# -- wiring ------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Serve the console at ``/console`` (and send ``/`` there)."""
    app.include_router(router)
    app.include_router(fleet.router)
    app.include_router(alerts.router)
    app.router.routes.append(
        Route("/console/api/{path:path}", PassThrough(), methods=["GET"], include_in_schema=False)
    )
    app.mount("/console/static", _Static(directory=HERE / "static"), name="console-static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, error: SignInRequired) -> Response:
        target = "/console/sign-in?" + urlencode({"next": error.next_url})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(FormRefused)
    async def _refused(request: Request, _: FormRefused) -> Response:
        return page(
            request,
            "message.html",
            status=403,
            signed_in=await asyncio.to_thread(current_session, request) is not None,
            heading="Form refused",
            message="This form was not sent from a page of this console, or it has expired. "
            "Reload the page and try again.",
        )


class _Static(StaticFiles):
    """Static files, revalidated on every use so an upgrade is never half-cached."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


# -- sign in and out ---------------------------------------------------------------------


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/console/agents") -> HTMLResponse:
    return page(request, "sign_in.html", signed_in=False, next=_local(next), error=None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await verified_form(request)
    key = form.get("key", "").strip()
    target = _local(form.get("next", ""))
    try:
        key_id = await request.app.state.auth.check_api_key(key, client_address(request))
    except ApiError as refused:
        error = (
            str(refused).capitalize()
            if refused.status == 429
            else "That API key is not valid here."
        )
        return page(
            request,
            "sign_in.html",
            status=refused.status,
            signed_in=False,
            next=target,
            error=error,
        )
    found = console(request)
    session_id, expires_at = await asyncio.to_thread(found.sessions.start, key_id, SESSION_TTL_S)
    response = RedirectResponse(target, status_code=303)
    options = cookie_options(secure(request))
    cookie = found.tokens.session_cookie(session_id, expires_at.timestamp())
    response.set_cookie(SESSION_COOKIE, cookie, **options)
    response.set_cookie(CSRF_COOKIE, found.tokens.new_csrf()[1], **options)  # one per session
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    await verified_form(request)
    session = await asyncio.to_thread(current_session, request)
    if session is not None:  # ended here, not only forgotten by this browser
        await asyncio.to_thread(console(request).sessions.end, session.id)
    response = RedirectResponse("/console/sign-in?notice=signed_out", status_code=303)
    options = cookie_options(secure(request))
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(
            name, path=options["path"], httponly=True, samesite="strict", secure=options["secure"]
        )
    return response


@router.post("/access-token")
async def access_token(request: Request, session: SignedIn) -> JSONResponse:
    """A short-lived token for the playground's call websocket, minted for the key that
    signed in: the page never holds the key, and no cookie can open a call for another
    site."""
    await verified_form(request)
    tokens = request.app.state.auth.tokens
    token = tokens.mint(session.key_id, PLAYGROUND_TOKEN_TTL_S, frozenset({"agent"}))
    return JSONResponse({"token": token}, headers={"Cache-Control": "no-store"})


def _local(target: str) -> str:
    """Only paths inside the console may be redirected to after sign-in."""
    if target.startswith("/console/") and not target.startswith("/console//"):
        return target
    return "/console/agents"


# -- agents --------------------------------------------------------------------------------


@router.get("/agents")
def agents_page(request: Request, _: SignedIn) -> HTMLResponse:
    ol = platform_of(request)
    return page(
        request,
        "agents.html",
        section="agents",
        agents=ol.agents.list(),
        stats=ol.calls.agent_stats(),
        webhooks={hook["id"]: hook for hook in ol.webhooks.list()},
        live_deployments=_live_deployments(ol),
    )


@router.get("/agents/{agent_id}")
def agent_page(request: Request, agent_id: str, _: SignedIn) -> HTMLResponse:
    ol = platform_of(request)
    agent = ol.agents.get(agent_id)
    if agent is None:
        return not_found_page(request, "agent", agent_id, "/console/agents")
    recent = _calls(ol, CallFilter(agent_id=agent_id), PageRequest(limit=10))
    webhook = ol.webhooks.get(agent["webhook_id"]) if agent["webhook_id"] else None
    live = ol.deployment_repo.live(agent_id)
    live_logs: list[dict] = []
    if live is not None:
        live_logs, _more = ol.deployment_logs.lines(
            live["id"], LogQuery(streams=RUNTIME), 50, tail=True
        )
    return page(
        request,
        "agent.html",
        section="agents",
        agent=agent,
        webhook=webhook,
        env_names=ol.env_vars.names(agent_id),
        deployments=ol.deployment_repo.for_agent(agent_id, 20),
        live=live,
        live_logs=live_logs,
        live_after=max([0, *(line["seq"] for line in live_logs)]),
        calls=recent.rows,
    )


def _live_deployments(ol: Platform) -> dict[str, dict]:
    return {row["agent_id"]: row for row in ol.deployment_repo.all_live()}


# -- calls ---------------------------------------------------------------------------------


@dataclass
class _Filters:
    agent: str = ""
    deployment: str = ""
    status: str = ""
    end_reason: str = ""
    after: str = ""
    before: str = ""
    q: str = ""
    name: str = ""
    metric: str = ""
    metric_min: str = ""
    metric_max: str = ""
    metric_value: str = ""

    def query(self) -> dict[str, str]:
        return {key: value for key, value in vars(self).items() if value}


@router.get("/calls")
def calls_page(
    request: Request,
    _: SignedIn,
    agent: str = "",
    deployment: str = "",
    status: str = "",
    end_reason: str = "",
    after: str = "",
    before: str = "",
    q: Annotated[str, Query(max_length=200)] = "",
    name: Annotated[str, Query(max_length=200)] = "",
    metric: Annotated[str, Query(max_length=200)] = "",
    metric_min: str = "",
    metric_max: str = "",
    metric_value: Annotated[str, Query(max_length=200)] = "",
    starting_after: str = "",
    ending_before: str = "",
) -> HTMLResponse:
    ol = platform_of(request)
    shown = _Filters(
        agent,
        deployment.strip(),
        status,
        end_reason,
        after,
        before,
        q.strip(),
        name.strip(),
        metric.strip(),
        metric_min.strip(),
        metric_max.strip(),
        metric_value,
    )
    problems: list[str] = []
    statuses = [s.value for s in CallStatus]
    end_reasons = [r.value for r in EndReason]
    if shown.status and shown.status not in statuses:
        problems.append(f"unknown status {shown.status!r}")
        shown.status = ""
    if shown.end_reason and shown.end_reason not in end_reasons:
        problems.append(f"unknown end reason {shown.end_reason!r}")
        shown.end_reason = ""
    started_after = _utc_input(shown.after, "Started from", problems)
    started_before = _utc_input(shown.before, "until", problems)
    lowest = _number_input(shown.metric_min, "Metric value from", problems)
    below = _number_input(shown.metric_max, "below", problems)
    if not shown.metric and (lowest, below, shown.metric_value) != (None, None, ""):
        problems.append("a metric value needs the metric's name")
    search = CallFilter(
        agent_id=shown.agent or None,
        deployment_id=shown.deployment or None,
        status=shown.status or None,
        end_reason=shown.end_reason or None,
        started_after=started_after,
        started_before=started_before,
        text=shown.q or None,
        name=shown.name or None,
        metric=shown.metric or None,
        metric_min=lowest,
        metric_max=below,
        metric_value=shown.metric_value or None,
    )
    found = _calls(
        ol, search, PageRequest(PAGE_SIZE, starting_after or None, ending_before or None)
    )
    rows = found.rows
    base = shown.query()
    older = newer = None
    if rows:
        if found.has_more or ending_before:
            older = "/console/calls?" + urlencode(base | {"starting_after": rows[-1]["id"]})
        if starting_after or (ending_before and found.has_more):
            newer = "/console/calls?" + urlencode(base | {"ending_before": rows[0]["id"]})
    return page(
        request,
        "calls.html",
        section="calls",
        agents=ol.agents.list(),
        statuses=statuses,
        end_reasons=end_reasons,
        f=shown,
        filtered=bool(base),
        problems=problems,
        rows=rows,
        older_url=older,
        newer_url=newer,
    )


def _calls(ol: Platform, where: CallFilter, at: PageRequest) -> Page:
    """A page of calls, newest first, each with how many turns it has (``turn_count``)."""
    found = ol.calls.list(where, at)
    counts = ol.calls.turn_counts([row["id"] for row in found.rows])
    rows = [row | {"turn_count": counts.get(row["id"], 0)} for row in found.rows]
    return Page(rows=rows, has_more=found.has_more)


def _utc_input(value: str, label: str, problems: list[str]) -> datetime | None:
    """A ``datetime-local`` field (or RFC 3339) read as UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        problems.append(f"{label}: not a date and time")
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _number_input(value: str, label: str, problems: list[str]) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        problems.append(f"{label}: not a number")
        return None
    return number


# -- one call ------------------------------------------------------------------------------

TABS = (
    ("transcript", "Transcript"),
    ("logs", "Logs"),
    ("timeline", "Timeline"),
    ("webhooks", "Webhooks"),
    ("analysis", "Analysis"),
)


@router.get("/calls/{call_id}")
def call_page(
    request: Request,
    call_id: str,
    _: SignedIn,
    tab: str = "",
    level: str = "",
    q: Annotated[str, Query(max_length=200)] = "",
    after: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    recording = _passthrough.route_exists(request.app, f"/agents/calls/{call_id}/audio")
    tab = "timeline" if tab == "recording" else tab  # the tab's name before the timeline
    context = call_context(platform_of(request), call_id, tab, level, q.strip(), after, recording)
    if context is None:
        return not_found_page(request, "call", call_id, "/console/calls")
    return page(request, "call.html", section="calls", **context)


def call_context(
    ol: Platform,
    call_id: str,
    tab: str = "",
    level: str = "",
    q: str = "",
    after: int = 0,
    has_recording: bool = False,
) -> dict[str, Any] | None:
    """Everything the call page shows (kept apart from the request so it can be timed)."""
    call, facts = ol.calls.with_facts(call_id, TRANSCRIPT_KINDS)
    if call is None:
        return None
    # A voice call opens on its timeline (the recording with the turns), a text call on
    # its transcript. The transcript (thousands of entries on a long call) comes with the
    # page only when the page opens on it; otherwise the page asks for it when its tab is
    # first shown (``call_transcript``).
    recorded = has_recording and ol.blobs.size(recording_key(call_id)) is not None
    tab = tab if tab in dict(TABS) else "timeline" if recorded else "transcript"
    shown = views.entries(facts) if tab == "transcript" else []
    levels = at_least(level)
    logs, more = ol.calls.logs(call_id, levels, q or None, after, LOG_PAGE)
    logs_more = None
    if more:
        params = {"tab": "logs", "level": level, "q": q, "after": logs[-1].seq}
        logs_more = f"/console/calls/{call_id}?" + urlencode({k: v for k, v in params.items() if v})
    deliveries, hooks = _deliveries(ol, call_id)
    metrics = [fact for fact in facts if type(fact) is LogMetric]
    counted = Counter(type(fact) for fact in facts)
    stats = {
        "turns": counted[Turn],
        "tools": counted[ToolCall],
        "events": counted[LogEvent],
        "metrics": counted[LogMetric],
    }
    entry_count = len(shown) if tab == "transcript" else len(transcript_order(facts))
    counts = {"transcript": entry_count, "logs": None, "webhooks": len(deliveries)}
    api = f"/console/api/agents/calls/{call_id}"
    return {
        "call": call,
        "agent_known": ol.agents.get(call["agent_id"]) is not None,
        "tab": tab,
        "tabs": [{"id": key, "label": label, "count": counts.get(key)} for key, label in TABS],
        "entries_html": Markup("".join(entry.html for entry in shown)),
        "entry_count": entry_count,
        "last_seq": max((fact.seq for fact in facts), default=0),
        "rev": max((fact.rev for fact in facts), default=-1),
        "levels": LEVELS,
        "level": level if levels else "",
        "logs_query": q,
        "logs": logs,
        # A live call appends lines past the last one shown; a filtered or paged view
        # does not (its lines are not "the next ones").
        "logs_after_live": logs[-1].seq if logs else after,
        "logs_more_url": logs_more,
        "deliveries": deliveries,
        "webhooks_pending": timeline.deliveries_under_way(deliveries),
        "webhooks": hooks,
        "metrics": sorted(metrics, key=lambda metric: (metric.timestamp, metric.seq)),
        "stats": stats,
        "evaluations": _evaluations(ol, call),
        "recording_url": f"{api}/audio" if recorded else None,
        "peaks_url": f"{api}/audio/peaks" if recorded else None,
        "timeline_logs": TIMELINE_LOGS,
    }


def _evaluations(ol: Platform, call: dict) -> dict[str, Any]:
    """The call's judged metric results, by metric name, each with its metric's display
    name; and how many metrics its agent has attached now (for the empty state)."""
    results = ol.metric_results.of_call(call["id"])
    names: dict[str, str | None] = {}
    for result in results:
        if result["metric_id"] not in names:
            metric = ol.metrics.get(result["metric_id"])
            names[result["metric_id"]] = metric.get("display_name") if metric else None
    return {
        "results": [
            result | {"display_name": names.get(result["metric_id"])} for result in results
        ],
        "attached": len(ol.metrics.of_agent(call["agent_id"])),
    }


def _deliveries(ol: Platform, call_id: str) -> tuple[list[dict], dict[str, dict]]:
    rows: list[dict] = []
    hooks: dict[str, dict] = {}
    for webhook_id in ol.calls.webhooks_told(call_id):
        found = ol.delivery_log.deliveries(webhook_id, PageRequest(limit=100), call_id=call_id)
        rows += found.rows
        hook = ol.webhooks.get(webhook_id)
        if hook is not None:
            hooks[webhook_id] = {k: hook[k] for k in ("id", "url", "display_name", "disabled_at")}
    attempts = ol.delivery_log.attempts([row["id"] for row in rows]) if rows else {}
    for row in rows:
        row["attempts_log"] = attempts.get(row["id"], [])
    rows.sort(key=lambda row: (row["created_at"], row["id"]))
    return rows, hooks


@router.get("/calls/{call_id}/transcript")
def call_transcript(request: Request, call_id: str, _: SignedIn) -> JSONResponse:
    """The Transcript tab's entries, rendered as the page renders them, for a page that
    opened on another tab."""
    call, facts = platform_of(request).calls.with_facts(call_id, TRANSCRIPT_KINDS)
    if call is None:
        return JSONResponse({"error": {"code": "not_found", "message": "no such call"}}, 404)
    entries = [{"key": e.key, "t": e.t, "seq": e.seq, "html": e.html} for e in views.entries(facts)]
    return JSONResponse({"entries": entries}, headers={"Cache-Control": "no-store"})


@router.get("/calls/{call_id}/timeline")
def call_timeline(request: Request, call_id: str, _: SignedIn, level: str = "") -> JSONResponse:
    """Every item of the call's Timeline tab (``console/timeline.py``); a live call's page
    then receives what changes with its live updates."""
    ol = platform_of(request)
    call, facts = ol.calls.with_facts(call_id, TRANSCRIPT_KINDS)
    if call is None:
        return JSONResponse({"error": {"code": "not_found", "message": "no such call"}}, 404)
    lines, more = ol.calls.logs(call_id, at_least(level), None, 0, TIMELINE_LOGS)
    body = timeline.timeline(call, facts, lines, ol.delivery_log.states_of_call(call_id))
    body["logs_cut"] = more
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/calls/{call_id}/live")
def call_live(
    request: Request,
    call_id: str,
    _: SignedIn,
    since_rev: Annotated[int, Query(ge=-1)] = -1,
    logs_after: Annotated[int, Query(ge=0)] = 0,
    level: str = "",
    final: bool = False,
    webhooks: str = "",
) -> JSONResponse:
    """What changed on a call since ``since_rev``, rendered as the page renders it: the
    live tail tells the page *that* something changed, this tells it *what*. The webhook
    deliveries' markers come only when they differ from those the page has (``webhooks``:
    the ``webhooks_digest`` it was last sent)."""
    ol = platform_of(request)
    call, changed = ol.calls.with_facts(call_id, TRANSCRIPT_KINDS, since_rev)
    if call is None:
        return JSONResponse({"error": {"code": "not_found", "message": "no such call"}}, 404)
    # A tool call is shown inside its turn: when either changed, the turn is drawn again
    # (with all its tool calls); the other facts are drawn again as they are.
    turn_seqs = {fact.seq for fact in changed if type(fact) is Turn}
    turn_seqs |= {
        fact.turn_seq for fact in changed if type(fact) is ToolCall and fact.turn_seq is not None
    }
    redrawn = ol.calls.turns_with_tools(call_id, turn_seqs)
    redrawn += [
        fact
        for fact in changed
        if type(fact) is not Turn and getattr(fact, "turn_seq", None) is None
    ]
    lines, _more = ol.calls.logs(call_id, at_least(level), None, logs_after, LOG_PAGE)
    deliveries = ol.delivery_log.states_of_call(call_id)
    digest = timeline.deliveries_digest(deliveries)
    body: dict[str, Any] = {
        "status": call["status"],
        "rev": max([since_rev, *(fact.rev for fact in changed)]),
        "entries": [
            {"key": e.key, "t": e.t, "seq": e.seq, "html": e.html} for e in views.entries(redrawn)
        ],
        "logs": [{"seq": line.seq, "html": str(macros.log_row(line))} for line in lines],
        "logs_after": lines[-1].seq if lines else logs_after,
        "header": str(macros.call_facts(call, True)),
        "timeline": timeline.items(call, redrawn, lines, [] if digest == webhooks else deliveries),
        "webhooks_digest": digest,
        "webhooks_pending": timeline.deliveries_under_way(deliveries),
        "duration": timeline.duration(call),
    }
    if final:
        context = call_context(ol, call_id)
        assert context is not None  # calls are never deleted: the one found above is there
        token = console(request).tokens.csrf(request.cookies.get(CSRF_COOKIE)) or ""
        body["webhooks"] = str(
            macros.deliveries_panel(call, context["deliveries"], context["webhooks"], token)
        )
        body["analysis"] = str(
            macros.analysis_panel(
                call, context["metrics"], context["stats"], token, context["evaluations"]
            )
        )
        # The summary and metric results come after the end: the page asks again.
        body["analysis_awaited"] = analysis_awaited(call)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.post("/calls/{call_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(request: Request, call_id: str, delivery_id: str) -> Response:
    await verified_form(request)
    await asyncio.to_thread(signed_in, request)
    ol = platform_of(request)
    delivery = await asyncio.to_thread(ol.delivery_log.delivery, delivery_id)
    if delivery is None or delivery["call_id"] != call_id:
        return not_found_page(request, "delivery", delivery_id, f"/console/calls/{call_id}")
    queued = await asyncio.to_thread(
        ol.delivery_queue.redeliver, delivery["webhook_id"], delivery_id=delivery_id
    )
    if queued:
        ol.dispatcher.wake()
    notice = "redelivered" if queued else "already_pending"
    return RedirectResponse(
        f"/console/calls/{call_id}?tab=webhooks&notice={notice}", status_code=303
    )


@router.post("/calls/{call_id}/analyze")
async def analyze(request: Request, call_id: str) -> Response:
    await verified_form(request)
    await asyncio.to_thread(signed_in, request)
    ol = platform_of(request)
    if await asyncio.to_thread(ol.calls.get, call_id) is None:
        return not_found_page(request, "call", call_id, "/console/calls")
    try:
        await ol.analysis.analyze(call_id)
        notice = "analyzed"
    except Exception:  # noqa: BLE001 - the runner stored why; the page shows it
        notice = "analysis_failed"
    return RedirectResponse(
        f"/console/calls/{call_id}?tab=analysis&notice={notice}", status_code=303
    )


# -- playground ------------------------------------------------------------------------------


@router.get("/playground")
def playground_page(request: Request, _: SignedIn, agent: str = "") -> HTMLResponse:
    ol = platform_of(request)
    live = _live_deployments(ol)
    callable_agents = [
        row for row in ol.agents.list() if row["self_hosted_deployment_url"] or row["id"] in live
    ]
    return page(
        request, "playground.html", section="playground", agents=callable_agents, chosen=agent
    )


# -- deployments -----------------------------------------------------------------------------


@router.get("/deployments/{deployment_id}")
def deployment_page(request: Request, deployment_id: str, _: SignedIn) -> HTMLResponse:
    ol = platform_of(request)
    row = ol.deployment_repo.get(deployment_id)
    if row is None:
        return not_found_page(request, "deployment", deployment_id, "/console/agents")
    build, _more = ol.deployment_logs.lines(deployment_id, LogQuery(streams=("build",)), 2000)
    runtime, earlier = ol.deployment_logs.lines(
        deployment_id, LogQuery(streams=RUNTIME), LOG_PAGE, tail=True
    )
    last_seq = max([0, *(line["seq"] for line in build + runtime)])
    return page(
        request,
        "deployment.html",
        section="agents",
        deployment=row,
        agent=ol.agents.get(row["agent_id"]),
        build=build,
        runtime=runtime,
        runtime_earlier=earlier,
        last_seq=last_seq,
    )
