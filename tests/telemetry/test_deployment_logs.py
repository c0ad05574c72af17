"""A deployment's log lines that belong to no call go out as OTLP log records as they
are stored: with the deployment's id, their stream and level, its secrets masked."""

from __future__ import annotations

from openline.deploy.logsink import DeploymentLog
from openline.deploy.routing import InFlight
from openline.telemetry import Telemetry
from tests.support.otlp import http_receiver


class _Rows:
    """The writer's side of the log: the rows it was given (the store is not the point)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def insert(self, table, row: dict, key: str) -> None:
        self.rows.append(row)


async def test_deployment_lines_are_exported_masked(monkeypatch):
    with http_receiver() as receiver:
        receiver.send_here(monkeypatch)
        telemetry = Telemetry.from_environ()
        rows = _Rows()
        sink = DeploymentLog("dep_t", rows, InFlight(), last_seq=0, telemetry=telemetry)
        sink.set_secrets({"API_TOKEN": "s3cr3t-value"})
        sink.build("info", "installing dependencies")
        sink.output("stderr", "ERROR could not reach s3cr3t-value host")
        sink.flush()
        telemetry.close()  # sends what it holds
        lines = receiver.received.wait_for(lambda r: len(r.logs) >= 2 and r.logs)
    assert [(line.body, line.severity) for line in lines] == [
        ("installing dependencies", "INFO"),
        ("ERROR could not reach [redacted API_TOKEN] host", "ERROR"),
    ]
    assert [line.attributes["openline.log.stream"] for line in lines] == ["build", "stderr"]
    assert {line.attributes["openline.deployment.id"] for line in lines} == {"dep_t"}
    assert [row["message"] for row in rows.rows] == [line.body for line in lines]
