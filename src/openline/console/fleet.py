"""The analytics pages: the fleet overview (the console's home), an agent's dashboard,
and two of its deployments compared. A bad range is answered with the page and a message
saying what to fix, never an error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from openline.console._web import SignedIn, not_found_page, page, platform_of
from openline.console.alerts import firing_banner
from openline.console.comparison import comparison
from openline.console.dashboard import dashboard
from openline.console.time_range import PRESETS, BadRange, TimeRange, chosen, field
from openline.domain.time import utcnow

router = APIRouter(prefix="/console", include_in_schema=False)


@dataclass
class _Asked:
    """The range picker's fields as sent, and the range they give (or why none)."""

    preset: str
    start: str
    end: str
    span: TimeRange | None = None
    problem: str = ""

    def picker(self) -> dict[str, Any]:
        if self.span is None:
            return {"presets": PRESETS, "preset": "", "start": self.start, "end": self.end}
        start, end = field(self.span.start), field(self.span.end)  # a preset's, to edit
        return {"presets": PRESETS, "preset": self.span.preset, "start": start, "end": end}


def _asked(
    preset: Annotated[str, Query(alias="range")] = "", start: str = "", end: str = ""
) -> _Asked:
    asked = _Asked(preset.strip(), start.strip(), end.strip())
    try:
        asked.span = chosen(asked.preset, asked.start, asked.end, utcnow())
    except BadRange as bad:
        asked.problem = str(bad)
    return asked


Asked = Annotated[_Asked, Depends(_asked)]


@router.get("")
@router.get("/")
def fleet_page(request: Request, _: SignedIn, asked: Asked) -> HTMLResponse:
    span = asked.span
    ol = platform_of(request)
    return page(
        request,
        "fleet.html",
        status=400 if asked.problem else 200,
        section="overview",
        problem=asked.problem,
        picker=asked.picker(),
        board=dashboard(ol, span) if span else None,
        firing=firing_banner(ol),
    )


@router.get("/agents/{agent_id}/analytics")
def agent_analytics_page(
    request: Request, agent_id: str, _: SignedIn, asked: Asked
) -> HTMLResponse:
    ol = platform_of(request)
    agent = ol.agents.get(agent_id)
    if agent is None:
        return not_found_page(request, "agent", agent_id, "/console/agents")
    span = asked.span
    return page(
        request,
        "agent_analytics.html",
        status=400 if asked.problem else 200,
        section="agents",
        agent=agent,
        problem=asked.problem,
        picker=asked.picker(),
        board=dashboard(ol, span, agent_id) if span else None,
    )


@router.get("/agents/{agent_id}/compare")
def compare_page(
    request: Request, agent_id: str, _: SignedIn, asked: Asked, a: str = "", b: str = ""
) -> HTMLResponse:
    ol = platform_of(request)
    agent = ol.agents.get(agent_id)
    if agent is None:
        return not_found_page(request, "agent", agent_id, "/console/agents")
    span = asked.span
    found = comparison(ol, agent_id, span, a.strip(), b.strip()) if span else None
    return page(
        request,
        "compare.html",
        status=400 if asked.problem else 200,
        section="agents",
        agent=agent,
        problem=asked.problem or (found.problem if found else ""),
        picker=asked.picker(),
        span=span,
        found=found,
    )
