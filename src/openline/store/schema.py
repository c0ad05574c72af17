"""The one schema, for SQLite and PostgreSQL alike (Alembic migrations mirror it)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
Timestamp = DateTime(timezone=True)


def _fact_table(name: str, *columns: Column, indexes: tuple[Index, ...] = ()) -> Table:
    """Facts share identity (call, seq), a change counter and a call-relative time."""
    return Table(
        name,
        metadata,
        Column("call_id", String(64), primary_key=True),
        Column("seq", Integer, primary_key=True),
        Column("rev", Integer, nullable=False),
        Column("timestamp", Float, nullable=False),
        *columns,
        Index(f"ix_{name}_call_rev", "call_id", "rev"),
        *indexes,
    )


agents = Table(
    "agents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=True),
    Column("system_prompt", Text, nullable=True),
    Column("introduction", Text, nullable=True),
    Column("metadata", Json, nullable=True),
    Column("self_hosted_deployment_url", Text, nullable=True),
    Column("webhook_id", String(64), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # Voice calls: whether to record them, and which speech providers, voice and language
    # to use (null: the platform's default).
    Column("recording_enabled", Boolean, nullable=False, server_default=true()),
    Column("stt_provider", String(64), nullable=True),
    Column("tts_provider", String(64), nullable=True),
    Column("tts_voice", String(200), nullable=True),
    Column("tts_language", String(35), nullable=True),
    # Names of its log_metric metrics exported to Prometheus as histograms (opt-in).
    Column("prometheus_metrics", Json, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("last_used_at", Timestamp, nullable=True),
)

# Console sign-ins, kept here so that signing out ends one on every worker at once.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("agent_name", String(200), nullable=True),
    Column("deployment_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("start_time", Timestamp, nullable=False),
    Column("end_time", Timestamp, nullable=True),
    Column("end_reason", String(32), nullable=True),
    Column("agent_end_reason", Text, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("telephony_params", Json, nullable=True),
    Column("metadata", Json, nullable=True),
    Column("summary", Text, nullable=True),
    Column("analysis_status", String(16), nullable=True),  # pending | done | failed
    Column("analysis_error", Text, nullable=True),
    Column("analysis_attempts", Integer, nullable=False, server_default="0"),
    Column("redacted_at", Timestamp, nullable=True),
    Column("rev", Integer, nullable=False),
    # The openline process running the call: when its lease expires, another closes it.
    Column("owner_process_id", String(64), nullable=True),
    # Its OpenTelemetry trace and root span (hex), when the process exported traces.
    Column("trace_id", String(32), nullable=True),
    Column("trace_span_id", String(16), nullable=True),
    Index("ix_calls_agent_id_id", "agent_id", "id"),
    Index("ix_calls_status_id", "status", "id"),
    Index("ix_calls_start_time", "start_time"),
    Index("ix_calls_owner_open", "owner_process_id", "status"),
)

# One row per running openline process: its lease, renewed by heartbeats. A process whose
# lease expired is gone; its open calls are closed by whichever process notices first.
processes = Table(
    "processes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Timestamp, nullable=False),
    Column("heartbeat_at", Timestamp, nullable=False),
    Column("lease_expires_at", Timestamp, nullable=False),
)

turns = _fact_table(
    "turns",
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("end_timestamp", Float, nullable=True),
    Column("end_reason", String(32), nullable=True),
    Column("interruptible", Boolean, nullable=True),
    Column("text_chunks", Json, nullable=True),
    Column("tts_ttfb", Float, nullable=True),
    Column("stt_ttfb", Float, nullable=True),
    Column("vad_buffer_ms", Float, nullable=True),
    Column("generated_text", Text, nullable=True),
    Column("latency", Float, nullable=True),
    Column("latency_parts", Json, nullable=True),
)

tool_calls = _fact_table(
    "tool_calls",
    Column("name", String(200), nullable=False),
    Column("arguments", Json, nullable=True),
    Column("tool_call_id", String(200), nullable=True),
    Column("turn_seq", Integer, nullable=True),
    Column("result", Text, nullable=True),
    Column("result_timestamp", Float, nullable=True),
)

log_events = _fact_table(
    "log_events",
    Column("event", String(200), nullable=False),
    Column("metadata", Json, nullable=True),
    Column("level", String(16), nullable=True),
    Column("message", Text, nullable=True),
    indexes=(Index("ix_log_events_event", "event"),),
)

log_metrics = _fact_table(
    "log_metrics",
    Column("name", String(200), nullable=False),
    Column("value", Json, nullable=True),
    indexes=(Index("ix_log_metrics_name", "name"),),
)

call_signals = _fact_table(
    "call_signals",
    Column("type", String(64), nullable=False),
    Column("data", Json, nullable=True),
)

call_logs = _fact_table(
    "call_logs",
    Column("level", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("logger", String(200), nullable=True),
    Column("exc_text", Text, nullable=True),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),  # needed to sign, so kept; never shown after create
    Column("display_name", String(200), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("disabled_at", Timestamp, nullable=True),
    Column("disabled_reason", Text, nullable=True),
    Column("failure_streak", Integer, nullable=False, server_default="0"),
    Column("failing_since", Timestamp, nullable=True),  # first failure of the streak
    Column("paused_until", Timestamp, nullable=True),  # circuit open: no claims before
    # How a delivery is sent: json (signed JSON, the Line events), slack ({"text": …} to
    # an incoming webhook) or email (over SMTP to the mailto: url).
    Column("format", String(16), nullable=False, server_default="json"),
)

# The outbox: one row per event per endpoint, written in the transaction that records
# the fact it announces, then delivered (and retried) by the dispatcher. ``call_id`` is
# what the deliveries go in order of: the call, or the alert rule of an alert event.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("webhook_id", String(64), nullable=False),
    Column("call_id", String(64), nullable=False),
    Column("agent_id", String(64), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("position", Integer, nullable=False),  # order of events within the call
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Timestamp, nullable=True),
    Column("claimed_until", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("delivered_at", Timestamp, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    # Failed attempts that count against the retry schedule: not those made while the
    # endpoint as a whole was down (its circuit was open), which the endpoint is charged.
    Column("retry_step", Integer, nullable=False, server_default="0"),
    Index("ix_webhook_deliveries_due", "status", "webhook_id", "next_attempt_at"),
    Index("ix_webhook_deliveries_webhook_id", "webhook_id", "id"),
    Index("ix_webhook_deliveries_call", "call_id", "webhook_id", "status", "position"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("delivery_id", String(64), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("at", Timestamp, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("duration_ms", Float, nullable=False),
    Column("response_excerpt", Text, nullable=True),
    Column("error", Text, nullable=True),
)

FACT_TABLES = (turns, tool_calls, log_events, log_metrics, call_signals, call_logs)

# -- deployments (agent code that openline builds and runs) -----------------------------------

deployments = Table(
    "deployments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("is_live", Boolean, nullable=False),
    Column("is_pinned", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("build_started_at", Timestamp, nullable=True),
    Column("build_completed_at", Timestamp, nullable=True),
    Column("build_logs", Text, nullable=True),  # a copy kept past log retention
    Column("build_error", Text, nullable=True),
    Column("deployment_started_at", Timestamp, nullable=True),
    Column("deployment_completed_at", Timestamp, nullable=True),
    Column("deployment_error", Text, nullable=True),
    Column("git_commit_hash", String(64), nullable=True),
    Column("source_sha256", String(64), nullable=False),
    Column("source_bytes", Integer, nullable=False),
    Column("url", Text, nullable=True),  # where its process listens while it runs
    Column("pid", Integer, nullable=True),
    Column("restarts", Integer, nullable=False),
    # The deploy gate (docs/testing.md#the-deploy-gate): a held deployment runs but takes
    # no traffic until its scenarios pass; test_run is what they found.
    Column("hold", Boolean, nullable=False, server_default=false()),
    Column("test_run", Json, nullable=True),
    Index("ix_deployments_agent_id_id", "agent_id", "id"),
    # The database itself guarantees one live deployment per agent.
    Index(
        "ux_deployments_live_agent",
        "agent_id",
        unique=True,
        sqlite_where=text("is_live"),
        postgresql_where=text("is_live"),
    ),
)

# stdout/stderr of a deployment's process and its build output, one row per line.
deployment_logs = Table(
    "deployment_logs",
    metadata,
    Column("deployment_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", Timestamp, nullable=False),
    Column("stream", String(8), nullable=False),  # build | stdout | stderr | system
    Column("level", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("call_id", String(64), nullable=True),  # the call it was attributed to
    Index("ix_deployment_logs_at", "at"),
    Index("ix_deployment_logs_call_id", "call_id"),
)

# Per-agent environment variables injected into its deployments; values never leave
# the server through the API.
agent_env_vars = Table(
    "agent_env_vars",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

# -- fleet analytics (docs/analytics.md) -------------------------------------------------------

# Calls whose tally is due (made, remade or removed): queued with the call's end, and
# with its redaction. Several rows for one call are harmless: each pass is idempotent.
analytics_queue = Table(
    "analytics_queue",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("call_id", String(64), nullable=False),
    Column("due_at", Timestamp, nullable=False),
    Index("ix_analytics_queue_due_at", "due_at"),
)

# One ended call's counts and distributions (domain.tally.Tally, stored as JSON text).
# A test run's call (metadata.test_run, set by `openline test`) is tallied but never
# merged into the rollups; a query that includes test runs reads these tallies.
call_tallies = Table(
    "call_tallies",
    metadata,
    Column("call_id", String(64), primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("deployment_id", String(64), nullable=False),  # "" for a call without one
    Column("start_time", Timestamp, nullable=False),
    Column("metadata", Json, nullable=True),
    Column("tally", Text, nullable=False),
    Column("test_run", Boolean, nullable=False, server_default=false()),
    Index("ix_call_tallies_scope", "agent_id", "deployment_id", "start_time"),
    Index("ix_call_tallies_start_time", "start_time"),
    Index(
        "ix_call_tallies_test_runs",
        "start_time",
        sqlite_where=text("test_run = 1"),
        postgresql_where=text("test_run"),
    ),
)

# The tallies of a minute, an hour and a day merged, per agent and deployment: a minute's
# from its calls, an hour's from its minutes, a day's from its hours.
analytics_rollups = Table(
    "analytics_rollups",
    metadata,
    Column("grain", String(8), primary_key=True),  # minute | hour | day
    Column("bucket_start", Timestamp, primary_key=True),
    Column("agent_id", String(64), primary_key=True),
    Column("deployment_id", String(64), primary_key=True),
    Column("calls", Integer, nullable=False),
    Column("tally", Text, nullable=False),
)

# -- evaluations (docs/evaluations.md) ------------------------------------------------------

# A metric: a named question asked of each call of the agents it is attached to, by the
# LLM judge (prompt), or by an offline rule (openline's extension).
eval_metrics = Table(
    "eval_metrics",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("display_name", String(200), nullable=True),
    Column("prompt", Text, nullable=False),
    Column("rule", Json, nullable=True),
    Column("created_at", Timestamp, nullable=False),
)

agent_metrics = Table(
    "agent_metrics",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("metric_id", String(64), primary_key=True),
    Column("created_at", Timestamp, nullable=False),
    Index("ix_agent_metrics_metric_id", "metric_id"),
)

# One (call, metric) pair: pending until judged; completed, or failed with a reason.
# A failed result is retried until final. claimed_until is the lease of the process
# judging it, so several processes never judge one pair at once.
metric_results = Table(
    "metric_results",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("call_id", String(64), nullable=False),
    Column("metric_id", String(64), nullable=False),
    Column("metric_name", String(200), nullable=False),
    Column("agent_id", String(64), nullable=False),
    Column("deployment_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),  # pending | completed | failed
    Column("final", Boolean, nullable=False, server_default=false()),
    Column("result", Text, nullable=True),
    Column("value", Json, nullable=True),
    Column("json_result", Json, nullable=True),
    Column("reason", Text, nullable=True),
    Column("passed", Boolean, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_until", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    UniqueConstraint("call_id", "metric_id", name="uq_metric_results_call_metric"),
    Index("ix_metric_results_agent_id_id", "agent_id", "id"),
    Index("ix_metric_results_metric_id_id", "metric_id", "id"),
    Index("ix_metric_results_deployment_id_id", "deployment_id", "id"),
)

# -- alerts (docs/alerts.md) ----------------------------------------------------------------

# A rule's definition (``spec``: domain.alerts.Rule.spec) and its state. ``version`` goes
# up with every change, so a state moves only from the state it was read in.
alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("spec", Json, nullable=False),
    Column("targets", Json, nullable=False),  # webhook ids
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("state", String(16), nullable=False),  # ok | firing | resolved
    Column("state_since", Timestamp, nullable=False),
    Column("streak", Integer, nullable=False, server_default="0"),
    Column("fired_at", Timestamp, nullable=True),  # when the last firing began
    Column("transitions", Integer, nullable=False, server_default="0"),
    Column("value", Float, nullable=True),
    Column("calls", Integer, nullable=True),
    Column("detail", Json, nullable=True),
    Column("evaluated_at", Timestamp, nullable=True),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

alert_transitions = Table(
    "alert_transitions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("rule_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),  # the rule's transitions in order, from 1
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("calls", Integer, nullable=False),
    Column("window_s", Integer, nullable=False),
    Column("example_call_ids", Json, nullable=False),
    Column("detail", Json, nullable=True),
    UniqueConstraint("rule_id", "seq", name="uq_alert_transitions_rule_seq"),
    Index("ix_alert_transitions_rule_id_id", "rule_id", "id"),
)

# Each evaluation's value, for the console's chart; kept SAMPLES_KEPT_S (store.alerts).
alert_samples = Table(
    "alert_samples",
    metadata,
    Column("rule_id", String(64), primary_key=True),
    Column("at", Timestamp, primary_key=True),
    Column("value", Float, nullable=True),
    Column("calls", Integer, nullable=False),
    Index("ix_alert_samples_at", "at"),
)
