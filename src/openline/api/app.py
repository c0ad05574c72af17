"""The FastAPI application: one process serves the API, the call protocol and tails."""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from openline import __version__
from openline._signing import Signer, load_secret
from openline.api import (
    agents,
    alerts,
    analytics,
    bundle,
    calls,
    deployments,
    errors,
    metrics,
    peaks,
    prometheus,
    stream,
    tokens,
    twilio,
    webhooks,
)
from openline.api.attempts import FailedAttempts
from openline.api.auth import Authenticator
from openline.api.start_deadline import StartDeadline
from openline.bundled_agent import BundledAgents
from openline.config import Settings
from openline.console import install as install_console
from openline.domain.time import rfc3339, utcnow
from openline.platform import Platform


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        platform = await Platform.open(settings)
        generated = platform.ensure_admin_key()
        if generated:
            _announce(
                f"API key (shown once; saved in {settings.data_dir / 'credentials'}): {generated}"
            )
        app.state.platform = platform
        signer = Signer(load_secret(settings.data_dir, settings.console_secret))
        attempts = FailedAttempts(
            settings.sign_in_free_failures,
            settings.sign_in_backoff_s,
            settings.sign_in_backoff_max_s,
        )
        app.state.auth = Authenticator(platform.keys, tokens.AccessTokens(signer), attempts)
        examples = BundledAgents()
        if settings.start_example_agent:
            for agent in await examples.start(platform.agents):
                _announce(f"Example agent ready: openline chat {agent['id']}  # {agent['name']}")
        try:
            yield
        finally:
            await examples.stop()
            await platform.close()

    app = FastAPI(title="openline", version=__version__, lifespan=lifespan)
    errors.install(app)
    app.add_middleware(StartDeadline, timeout_s=settings.websocket_start_timeout_s)
    # Pages, JSON and exports go gzipped to clients that accept it (a long call's timeline:
    # 378 KB → ~35 KB). Starlette leaves audio, zips, event streams and ranges alone; bodies
    # from 16 KiB are compressed in a worker thread, not on the loop that carries calls.
    app.add_middleware(
        GZipMiddleware, minimum_size=1024, compresslevel=6, thread_minimum_size=16 * 1024
    )
    app.include_router(tokens.router)
    app.include_router(calls.router)  # before /agents/{agent_id}, which would shadow it
    app.include_router(bundle.router)
    app.include_router(peaks.router)
    app.include_router(analytics.router)  # so is this
    app.include_router(alerts.router)  # and /agents/alerts
    app.include_router(metrics.router)  # and /agents/metrics
    app.include_router(webhooks.router)
    app.include_router(prometheus.router)
    app.include_router(deployments.router)  # before /agents/{agent_id} too
    app.include_router(agents.router)
    app.include_router(stream.router)
    app.include_router(twilio.router)
    install_console(app)  # pages at /console, static files, and / sent there

    @app.get("/status", tags=["health"])
    def status() -> dict:
        return {
            "status": "ok",
            "service": "openline",
            "version": __version__,
            "timestamp": rfc3339(utcnow()),
        }

    return app


def _announce(line: str) -> None:
    print(f"openline: {line}", file=sys.stderr, flush=True)
