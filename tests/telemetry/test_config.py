"""Which OTEL_* settings turn export on, and what openline does with the ones it cannot
follow, a sampler that keeps nothing, and a queue too small for a call's spans."""

from __future__ import annotations

from datetime import timedelta

import pytest

from openline.domain.calls import Role, Turn
from openline.domain.time import utcnow
from openline.telemetry import Telemetry
from openline.telemetry.otlp import SignalExport, TelemetryConfigError, exports, resource, sampler
from tests.support.calls import TextCall, ended
from tests.support.otlp import http_receiver
from tests.support.scrape import samples, value
from tests.support.servers import openline_server

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


def test_export_is_off_unless_an_endpoint_is_set():
    assert exports({}) == []
    assert exports(ENDPOINT) == [
        SignalExport("traces", "http/protobuf"),
        SignalExport("logs", "http/protobuf"),
    ]
    only_traces = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}
    assert exports(only_traces) == [SignalExport("traces", "http/protobuf")]
    assert exports(ENDPOINT | {"OTEL_LOGS_EXPORTER": "none"}) == [
        SignalExport("traces", "http/protobuf")
    ]
    assert exports(ENDPOINT | {"OTEL_SDK_DISABLED": "true"}) == []
    grpc_logs = ENDPOINT | {"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc"}
    assert exports(grpc_logs)[1] == SignalExport("logs", "grpc")


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/json"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "zipkin"),
    ],
)
def test_settings_openline_cannot_follow_are_refused_by_name(setting, named):
    with pytest.raises(TelemetryConfigError, match=named):
        exports(ENDPOINT | setting)


def test_the_service_is_named_as_the_environment_says():
    attributes = resource({"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=voice"})
    assert attributes.attributes["service.name"] == "openline"
    assert attributes.attributes["deployment.environment"] == "prod"
    named = resource({"OTEL_SERVICE_NAME": "ol-eu", "OTEL_RESOURCE_ATTRIBUTES": "service.name=x"})
    assert named.attributes["service.name"] == "ol-eu"


@SQLITE
async def test_a_sampler_that_keeps_nothing_leaves_calls_untraced(settings, agent_url, monkeypatch):
    with http_receiver() as receiver:
        receiver.send_here(monkeypatch)
        monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
        with openline_server(settings) as server:
            agent_id = server.create_agent("Scripted", self_hosted_deployment_url=agent_url)
            call = await TextCall.open(server.ws_url, agent_id, server.api_key)
            await call.reply()
            await call.say("logs")
            await call.reply()
            await call.hang_up()
            record = await ended(server, call.call_id)
            assert record["trace_id"] is None
            # Its log lines are still exported, outside any trace.
            lines = receiver.received.wait_for(
                lambda r: [
                    x for x in r.logs if x.attributes.get("openline.call.id") == call.call_id
                ]
            )
            assert len(lines) == 5 and {line.trace_id for line in lines} == {""}
        assert receiver.received.spans == []


def test_spans_a_full_queue_drops_are_counted(monkeypatch):
    with http_receiver() as receiver:
        environ = receiver.environ() | {
            "OTEL_BSP_MAX_QUEUE_SIZE": "8",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "8",
            "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves the queue meanwhile
        }
        for name, setting in environ.items():
            monkeypatch.setenv(name, setting)
        telemetry = Telemetry.from_environ()
        start = utcnow()
        call = {"id": "call_q", "agent_id": "agent_q", "agent_name": "q", "start_time": start}
        watch = telemetry.call_started(call)
        turns = [
            Turn("call_q", n, 0, n * 0.5, Role.USER, "hi", end_timestamp=n * 0.5 + 0.2)
            for n in range(30)
        ]
        ended_call = call | {"end_time": start + timedelta(seconds=20), "status": "completed"}
        watch.ended(ended_call, turns)
        telemetry.close()
        found = samples(telemetry.metrics.exposition().decode())
        lost = value(found, "openline_telemetry_dropped_total", signal="traces")
        kept = len(receiver.received.spans)
        assert kept == 8  # the queue's size: the rest (of 30 turns and the root) is lost
        assert lost == 31 - kept


def test_the_sampler_is_the_one_the_environment_names():
    assert sampler({}).get_description() == "AlwaysOnSampler"
    ratio = sampler(
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}
    )
    assert ratio.get_description() == "TraceIdRatioBased{0.25}"
    with pytest.raises(TelemetryConfigError, match="jaeger_remote"):
        sampler({"OTEL_TRACES_SAMPLER": "jaeger_remote"})
    with pytest.raises(TelemetryConfigError, match="between 0 and 1"):
        sampler({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"})
