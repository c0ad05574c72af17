"""The deploy package's pure parts: archives, project rules, log levels, .env files,
retention and the numbering of a deployment's log lines (on both databases)."""

from __future__ import annotations

import gc
import io
import tarfile
from datetime import timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openline.cli._deploy_env import parse_dotenv
from openline.cli._errors import CliError
from openline.config import Settings
from openline.deploy import retention
from openline.deploy.archive import UnsafeArchive, pack, unpack
from openline.deploy.logsink import level_of
from openline.deploy.project import ProjectError, inspect
from openline.deploy.settings import DeploySettings
from openline.deploy.supervisor import Supervisor
from openline.domain.time import utcnow
from openline.store.db import make_engine, migrate
from openline.store.deployments import DeploymentLogRepo, DeploymentRepo, LogQuery
from openline.store.feed import ChangeFeed
from openline.store.schema import deployment_logs
from openline.store.writer import Writer


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = (
        request.getfixturevalue("pg_url")
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'store.db'}"
    )
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


# -- archives ----------------------------------------------------------------------------


def test_pack_leaves_out_environments_caches_and_secrets(tmp_path):
    for path in ("main.py", "pkg/util.py", ".env", ".venv/bin/python", "__pycache__/x.pyc"):
        (tmp_path / "a" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "a" / path).write_text("x")
    with tarfile.open(fileobj=io.BytesIO(pack(tmp_path / "a"))) as archive:
        assert sorted(archive.getnames()) == ["main.py", "pkg", "pkg/util.py"]
    (tmp_path / "a" / "link").symlink_to("/etc/passwd")
    with pytest.raises(ValueError, match="symbolic link"):
        pack(tmp_path / "a")


def test_unpack_writes_plain_files_only_inside_its_directory(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, mode in (("./main.py", 0o4755), ("sub/data.txt", 0o600)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid = 2, mode, 0
            archive.addfile(info, io.BytesIO(b"hi"))
    (tmp_path / "up.tgz").write_bytes(buffer.getvalue())
    assert unpack(tmp_path / "up.tgz", tmp_path / "out", 10_000, 10) == 2
    assert (tmp_path / "out" / "main.py").stat().st_mode & 0o7777 == 0o755  # no setuid
    assert (tmp_path / "out" / "sub" / "data.txt").stat().st_mode & 0o7777 == 0o644
    with pytest.raises(UnsafeArchive, match="more than 3 bytes"):
        unpack(tmp_path / "up.tgz", tmp_path / "small", 3, 10)
    with pytest.raises(UnsafeArchive, match="at most 1"):
        unpack(tmp_path / "up.tgz", tmp_path / "few", 10_000, 1)


names = st.lists(st.text(alphabet="ab./\\-", min_size=1, max_size=12), min_size=1, max_size=5)


@settings(max_examples=150, deadline=None)
@given(names)
def test_no_member_name_lands_outside_the_directory(tmp_path_factory, members):
    root = tmp_path_factory.mktemp("fuzz")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in members:
            info = tarfile.TarInfo(name)
            info.size = 1
            archive.addfile(info, io.BytesIO(b"x"))
    (root / "up.tar").write_bytes(buffer.getvalue())
    try:
        unpack(root / "up.tar", root / "box" / "out", 1000, 100)
    except (UnsafeArchive, OSError):
        pass
    outside = [p for p in root.rglob("*") if not p.is_relative_to(root / "box")]
    assert outside == [root / "up.tar"]


# -- project rules --------------------------------------------------------------------------


def test_dependencies_come_from_pyproject_then_requirements(tmp_path):
    (tmp_path / "main.py").write_text("")
    (tmp_path / "requirements.txt").write_text("httpx  # a comment\n\n-r more.txt\n")
    project = inspect(tmp_path)
    assert (project.source, project.requirements) == ("requirements.txt", ["httpx", "-r more.txt"])
    assert project.openline_extras is None
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "a"\ndependencies = ["openline[loguru]>=0.1", "openline-x", "rich"]\n'
    )
    (tmp_path / "cartesia.toml").write_text('[app]\nname = "desk"\n')
    project = inspect(tmp_path)
    assert project.source == "pyproject.toml"
    assert project.requirements == ["openline-x", "rich"]  # openline-x is another package
    assert (project.openline_extras, project.app_name) == (["loguru"], "desk")
    (tmp_path / "cartesia.toml").write_text("[app\n")
    with pytest.raises(ProjectError, match=r"cartesia\.toml is not valid TOML"):
        inspect(tmp_path)


def test_an_archive_of_one_directory_is_that_directory(tmp_path):
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "main.py").write_text("")
    assert inspect(tmp_path).root == tmp_path / "agent"
    (tmp_path / "agent" / "main.py").unlink()
    with pytest.raises(ProjectError, match="no entry point"):
        inspect(tmp_path)


