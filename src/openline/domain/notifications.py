"""How a webhook endpoint takes its deliveries (its ``format``), and what a person reads
in a Slack message or an email made of an event (docs/alerts.md, docs/webhooks.md)."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

JSON, SLACK, EMAIL = "json", "slack", "email"
FORMATS = (JSON, SLACK, EMAIL)
MAILTO = "mailto:"
_ADDRESS = re.compile(r"^[^@\s<>,;:\"]+@[^@\s<>,;:\"]+\.[^@\s<>,;:\"]+$")

ALERT_FIRING = "alert_firing"
ALERT_RESOLVED = "alert_resolved"


def email_address(url: str) -> str | None:
    """The address of a ``mailto:`` url, or None when it is not one openline sends to."""
    if not url.startswith(MAILTO):
        return None
    address = url[len(MAILTO) :]
    return address if _ADDRESS.match(address) else None


def headline(payload: dict[str, Any]) -> str:
    """One line saying what happened, for a chat message or an email's subject."""
    if alert := payload.get("alert"):
        state = "FIRING" if payload["type"] == ALERT_FIRING else "RESOLVED"
        test = "[test] " if alert.get("test") else ""
        return f"{test}{state} {alert['rule_name']}"
    call = payload.get("call_id")
    return f"{payload['type']} of call {call}" if call else payload["type"]


def text_of(payload: dict[str, Any]) -> str:
    """The event in a few readable lines."""
    alert = payload.get("alert")
    if not alert:
        return "\n".join([headline(payload), *_call_lines(payload)])
    value = "no value" if alert["value"] is None else f"{alert['value']:.4g}"
    lines = [
        headline(payload),
        f"{alert['description']}: now {value} ({alert['calls']} calls, "
        f"threshold {alert['comparison']} {alert['threshold']:g})",
        f"Scope: {_scope_text(alert['scope'])}",
        f"Since {alert['started_at']}"
        + (f", resolved {alert['resolved_at']}" if alert.get("resolved_at") else ""),
    ]
    if alert["example_call_ids"]:
        lines.append("Example calls: " + ", ".join(alert["example_call_ids"]))
    lines.append(alert["console_url"])
    return "\n".join(lines)


def slack_body(payload: dict[str, Any]) -> dict[str, str]:
    """A Slack incoming webhook's message: ``{"text": …}``."""
    icon = ""
    if payload.get("alert"):
        icon = "🔥 " if payload["type"] == ALERT_FIRING else "✅ "
    return {"text": icon + text_of(payload)}


def email_of(payload: dict[str, Any], sender: str, to: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[openline] {headline(payload)}"
    message["From"] = sender
    message["To"] = to
    message.set_content(text_of(payload) + "\n")
    return message


def _call_lines(payload: dict[str, Any]) -> list[str]:
    """What a call event says beyond its name: how the call ended, the turn, the summary."""
    if call := payload.get("call"):
        ended = call.get("end_reason")
        return [
            f"Agent {call.get('agent_id')}, {call.get('status')}" + (f" ({ended})" if ended else "")
        ]
    if turn := payload.get("turn"):
        return [f"{turn.get('role')}: {turn.get('text', '')}"]
    if analysis := payload.get("analysis"):
        return [str(analysis.get("summary") or "")]
    return []


def _scope_text(scope: dict[str, Any]) -> str:
    parts = [f"{key} {scope[key]}" for key in ("agent_id", "deployment_id") if scope.get(key)]
    parts += [f"{key}={value}" for key, value in (scope.get("metadata") or {}).items()]
    return ", ".join(parts) or "all agents"
