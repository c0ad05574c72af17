"""Everything a running openline process holds, opened and closed in one place."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Engine

from openline import ids
from openline._data_dir import prepare as prepare_data_dir
from openline.alerts.evaluator import LOCK_ID as ALERTS_LOCK_ID
from openline.alerts.evaluator import AlertEvaluator
from openline.analysis.evaluator import Evaluator
from openline.analysis.judges import Judge
from openline.analysis.runner import MAX_ATTEMPTS, AnalysisRunner
from openline.analysis.summarizers import LlmSummarizer, OfflineSummarizer, Summarizer
from openline.config import Settings
from openline.deploy.settings import DeploySettings
from openline.deploy.supervisor import Supervisor
from openline.harness.session import Harness
from openline.store.agents import AgentRepo
from openline.store.alerts import AlertRepo
from openline.store.analytics import AnalyticsRepo
from openline.store.blobs import BlobStore, LocalBlobStore, S3BlobStore
from openline.store.calls import CallRepo
from openline.store.db import make_engine, migrate
from openline.store.delivery_log import DeliveryLog
from openline.store.delivery_queue import DeliveryQueue
from openline.store.deployments import DeploymentLogRepo, DeploymentRepo, EnvVarRepo
from openline.store.evaluations import MetricRepo, ResultRepo
from openline.store.feed import ChangeFeed
from openline.store.journal import Journal, leftovers
from openline.store.keys import KeyRepo
from openline.store.leadership import Leadership
from openline.store.leases import LeaseKeeper
from openline.store.processes import ProcessRepo
from openline.store.replay import replay
from openline.store.rollups import RollupKeeper
from openline.store.sealing import Sealer
from openline.store.sessions import SessionRepo
from openline.store.webhook_configs import WebhookConfigs
from openline.store.webhook_secrets import WebhookSecrets
from openline.store.writer import Writer
from openline.telemetry import Telemetry
from openline.telemetry.metrics import StoreGauges
from openline.webhooks.dispatcher import Dispatcher
from openline.webhooks.health import HealthPolicy
from openline.webhooks.mailer import Mailer
from openline.webhooks.targets import TargetPolicy

log = logging.getLogger(__name__)

CREDENTIALS_FILE = "credentials"
JOURNALS_DIR = "journal"


@dataclass
class Platform:
    settings: Settings
    engine: Engine  # the one the repositories share
    agents: AgentRepo
    calls: CallRepo
    keys: KeyRepo
    sessions: SessionRepo
    feed: ChangeFeed
    writer: Writer
    harness: Harness
    webhooks: WebhookConfigs
    delivery_queue: DeliveryQueue
    delivery_log: DeliveryLog
    target_policy: TargetPolicy
    dispatcher: Dispatcher
    analysis: AnalysisRunner
    deployments: Supervisor  # runs them; their rows, logs and env vars are the three below
    deployment_repo: DeploymentRepo
    deployment_logs: DeploymentLogRepo
    env_vars: EnvVarRepo
    blobs: BlobStore
    lease: LeaseKeeper
    analytics: AnalyticsRepo
    rollups: RollupKeeper
    metrics: MetricRepo
    metric_results: ResultRepo
    alerts: AlertRepo
    alert_evaluator: AlertEvaluator
    telemetry: Telemetry

    @classmethod
    async def open(cls, settings: Settings) -> Platform:
        """Start everything; if a step fails, what already started is stopped again (in
        reverse order) before the error goes on, so a failed start leaves nothing running
        and no journal or lease held."""
        async with AsyncExitStack() as started:
            platform = await cls._open(settings, started)
            started.pop_all()  # running now: ``close`` stops it
            return platform

    @classmethod
    async def _open(cls, settings: Settings, started: AsyncExitStack) -> Platform:
        prepare_data_dir(settings.data_dir, settings.sqlalchemy_url)
        blobs = _blob_store(settings)  # first: a bad storage set-up fails before anything runs
        await asyncio.to_thread(blobs.recover)  # recordings a crash left un-uploaded
        engine = make_engine(settings.sqlalchemy_url)
        started.callback(engine.dispose)
        migrate(engine)
        feed = ChangeFeed()
        started.push_async_callback(feed.close)
        if engine.dialect.name == "postgresql":
            feed.listen(
                engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            )
        processes = ProcessRepo(engine)
        journals = settings.data_dir / JOURNALS_DIR
        await asyncio.to_thread(_replay_leftover_journals, engine, processes, journals)
        process_id = ids.new_id(ids.PROCESS)
        journal = Journal.create(journals, process_id, settings.journal_fsync)
        telemetry = Telemetry.from_environ()
        started.callback(telemetry.close)
        metrics = telemetry.metrics
        writer = Writer(engine, feed, settings.writer_max_batch, journal, metrics.batch_committed)
        writer.start()
        started.push_async_callback(writer.close)  # which closes the journal too
        calls = CallRepo(engine)
        base_url = settings.public_url or f"http://{settings.host}:{settings.port}"
        secrets = WebhookSecrets(Sealer.load(settings.data_dir, settings.secrets_key))
        webhooks = WebhookConfigs(engine, secrets)
        health = HealthPolicy(settings.webhook_disable_after_s, settings.webhook_probe_max_s)
        delivery_queue = DeliveryQueue(engine, secrets, health)
        policy = TargetPolicy(settings.webhook_allow_http, settings.webhook_allow_private)
        dispatcher = Dispatcher(
            delivery_queue,
            feed,
            policy,
            tuple(settings.webhook_retry_schedule_s),
            settings.webhook_timeout_s,
            settings.webhook_concurrency,
            _mailer(settings),
            telemetry,
        )
        http = httpx.AsyncClient()
        started.push_async_callback(http.aclose)
        metric_repo, results = MetricRepo(engine), ResultRepo(engine)
        judge = Judge(
            http,
            settings.analysis_llm_base_url,
            settings.analysis_llm_api_key,
            settings.analysis_llm_model,
            settings.judge_timeout_s,
        )
        # A lease outlives the judge's timeout, so only a dead process's lease runs out.
        evaluator = Evaluator(results, judge, 2 * settings.judge_timeout_s + 5, MAX_ATTEMPTS)
        analysis = AnalysisRunner(
            calls, _summarizer(settings, http), evaluator, settings.analysis_retry_s, feed
        )
        harness = Harness(
            settings,
            writer,
            calls,
            http,
            base_url,
            webhooks,
            analysis.schedule,
            blobs=blobs,
            process_id=process_id,
            telemetry=telemetry,
        )
        telemetry.find_traces_with(calls.trace_of)
        lease = LeaseKeeper(
            process_id,
            processes,
            calls,
            feed,
            analysis.schedule,
            settings.process_heartbeat_s,
            settings.process_lease_ttl_s,
            # A call owned by no process predates leases: it is over once no call could
            # still be running (its process would have hung up at the duration cap).
            unowned_grace_s=settings.max_call_duration_s + settings.process_lease_ttl_s,
        )
        supervisor = Supervisor(settings, DeploySettings(), engine, writer, feed, http, telemetry)
        metrics.watch_store(
            StoreGauges(
                outbox=delivery_queue.backlog,
                deployments=supervisor.repo.by_status,
                restarts=supervisor.repo.live_restarts,
                writer_depth=lambda: writer.depth,
            )
        )
        analytics, alerts = AnalyticsRepo(engine), AlertRepo(engine)
        alert_evaluator = AlertEvaluator(
            alerts,
            analytics,
            Leadership(engine, ALERTS_LOCK_ID),
            feed,
            base_url,
            settings.alert_interval_s,
        )
        platform = cls(
            settings=settings,
            engine=engine,
            agents=AgentRepo(engine),
            calls=calls,
            keys=KeyRepo(engine),
            sessions=SessionRepo(engine),
            feed=feed,
            writer=writer,
            harness=harness,
            webhooks=webhooks,
            delivery_queue=delivery_queue,
            delivery_log=DeliveryLog(engine),
            target_policy=policy,
            dispatcher=dispatcher,
            analysis=analysis,
            deployments=supervisor,
            deployment_repo=supervisor.repo,
            deployment_logs=supervisor.logs,
            env_vars=supervisor.env,
            blobs=blobs,
            lease=lease,
            analytics=analytics,
            rollups=RollupKeeper(engine),
            metrics=metric_repo,
            metric_results=results,
            alerts=alerts,
            alert_evaluator=alert_evaluator,
            telemetry=telemetry,
        )
        dispatcher.start()
        started.push_async_callback(dispatcher.close)
        analysis.start()
        started.push_async_callback(analysis.close)
        platform.rollups.start(settings.analytics_interval_s)
        started.push_async_callback(platform.rollups.close)
        alert_evaluator.start()
        started.push_async_callback(alert_evaluator.close)
        await asyncio.to_thread(lease.register)
        started.push_async_callback(lease.close)  # gives the lease up
        # SQLite: one process owns the file, so every call left open is an orphan now.
        await lease.sweep(unowned_grace_s=0.0 if engine.dialect.name == "sqlite" else None)
        lease.start()
        # Env var values an openline from before sealing stored in plain text: sealed once.
        if sealed := await asyncio.to_thread(platform.env_vars.seal_plain):
            log.info("sealed %d agent environment variable values stored in plain text", sealed)
        if sealed := await asyncio.to_thread(webhooks.seal_plain):
            log.info("sealed %d webhook secrets stored in plain text", sealed)
        started.push_async_callback(supervisor.close)  # what it brought back, if it fails midway
        await supervisor.start()  # brings back the deployments that were live
        return platform

    async def close(self) -> None:
        await self.deployments.close()  # first: its last log lines go through the writer
        await self.analysis.close()
        await self.alert_evaluator.close()
        await self.rollups.close()
        await self.writer.close()
        await self.lease.close()  # after the writer: the calls that ended here are recorded
        await self.dispatcher.close()
        await self.feed.close()
        await self.harness.http.aclose()
        await asyncio.to_thread(self.telemetry.close)  # sends what it holds, off the loop
        self.engine.dispose()

    def ensure_admin_key(self) -> str | None:
        """Install the first API key; returns it when it was generated just now."""
        if self.keys.count():
            return None
        given = self.settings.api_key
        _, key = self.keys.create("admin", given)
        credentials = self.settings.data_dir / CREDENTIALS_FILE
        credentials.write_text(key + "\n")
        credentials.chmod(0o600)
        return None if given else key


def saved_key(data_dir: Path) -> str | None:
    """The admin key saved for the CLI when the data dir was created."""
    path = data_dir / CREDENTIALS_FILE
    return path.read_text().strip() if path.exists() else None


def _replay_leftover_journals(engine: Engine, processes: ProcessRepo, root: Path) -> None:
    """Commit what processes that died on this data dir had journaled but not committed,
    then end their leases, so that their calls left open are closed at once."""
    for leftover in leftovers(root):
        count = replay(engine, leftover.ops())
        processes.expire([leftover.process_id])
        leftover.discard()
        log.warning("replayed %d journaled writes of process %s", count, leftover.process_id)


def _blob_store(settings: Settings) -> BlobStore:
    if settings.recordings_s3_bucket:
        return S3BlobStore(
            settings.recordings_s3_bucket,
            settings.recordings_s3_prefix,
            settings.data_dir / "blobs-spool",
            settings.recordings_s3_endpoint_url,
        )
    return LocalBlobStore(settings.data_dir / "blobs")


def _mailer(settings: Settings) -> Mailer:
    return Mailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_username,
        settings.smtp_password,
        settings.smtp_starttls,
        settings.smtp_from,
        settings.webhook_timeout_s,
    )


def _summarizer(settings: Settings, http: httpx.AsyncClient) -> Summarizer:
    if settings.analysis_llm_base_url:
        return LlmSummarizer(
            http,
            settings.analysis_llm_base_url,
            settings.analysis_llm_api_key,
            settings.analysis_llm_model,
        )
    return OfflineSummarizer()
