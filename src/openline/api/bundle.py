"""``GET /agents/calls/{call_id}/bundle``: everything recorded of one call in one zip, to
debug it offline (or hand it to a coding assistant): the call and its transcript (JSON
and text), its log lines, events, metrics, tool calls and signals, its webhook
deliveries with every attempt, its analysis and metric results, its deployment (id,
commit, status, the build log's tail), the recording, and openline's version.

Each part is in the shape its own API route returns (docs/api.md). The zip is written
to a temporary file in a worker thread (a recording may be long) and streamed from it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import zipfile
from typing import IO, Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from openline import __version__
from openline.api._params import Text
from openline.api.deployments import deployment_json, log_json
from openline.api.deps import PlatformDep, authenticated
from openline.api.errors import ApiError, not_found
from openline.api.webhooks import delivery_json
from openline.domain.calls import FACT_KINDS, TRANSCRIPT_KINDS, CallStatus, FactKind
from openline.domain.evaluations import result_json
from openline.domain.shapes import call_json, fact_json
from openline.domain.time import rfc3339, utcnow
from openline.domain.transcript_files import to_txt
from openline.platform import Platform
from openline.store.blobs import recording_key
from openline.store.deployments import LogQuery

BUILD_LOG_TAIL = 200  # lines of the deployment's build log
_FACT_FILES = {
    FactKind.TOOL_CALL: "tool_calls.json",
    FactKind.LOG_EVENT: "events.json",
    FactKind.LOG_METRIC: "metrics.json",
    FactKind.SIGNAL: "signals.json",
    FactKind.LOG: "logs.json",
}
_ZIP = {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}

router = APIRouter(prefix="/agents/calls", dependencies=[Depends(authenticated)], tags=["calls"])


@router.get("/{call_id}/bundle", response_class=FileResponse, responses={200: _ZIP})
def call_bundle(call_id: Text, ol: PlatformDep) -> FileResponse:
    """One zip of everything recorded of the call (an ended call: a call in progress is
    still being written)."""
    call = ol.calls.get(call_id)
    if call is None:
        raise not_found("call", call_id)
    if call["status"] == CallStatus.STARTED.value:
        raise ApiError(409, f"call {call_id!r} is in progress: bundle it once it has ended")
    # Kept after this function returns: the response streams it, then removes it.
    with tempfile.NamedTemporaryFile(prefix="bundle-", suffix=".zip", delete=False) as spool:
        try:
            write_bundle(ol, call_id, spool)
        except BaseException:
            _remove(spool.name)
            raise
    return FileResponse(
        spool.name,
        media_type="application/zip",
        filename=f"{call_id}.zip",
        background=BackgroundTask(_remove, spool.name),
    )


def write_bundle(ol: Platform, call_id: str, out: IO[bytes]) -> list[str]:
    """Write the call's bundle to ``out``; returns the names of its files."""
    call, facts = ol.calls.with_facts(call_id, tuple(FACT_KINDS))
    if call is None:
        raise not_found("call", call_id)
    shown = call_json(call, [fact for fact in facts if type(fact) in TRANSCRIPT_KINDS])
    parts: dict[str, Any] = {"call.json": shown}
    for kind, name in _FACT_FILES.items():
        parts[name] = [fact_json(fact) for fact in facts if FACT_KINDS[type(fact)] is kind]
    deliveries = ol.delivery_log.of_call(call_id)
    attempts = ol.delivery_log.attempts([delivery["id"] for delivery in deliveries])
    parts["webhook_deliveries.json"] = [
        delivery_json(delivery, attempts[delivery["id"]]) for delivery in deliveries
    ]
    parts["analysis.json"] = {
        "summary": call.get("summary"),
        "status": call.get("analysis_status"),
        "error": call.get("analysis_error"),
        "metric_results": [result_json(row) for row in ol.metric_results.of_call(call_id)],
    }
    parts["deployment.json"] = _deployment(ol, call.get("deployment_id"))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        names = list(parts)
        for name, part in parts.items():
            bundle.writestr(name, json.dumps(part, indent=2, default=str) + "\n")
        bundle.writestr("transcript.txt", to_txt(shown))
        names.append("transcript.txt")
        if _add_recording(ol, call_id, bundle):
            names.append("recording.wav")
        names.append("manifest.json")
        manifest = {
            "openline_version": __version__,
            "created_at": rfc3339(utcnow()),
            "call_id": call_id,
            "files": names,
        }
        bundle.writestr("manifest.json", json.dumps(manifest, indent=2) + "\n")
    return names


def _deployment(ol: Platform, deployment_id: str | None) -> dict[str, Any] | None:
    """The deployment that ran the call: its row as the API shows it, and the last lines
    of its build log (null for a self-hosted agent)."""
    if deployment_id is None:
        return None
    row = ol.deployment_repo.get(deployment_id)
    if row is None:
        return {"id": deployment_id, "missing": True}
    lines, _ = ol.deployment_logs.lines(
        deployment_id, LogQuery(streams=("build",)), BUILD_LOG_TAIL, tail=True
    )
    return deployment_json(row) | {"build_log_tail": [log_json(line) for line in lines]}


def _add_recording(ol: Platform, call_id: str, bundle: zipfile.ZipFile) -> bool:
    key = recording_key(call_id)
    size = ol.blobs.size(key)
    if not size:
        return False
    # Stored, not deflated: PCM barely compresses, and this keeps a long call quick.
    entry = zipfile.ZipInfo("recording.wav", date_time=time.gmtime()[:6])
    with bundle.open(entry, "w", force_zip64=size > 2**31) as member:
        for chunk in ol.blobs.read_range(key, 0, size):
            member.write(chunk)
    return True


def _remove(path: str) -> None:
    os.unlink(path)
