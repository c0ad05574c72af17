"""`openline init`: the scaffold is written, protected, and its own test passes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from openline.cli.init_cmd import init_project


def test_scaffold_writes_files_and_its_test_passes(tmp_path):
    project = tmp_path / "My Agent"
    written = init_project(project)
    assert sorted(p.relative_to(project).as_posix() for p in written) == [
        "README.md",
        "main.py",
        "pyproject.toml",
        "scenarios/greets.yaml",
        "tests/test_agent.py",
    ]
    assert 'name = "my-agent"' in (project / "pyproject.toml").read_text()
    assert 'AgentApp(agent, name="my-agent")' in (project / "main.py").read_text()
    assert "{{" not in "".join(p.read_text() for p in written)

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_scaffold_refuses_to_overwrite(tmp_path):
    (tmp_path / "main.py").write_text("# mine\n")
    with pytest.raises(FileExistsError, match=r"main\.py"):
        init_project(tmp_path, name="x")
    assert (tmp_path / "main.py").read_text() == "# mine\n"
    assert not (tmp_path / "README.md").exists()  # nothing written
    written = init_project(tmp_path, name="x", force=True)
    assert len(written) == 5
    assert "AgentApp(agent" in (tmp_path / "main.py").read_text()
