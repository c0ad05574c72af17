"""Rows the store tests start from."""

from __future__ import annotations

from openline.domain.time import utcnow


def call_row(call_id: str, **fields: object) -> dict:
    """A started call of ``agent_x``, as the harness creates one."""
    return {
        "id": call_id,
        "agent_id": "agent_x",
        "agent_name": "x",
        "status": "started",
        "start_time": utcnow(),
        "rev": 0,
    } | fields