# -- log levels and .env files -------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "line", "level"),
    [
        ("stderr", "INFO:     Uvicorn running on http://127.0.0.1:8000", "info"),
        ("stderr", "2025-01-01 12:00:00,001 WARNING agent: slow", "warning"),
        ("stdout", 'ts=1 level=error msg="boom"', "error"),
        ("stdout", "no error here, just prose", "info"),
        ("stderr", '  File "main.py", line 3, in <module>', "error"),
        ("stdout", "Traceback (most recent call last):", "error"),
        ("stdout", "FATAL: out of memory", "critical"),
    ],
)
def test_levels_come_from_the_line_or_its_stream(stream, line, level):
    assert level_of(stream, line) == level


def test_dotenv_files():
    text = 'export A="x y"\nB=\'$raw\'\n# note\n\nC=plain # trailing\nD="a\\nb"\n'
    assert parse_dotenv(text) == {"A": "x y", "B": "$raw", "C": "plain", "D": "a\nb"}
    with pytest.raises(CliError, match="line 1"):
        parse_dotenv("not a pair")


# -- retention ----------------------------------------------------------------------------------


def _lines(engine, deployment_id: str, ages_days: list[float]) -> None:
    now = utcnow()
    rows = [
        {
            "deployment_id": deployment_id,
            "seq": seq,
            "at": now - timedelta(days=age),
            "stream": "stdout",
            "level": "info",
            "message": f"line {seq}",
            "call_id": None,
        }
        for seq, age in enumerate(ages_days, 1)
    ]
    with engine.begin() as connection:
        connection.execute(deployment_logs.insert(), rows)


def test_log_retention_by_age_and_by_count(engine):
    _lines(engine, "dep_a", [10, 9, 1, 0.5, 0])
    _lines(engine, "dep_b", [0] * 5)
    repo = DeploymentLogRepo(engine)
    assert repo.prune(utcnow() - timedelta(days=7), max_lines=3) == 2 + 2
    kept_a, _ = repo.lines("dep_a", LogQuery())
    kept_b, _ = repo.lines("dep_b", LogQuery())
    assert [row["seq"] for row in kept_a] == [3, 4, 5]
    assert [row["seq"] for row in kept_b] == [3, 4, 5]


