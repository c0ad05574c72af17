"""Settings, read once from the environment (``OPENLINE_*``) with typed defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from openline.store.keys import MIN_KEY_LENGTH
from openline.store.sealing import fernet
from openline.webhooks.health import DEFAULT_DISABLE_AFTER_S, DEFAULT_PROBE_MAX_S
from openline.webhooks.schedule import DEFAULT_SCHEDULE_S


class Settings(BaseSettings):
    # A refused value is not echoed: several settings are secrets (keys, database URLs).
    model_config = SettingsConfigDict(
        env_prefix="OPENLINE_", extra="ignore", hide_input_in_errors=True
    )

    data_dir: Path = Field(default=Path(".openline"), description="SQLite file, keys, blobs.")
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; SQLite in the data dir when unset."
    )
    api_key: str | None = Field(
        default=None,
        min_length=MIN_KEY_LENGTH,
        description="Admin key to install when the data dir is first created.",
    )
    host: str = "127.0.0.1"
    port: int = 8700
    public_url: str | None = Field(
        default=None, description="Base URL agents use to reach this server (api_base_url)."
    )
    idle_timeout_s: float = Field(default=180.0, gt=0, description="Inactivity before hang-up.")
    max_call_duration_s: float = Field(default=3600.0, gt=0)
    agent_connect_timeout_s: float = Field(default=10.0, gt=0)
    agent_hangup_grace_s: float = Field(
        default=2.0,
        ge=0,
        description="After end_call, how long the agent's socket is still read (and recorded).",
    )
    analytics_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="How often ended calls are tallied into the fleet analytics rollups.",
    )
    payload_cap_chars: int = Field(
        default=65_536, ge=1024, description="JSON fields larger than this are stored truncated."
    )
    client_frame_cap_bytes: int = Field(default=1_048_576, ge=1024)
    writer_max_batch: int = Field(default=2000, ge=1)
    journal_fsync: bool = Field(
        default=False,
        description="Write each fact through to disk before it is forwarded (survives an OS "
        "crash too, at a disk flush per fact); a process crash loses nothing either way.",
    )
    process_heartbeat_s: float = Field(
        default=5.0, gt=0, description="How often a process renews its lease and sweeps."
    )
    process_lease_ttl_s: float = Field(
        default=30.0,
        gt=0,
        description="A process silent this long is gone: its open calls are closed as failed.",
    )
    webhook_allow_http: bool = Field(
        default=False, description="Allow plain-http webhook URLs beyond loopback."
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook hosts in loopback, private, link-local (cloud metadata), "
        "carrier-grade NAT and reserved ranges: services on this machine or its network.",
    )
    webhook_retry_schedule_s: tuple[float, ...] = Field(
        default=DEFAULT_SCHEDULE_S,
        description="Wait before each attempt (the first is immediate).",
    )
    webhook_timeout_s: float = Field(default=15.0, gt=0)
    webhook_disable_after_s: float = Field(
        default=DEFAULT_DISABLE_AFTER_S,
        gt=0,
        description="Disable an endpoint that has failed, without one success, this long.",
    )
    webhook_probe_max_s: float = Field(
        default=DEFAULT_PROBE_MAX_S,
        gt=0,
        description="Longest wait between probes of a paused (failing) endpoint.",
    )
    webhook_concurrency: int = Field(
        default=64, ge=1, description="Deliveries in flight at once, per process."
    )
    analysis_llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint for call summaries (optional)."
    )
    analysis_llm_api_key: str | None = None
    analysis_llm_model: str = "gpt-4o-mini"
    analysis_retry_s: float = Field(default=30.0, gt=0)
    judge_timeout_s: float = Field(
        default=30.0, gt=0, description="How long the LLM judge may take over one metric."
    )
    alert_interval_s: float = Field(
        default=30.0, gt=0, description="How often alert rules are evaluated (docs/alerts.md)."
    )
    metrics_public: bool = Field(
        default=False,
        description="Serve GET /metrics without the API key (a scraper on a trusted network).",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for email notifications; none sent when unset."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = Field(default=True, description="Upgrade the connection first.")
    smtp_from: str = Field(default="openline@localhost", description="The sender of emails.")
    recordings_s3_bucket: str | None = Field(
        default=None,
        description="Keep call recordings in this S3-compatible bucket (needs openline[s3]); "
        "local disk when unset. Credentials: the standard AWS variables or boto3 chain.",
    )
    recordings_s3_prefix: str = Field(
        default="recordings/", description="Prepended to every object key in the bucket."
    )
    recordings_s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, R2, …); AWS when unset."
    )
    start_example_agent: bool = Field(
        default=False, description="Start and register the bundled example agent (`openline up`)."
    )
    request_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A request's line and headers must arrive within this long of the "
        "connection opening (or of its previous response).",
    )
    websocket_start_timeout_s: float = Field(
        default=10.0, gt=0, description="A websocket must start its call within this long."
    )
    max_connections_per_address: int = Field(
        default=256, ge=0, description="Connections one client address may hold; 0: no cap."
    )
    sign_in_free_failures: int = Field(
        default=10, ge=1, description="Wrong keys an address may send before it must wait."
    )
    sign_in_backoff_s: float = Field(
        default=1.0, gt=0, description="The first wait; it doubles with each further failure."
    )
    sign_in_backoff_max_s: float = Field(default=60.0, gt=0, description="The longest wait.")
    console_secret: str | None = Field(
        default=None,
        description="Signs console sessions; give every worker the same one. "
        "Default: a secret made once in the data dir.",
    )
    secrets_key: str | None = Field(
        default=None,
        description="Fernet key sealing agent env var values and webhook secrets at rest; "
        "give every worker the same one. Default: a key made once in the data dir.",
    )
    cartesia_api_key: str | None = Field(
        default=None, description="Enables the Cartesia Ink (STT) and Sonic (TTS) providers."
    )
    cartesia_base_url: str | None = Field(
        default=None, description="Cartesia API address, e.g. a proxy; default Cartesia's."
    )
    stt_provider: str = Field(default="pocketsphinx", description="Default speech-to-text.")
    tts_provider: str = Field(default="espeak-ng", description="Default text-to-speech.")
    vad_provider: str = Field(default="webrtc", description="Voice activity detection.")
    end_of_turn_ms: int = Field(
        default=600, ge=100, le=5000, description="Caller silence that ends a spoken turn."
    )

    @model_validator(mode="after")
    def _lease_outlives_heartbeats(self) -> Settings:
        if self.process_lease_ttl_s <= 2 * self.process_heartbeat_s:
            raise ValueError("process_lease_ttl_s must exceed twice process_heartbeat_s")
        return self

    @field_validator("secrets_key")
    @classmethod
    def _a_fernet_key(cls, value: str | None) -> str | None:
        if value is not None:
            fernet(value)  # refused here, at start-up, rather than at the first deployment
        return value

    @property
    def sqlalchemy_url(self) -> str:
        if not self.database_url:
            return f"sqlite:///{(self.data_dir / 'openline.db').resolve()}"
        url = self.database_url
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain) :]
        return url
