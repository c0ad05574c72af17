"""Evaluation metrics and their results, in Cartesia's shapes (docs/evaluations.md)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from openline.domain.time import rfc3339

# Cartesia: "a unique name that only allows lower case letters, numbers, and the
# characters _, -, and ."
METRIC_NAME = re.compile(r"^[a-z0-9_.-]+$")
METRIC_NAME_MAX = 200


class ResultStatus(StrEnum):
    PENDING = "pending"  # not judged yet: never shown
    COMPLETED = "completed"
    FAILED = "failed"


def metric_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a metric, or None."""
    if not name or len(name) > METRIC_NAME_MAX:
        return f"a metric name has 1 to {METRIC_NAME_MAX} characters"
    if not METRIC_NAME.match(name):
        return "a metric name has only lower case letters, digits and the characters _ - ."
    return None


def metric_json(row: dict) -> dict[str, Any]:
    shaped = {
        "id": row["id"],
        "name": row["name"],
        "display_name": row.get("display_name"),
        "prompt": row["prompt"],
        "created_at": rfc3339(row["created_at"]),
    }
    if row.get("rule") is not None:  # openline's extension: an offline rule metric
        shaped["rule"] = row["rule"]
    return shaped


def result_json(row: dict, summary: str | None = None) -> dict[str, Any]:
    """A metric result with Cartesia's camelCase keys; ``passed`` and ``reason`` are
    openline's."""
    return {
        "id": row["id"],
        "agentId": row["agent_id"],
        "callId": row["call_id"],
        "deploymentId": row.get("deployment_id") or "",
        "metricId": row["metric_id"],
        "metricName": row["metric_name"],
        "createdAt": rfc3339(row["created_at"]),
        "status": row["status"],
        "result": row.get("result") or "",
        "value": row.get("value"),
        "jsonResult": row.get("json_result"),
        "summary": summary or "",
        "runId": None,
        "passed": row.get("passed"),
        "reason": row.get("reason"),
    }


# The columns of the CSV export, in order.
EXPORT_COLUMNS = (
    "id",
    "createdAt",
    "agentId",
    "deploymentId",
    "callId",
    "metricId",
    "metricName",
    "status",
    "result",
    "passed",
    "reason",
    "value",
    "jsonResult",
    "summary",
)
