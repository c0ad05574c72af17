"""The scenarios that ship with the examples, and the one `openline init` scaffolds, pass
against their agents: real agent processes called through a real server, under the names
`openline up` registers them by."""

from __future__ import annotations

import pytest

from openline.bundled_agent import EXAMPLES, example_dir
from openline.cli.init_cmd import init_project
from tests.support.servers import agent_process


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: example.directory)
def test_the_examples_scenarios_pass(cli, server, example):
    directory = example_dir(example.directory)
    with agent_process(directory / "main.py") as url:
        server.create_agent(example.name, self_hosted_deployment_url=url)
        result = cli("test", str(directory / "scenarios"))
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.stdout


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_the_scaffolded_scenario_passes(cli, server, tmp_path):
    project = tmp_path / "Hello Agent"
    init_project(project)
    with agent_process(project / "main.py") as url:
        server.create_agent("hello-agent", self_hosted_deployment_url=url)
        result = cli("test", str(project / "scenarios"))
    assert result.exit_code == 0, result.output
    assert "1 passed, 0 failed" in result.stdout
