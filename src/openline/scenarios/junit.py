"""A run's outcomes as JUnit XML, the report CI systems read (one ``testcase`` per scenario,
``classname`` its file): an unmet expectation is a ``failure``, a scenario that could not
run an ``error``; each case's ``system-out`` links its call."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from openline.scenarios.caller import Server
from openline.scenarios.run import Outcome, call_url

SUITE = "openline test"


def write(path: Path, outcomes: list[Outcome], run_id: str, server: Server) -> None:
    """Raises OSError when the file cannot be written."""
    ET.ElementTree(report(outcomes, run_id, server)).write(
        path, encoding="utf-8", xml_declaration=True
    )


def report(outcomes: list[Outcome], run_id: str, server: Server) -> ET.Element:
    counts = {
        "tests": str(len(outcomes)),
        "failures": str(sum(1 for o in outcomes if o.error is None and o.failures)),
        "errors": str(sum(1 for o in outcomes if o.error is not None)),
        "time": f"{sum(o.seconds for o in outcomes):.3f}",
    }
    suites = ET.Element("testsuites", {"name": SUITE, **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": SUITE, **counts})
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "test_run", "value": run_id})
    for outcome in outcomes:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": str(outcome.scenario.file),
                "name": outcome.scenario.name,
                "time": f"{outcome.seconds:.3f}",
            },
        )
        if outcome.error is not None:
            ET.SubElement(case, "error", {"message": outcome.error}).text = outcome.error
        elif outcome.failures:
            failure = ET.SubElement(case, "failure", {"message": outcome.failures[0]})
            failure.text = "\n".join(outcome.failures)
        if outcome.call_id:
            link = f"call {outcome.call_id}: {call_url(server, outcome.call_id)}"
            ET.SubElement(case, "system-out").text = link
    return suites
