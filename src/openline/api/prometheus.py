"""``GET /metrics``: this process's metrics in Prometheus' text format (docs/telemetry.md).

Behind the API key like every route, unless ``OPENLINE_METRICS_PUBLIC=true`` opens it to
a scraper on a trusted network. The store's gauges are read in a worker thread.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from openline.api.deps import PlatformDep, authenticated

router = APIRouter(tags=["telemetry"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    summary="Metrics of this openline process, for Prometheus",
)
async def prometheus_metrics(request: Request, ol: PlatformDep) -> Response:
    if not ol.settings.metrics_public:
        await authenticated(request)
    body = await asyncio.to_thread(ol.telemetry.metrics.exposition)
    # The text format every Prometheus 2.x and 3.x reads (names are plain ASCII here).
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
