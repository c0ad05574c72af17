"""`openline calls logs`, `openline calls analyze` and `openline init`."""

from __future__ import annotations

import subprocess
import sys

from tests.cli.support import make_call


def test_calls_logs_with_level_and_search(cli, server, agent_id):
    call_id = make_call(server, agent_id, "logs 2", "bye")
    everything = cli("calls", "logs", call_id)
    assert everything.exit_code == 0
    lines = [line for line in everything.stdout.splitlines() if "agent.code:" in line]
    assert len(lines) == 10
    assert "DEBUG" in lines[0] and "line 0 at debug 100%_done" in lines[0]
    errors = cli("calls", "logs", call_id, "--level", "error").stdout
    assert errors.count("ERROR") == 2 and "Traceback: boom" in errors and "DEBUG" not in errors
    found = cli("calls", "logs", call_id, "-s", "line 2 ").stdout
    assert "line 2 at warning" in found and "line 3" not in found
    followed = cli("calls", "logs", call_id, "-f", "--level", "warning").stdout
    assert followed.count("WARNING") == 2 and "INFO" not in followed
    bad = cli("calls", "logs", call_id, "--level", "loud")
    assert bad.exit_code == 1 and "--level must be one of" in bad.stderr


def test_calls_analyze_prints_a_fresh_summary(cli, server, agent_id):
    call_id = make_call(server, agent_id, "tool Q5", "bye")
    result = cli("calls", "analyze", call_id)
    assert result.exit_code == 0
    assert "“tool Q5”" in result.stdout and "lookup_order" in result.stdout
    with server.client() as http:
        call = http.get(f"/agents/calls/{call_id}").json()
    assert call["summary"] == result.stdout.strip()
    missing = cli("calls", "analyze", "call_missing")
    assert missing.exit_code == 1 and "no call with id" in missing.stderr


def test_init_scaffolds_a_project_whose_test_passes(cli, tmp_path):
    project = tmp_path / "my-agent"
    created = cli("init", str(project), "--name", "my-agent")
    assert created.exit_code == 0, created.stderr
    assert (project / "main.py").exists() and "created" in created.stdout
    again = cli("init", str(project))
    assert again.exit_code == 1 and "--force" in again.stderr
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(project / "tests")],
        cwd=project,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
