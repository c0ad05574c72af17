"""`openline calls recording`: download a call's recording from a real server."""

from __future__ import annotations

import socket
import threading

from typer.testing import CliRunner

from openline.cli import app
from tests.cli.support import make_call
from tests.support.recordings import record_call


def test_download_a_recording(cli, server, agent_id, tmp_path, monkeypatch):
    call_id = make_call(server, agent_id, "hello")
    content = record_call(server.platform.blobs, call_id, seconds=3.0)

    named = tmp_path / "call.wav"
    result = cli("calls", "recording", call_id, "-o", str(named))
    assert result.exit_code == 0, result.output
    assert named.read_bytes() == content
    assert f"Wrote the recording of {call_id}" in result.stderr and str(named) in result.stderr
    assert list(tmp_path.glob("*.part")) == []

    monkeypatch.chdir(tmp_path)
    assert cli("calls", "recording", call_id).exit_code == 0  # CALL_ID.wav by default
    assert (tmp_path / f"{call_id}.wav").read_bytes() == content

    piped = cli("calls", "recording", call_id, "--output", "-")
    assert piped.exit_code == 0 and piped.stdout_bytes == content


def test_no_recording_is_a_clear_error_and_writes_nothing(cli, server, agent_id, tmp_path):
    call_id = make_call(server, agent_id, "hello")
    out = tmp_path / "out"
    out.mkdir()
    target = out / "call.wav"
    result = cli("calls", "recording", call_id, "-o", str(target))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: call '{call_id}' has no recording"
    unknown = cli("calls", "recording", "call_nope", "-o", str(target))
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "Error: no call with id 'call_nope'"
    assert list(out.iterdir()) == []  # neither the file nor a partial one


def test_an_interrupted_download_leaves_no_file(tmp_path):
    """A server that promises a whole WAV and hangs up half way through."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_half() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: audio/wav\r\ncontent-length: 100000\r\n\r\n"
                + b"RIFF" * 1000
            )

    thread = threading.Thread(target=serve_half, daemon=True)
    thread.start()
    target = tmp_path / "call.wav"
    result = CliRunner().invoke(
        app,
        ["calls", "recording", "call_x", "-o", str(target)],
        env={"OPENLINE_URL": f"http://127.0.0.1:{port}", "OPENLINE_API_KEY": "k"},
    )
    thread.join(10)
    listener.close()
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the download broke off (peer closed connection")
    assert list(tmp_path.iterdir()) == []
