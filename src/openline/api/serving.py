"""How uvicorn runs openline: one place for ``openline up`` and the tests alike."""

from __future__ import annotations

from typing import Any

import uvicorn

from openline.api.connection_limits import limited_http_protocol
from openline.config import Settings

WS_MAX_SIZE = 16 << 20  # the client frame cap (a setting) answers larger frames itself


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    http = limited_http_protocol(
        settings.request_header_timeout_s, settings.max_connections_per_address
    )
    return uvicorn.Config(
        app, host=settings.host, port=settings.port, http=http, ws_max_size=WS_MAX_SIZE, **options
    )
