"""The JUnit report: one case per scenario, failures and errors apart, links to the calls."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from openline.scenarios import junit
from openline.scenarios.run import Outcome
from openline.scenarios.spec import Scenario


@dataclass(frozen=True)
class Server:
    url: str = "http://openline.test"
    ws_url: str = "ws://openline.test"
    headers: dict | None = None


def outcome(name: str, **fields) -> Outcome:
    scenario = Scenario.model_validate({"name": name, "expect": [{"max_latency": 1}]})
    return Outcome(scenario, **fields)


def test_report(tmp_path):
    outcomes = [
        outcome("fine", call_id="call_1", seconds=1.25),
        outcome("wrong", call_id="call_2", failures=["assistant_says: no", "metric: nope"]),
        outcome("refused", error="the call could not start: no live deployment"),
    ]
    path = tmp_path / "report.xml"
    junit.write(path, outcomes, "run_7", Server())
    assert path.read_text().startswith("<?xml version='1.0' encoding='utf-8'?>")
    root = ET.parse(path).getroot()
    [suite] = root.findall("testsuite")
    for element in (root, suite):
        counts = [element.get(key) for key in ("tests", "failures", "errors", "time")]
        assert counts == ["3", "1", "1", "1.250"]
    assert suite.find("properties/property").attrib == {"name": "test_run", "value": "run_7"}
    fine, wrong, refused = suite.findall("testcase")
    assert (fine.get("name"), fine.get("classname"), fine.get("time")) == ("fine", ".", "1.250")
    assert list(fine) == [fine.find("system-out")]
    assert fine.find("system-out").text == "call call_1: http://openline.test/console/calls/call_1"
    failure = wrong.find("failure")
    assert failure.get("message") == "assistant_says: no"
    assert failure.text == "assistant_says: no\nmetric: nope"
    assert refused.find("error").get("message") == "the call could not start: no live deployment"
    assert refused.find("failure") is None and refused.find("system-out") is None
