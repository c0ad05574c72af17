"""Bad agent code and bad archives end in build_error / deploy_error with the reason in
the API and the logs, touch nothing outside their own directory, and leave the agent's
live deployment serving."""

from __future__ import annotations

import io
import socket
import tarfile
from pathlib import Path

import pytest

from openline.deploy.archive import pack
from tests.deploy.support import deploy, messages, upload, wait_settled
from tests.support.calls import TextCall

STATUS_OK = "from http.server import BaseHTTPRequestHandler, HTTPServer\n"


@pytest.fixture
def quick_health(monkeypatch) -> None:
    monkeypatch.setenv("OPENLINE_DEPLOY_HEALTH_TIMEOUT_S", "3")


def _directory(root: Path, name: str, files: dict[str, str]) -> Path:
    directory = root / name
    directory.mkdir()
    for path, text in files.items():
        (directory / path).write_text(text)
    return directory


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str, text: str = "print('hi')\n") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), text.encode()


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


async def test_bad_code_and_bad_archives_fail_with_a_reason(
    quick_health, server, tmp_path, echo_dir
):
    outside = tmp_path / "outside"
    outside.mkdir()
    occupied = socket.socket()
    occupied.bind(("127.0.0.1", 0))
    occupied.listen()
    clash_port = occupied.getsockname()[1]

    live_agent = server.create_agent("live")
    live = deploy(server, live_agent, echo_dir("v1"))
    assert live["status"] == "deployed"

    sources = {
        "no entry point": pack(_directory(tmp_path, "noentry", {"app.py": "print(1)\n"})),
        "failing install": pack(
            _directory(
                tmp_path,
                "badreq",
                {"main.py": "print(1)\n", "requirements.txt": "openline-no-such-pkg-7f3e==1.0\n"},
            )
        ),
        "syntax error": pack(
            _directory(tmp_path, "syntax", {"main.py": "def broken(:\n    pass\n"})
        ),
        "never healthy": pack(
            _directory(
                tmp_path,
                "sleeper",
                {"main.py": "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n"},
            )
        ),
        "port clash": pack(
            _directory(
                tmp_path,
                "clash",
                {
                    "main.py": STATUS_OK
                    + f"HTTPServer(('127.0.0.1', {clash_port}), BaseHTTPRequestHandler)"
                    + ".serve_forever()\n"
                },
            )
        ),
        "dot-dot path": _tar(_file("main.py"), _file("../../../../outside/evil.txt")),
        "symlink": _tar(_file("main.py"), _link("link", str(outside)), _file("link/evil.txt")),
        "hard link": _tar(_file("main.py"), _link("passwd", "/etc/passwd", tarfile.LNKTYPE)),
        "absolute path": _tar(_file("main.py"), _file(str(outside / "evil.txt"))),
        "not an archive": b"this is not a tarball",
    }
    started = {}
    for case, body in sources.items():
        # The syntax error goes to the agent that already has a live deployment.
        agent_id = live_agent if case == "syntax error" else server.create_agent(case)
        started[case] = upload(server, agent_id, body)["id"]
    results = {case: wait_settled(server, dep, 90) for case, dep in started.items()}
    occupied.close()

    expected = {
        "no entry point": ("build_error", "no entry point: the archive has no main.py"),
        "failing install": ("build_error", "openline-no-such-pkg-7f3e"),
        "syntax error": ("build_error", "SyntaxError"),
        "never healthy": ("deploy_error", "did not answer GET /status on its PORT within 3s"),
        "port clash": ("deploy_error", "Address already in use"),
        "dot-dot path": ("build_error", "'..' would escape the deployment directory"),
        "symlink": ("build_error", "link: links are not allowed"),
        "hard link": ("build_error", "passwd: links are not allowed"),
        "absolute path": ("build_error", "absolute paths are not allowed"),
        "not an archive": ("build_error", "not a tar or tar.gz archive"),
    }
    for case, (status, reason) in expected.items():
        row = results[case]
        error = row["build_error"] if status == "build_error" else row["deployment_error"]
        assert (case, row["status"]) == (case, status), row
        assert reason in (error or ""), (case, error)
        assert not row["is_live"]
        log = "\n".join(messages(server, row["id"]))
        assert reason in log, (case, log)
    assert (
        "exited with code 1 before it became healthy" in results["port clash"]["deployment_error"]
    )
    assert "sleeping" in messages(server, results["never healthy"]["id"])

    # Nothing escaped: no file outside the deployments' own directories.
    assert list(outside.iterdir()) == []
    assert [p for p in tmp_path.rglob("evil*")] == []
    for case in ("never healthy", "port clash"):  # their processes were stopped
        assert server.platform.deployments.running(results[case]["id"]) is None

    # The agent whose new deployment failed keeps its live one.
    with server.client() as http:
        (listed_live,) = [
            d for d in http.get(f"/agents/{live_agent}/deployments").json() if d["is_live"]
        ]
    assert listed_live["id"] == live["id"]
    call = await TextCall.open(server.ws_url, live_agent, server.api_key)
    assert await call.reply() == "hello from v1"
    await call.hang_up()

    with server.client() as http:
        empty = http.post(f"/agents/{live_agent}/deployments", content=b"")
        unknown = http.post("/agents/agent_nope/deployments", content=b"x")
        refused = http.post(f"/agents/deployments/{results['syntax error']['id']}/promote")
    assert empty.status_code == 422
    assert unknown.status_code == 404
    assert refused.status_code == 409 and "never built" in refused.json()["error"]["message"]