async def test_old_builds_are_removed_but_the_newest_are_kept(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    feed = ChangeFeed()
    async with httpx.AsyncClient() as http:
        supervisor = Supervisor(
            Settings(data_dir=tmp_path),
            DeploySettings(keep_builds=1),
            engine,
            Writer(engine, feed),
            feed,
            http,
        )
        repo = DeploymentRepo(engine)
        for deployment_id, status in (
            ("dep_1", "inactive"),
            ("dep_2", "build_error"),
            ("dep_3", "deployed"),
        ):
            repo.create(
                {
                    "id": deployment_id,
                    "agent_id": "agent_x",
                    "status": status,
                    "source_sha256": "0" * 64,
                    "source_bytes": 1,
                }
            )
            paths = supervisor.paths(deployment_id)
            for directory in (paths.source, paths.venv):
                directory.mkdir(parents=True)
            paths.ready.touch()
            paths.archive.write_bytes(b"kept")
        repo.create(  # live, but its agent was deleted
            {
                "id": "dep_4",
                "agent_id": "agent_gone",
                "status": "deployed",
                "is_live": True,
                "source_sha256": "0" * 64,
                "source_bytes": 1,
            }
        )
        assert await retention.prune_once(supervisor) == (0, 1)
    gone, kept, live = (supervisor.paths(d) for d in ("dep_1", "dep_2", "dep_3"))
    assert not gone.venv.exists() and not gone.ready.exists() and gone.archive.exists()
    assert kept.venv.exists() and live.venv.exists()
    retired = repo.get("dep_4")
    assert (retired["status"], retired["is_live"]) == ("inactive", False)
    engine.dispose()


class _Rows:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def insert(self, table, row: dict, key: str) -> None:
        self.rows.append(row)


async def test_a_flood_of_output_is_dropped_and_counted_and_secrets_are_masked():
    from openline.deploy.logsink import DeploymentLog
    from openline.deploy.routing import InFlight

    rows = _Rows()
    sink = DeploymentLog("dep_x", rows, InFlight(), last_seq=7, lines_per_s=10)
    sink.set_secrets({"TOKEN": "hunter22", "SHORT": "on"})
    for n in range(50):
        sink.output("stdout", f"line {n} hunter22 on")
    sink.flush()
    kept = [row for row in rows.rows if row["stream"] == "stdout"]
    assert 10 <= len(kept) < 15  # the bucket holds 10, and refills at 10 a second
    assert kept[0]["message"] == "line 0 [redacted TOKEN] on"
    assert kept[0]["seq"] == 8
    (note,) = [row for row in rows.rows if row["stream"] == "system"]
    assert note["message"] == f"dropped {50 - len(kept)} lines of output (over 10 lines/s)"
    assert sink.last_output == "line 49 [redacted TOKEN] on"


# -- the deployment log's line numbers ---------------------------------------------------


async def test_a_deployment_log_still_written_to_after_its_deployment_settled_keeps_one_order(
    engine, tmp_path
):
    """A drain settles a stopped deployment while a promote writes to its log: the lines
    from both go on in one order, none refused as a duplicate."""
    feed = ChangeFeed()
    writer = Writer(engine, feed)
    writer.start()
    async with httpx.AsyncClient() as http:
        supervisor = Supervisor(
            Settings(data_dir=tmp_path), DeploySettings(), engine, writer, feed, http
        )
        DeploymentRepo(engine).create(
            {
                "id": "dep_1",
                "agent_id": "agent_x",
                "status": "deployed",
                "source_sha256": "0" * 64,
                "source_bytes": 1,
            }
        )
        held = await supervisor._sink("dep_1")  # the promote's
        held.note("info", "stopped (no call in flight on it any more)")
        await supervisor._settle("dep_1", url=None, pid=None)  # the drain's end
        again = await supervisor._sink("dep_1")  # the pipeline's, the promote's in hand
        held.note("info", "promoted: making it live")
        again.note("info", "its build is on disk: not building again")
        held.flush()
        again.flush()
        await writer.flush()
        del held, again
        gc.collect()
        later = await supervisor._sink("dep_1")  # nothing holds the log: a new one goes on
        later.note("info", "starting")
        later.flush()
        await writer.flush()
    await writer.close()
    lines, _ = DeploymentLogRepo(engine).lines("dep_1", LogQuery())
    assert [(line["seq"], line["message"]) for line in lines] == [
        (1, "stopped (no call in flight on it any more)"),
        (2, "promoted: making it live"),
        (3, "its build is on disk: not building again"),
        (4, "starting"),
    ]
