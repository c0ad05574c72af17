"""Settings, read once from the environment (``OPENLINE_*``) with typed defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENLINE_", extra="ignore")

    data_dir: Path = Field(default=Path(".openline"), description="SQLite file, keys, blobs.")
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; SQLite in the data dir when unset."
    )
    api_key: str | None = Field(
        default=None, description="Admin key to install when the data dir is first created."
    )
    host: str = "127.0.0.1"
    port: int = 8700
    public_url: str | None = Field(
        default=None, description="Base URL agents use to reach this server (api_base_url)."
    )
    idle_timeout_s: float = Field(default=180.0, gt=0, description="Inactivity before hang-up.")
    max_call_duration_s: float = Field(default=3600.0, gt=0)
    agent_connect_timeout_s: float = Field(default=10.0, gt=0)
    payload_cap_chars: int = Field(
        default=65_536, ge=1024, description="JSON fields larger than this are stored truncated."
    )
    client_frame_cap_bytes: int = Field(default=1_048_576, ge=1024)
    writer_max_batch: int = Field(default=2000, ge=1)
    start_example_agent: bool = Field(
        default=False, description="Start and register the bundled example agent (`openline up`)."
    )

    @property
    def sqlalchemy_url(self) -> str:
        if not self.database_url:
            return f"sqlite:///{(self.data_dir / 'openline.db').resolve()}"
        url = self.database_url
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain) :]
        return url
