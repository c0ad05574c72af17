"""Deployment settings, read from ``OPENLINE_DEPLOY_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DeploySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENLINE_DEPLOY_", extra="ignore")

    enabled: bool = Field(
        default=True,
        description="Build and run deployments in this process (one process per host should).",
    )
    uv: str | None = Field(default=None, description="uv binary; default: the bundled one.")
    uv_cache_dir: Path | None = Field(
        default=None, description="uv's cache, shared by all builds; default <data dir>/uv-cache."
    )
    offline_first: bool = Field(
        default=True,
        description="Resolve from uv's cache first; ask the package index only if that fails.",
    )
    max_archive_bytes: int = Field(default=50 << 20, ge=1024)
    max_unpacked_bytes: int = Field(default=500 << 20, ge=1024)
    max_files: int = Field(default=20_000, ge=1)
    concurrent_builds: int = Field(default=2, ge=1)
    build_timeout_s: float = Field(default=900.0, gt=0)
    health_timeout_s: float = Field(default=60.0, gt=0)
    stop_timeout_s: float = Field(default=10.0, gt=0)
    drain_timeout_s: float | None = Field(
        default=None, gt=0, description="Default: the longest a call may last."
    )
    restart_backoff_max_s: float = Field(default=60.0, gt=0)
    log_retention_days: float = Field(default=7.0, gt=0)
    log_max_lines: int = Field(default=100_000, ge=100, description="Per deployment.")
    log_line_max_chars: int = Field(default=8192, ge=256)
    log_lines_per_s: int = Field(default=500, ge=1, description="Per process; excess dropped.")
    keep_builds: int = Field(
        default=3, ge=0, description="Non-live builds kept on disk per agent, for rollback."
    )
    retention_interval_s: float = Field(default=600.0, gt=0)
    sandbox: bool = Field(
        default=True,
        description="Run each deployment's process in a bubblewrap sandbox that hides the "
        "data dir, keys and other deployments; false runs agent code as openline's user.",
    )
    sandbox_user: str = Field(
        default="nobody",
        description="When openline runs as root: the unprivileged user sandboxed agents run as.",
    )
    bwrap: str = Field(default="bwrap", description="bubblewrap binary (Debian: bubblewrap).")
