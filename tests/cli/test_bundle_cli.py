"""`openline calls bundle`: one zip of a call's whole record, from a real server."""

from __future__ import annotations

import io
import json
import zipfile

from tests.cli.support import make_call
from tests.support.recordings import record_call


def test_download_a_bundle(cli, server, agent_id, tmp_path, monkeypatch):
    call_id = make_call(server, agent_id, "tool 7")
    content = record_call(server.platform.blobs, call_id, seconds=1.0)

    named = tmp_path / "debug.zip"
    result = cli("calls", "bundle", call_id, "-o", str(named))
    assert result.exit_code == 0, result.output
    assert f"Wrote the bundle of {call_id}" in result.stderr and str(named) in result.stderr
    with zipfile.ZipFile(named) as bundle:
        assert bundle.read("recording.wav") == content
        assert json.loads(bundle.read("call.json"))["id"] == call_id
        assert "Order 7 has shipped." in bundle.read("transcript.txt").decode()
    assert list(tmp_path.glob("*.part")) == []

    monkeypatch.chdir(tmp_path)
    assert cli("calls", "bundle", call_id).exit_code == 0  # CALL_ID.zip by default
    assert zipfile.is_zipfile(tmp_path / f"{call_id}.zip")
    piped = cli("calls", "bundle", call_id, "--output", "-")
    assert piped.exit_code == 0 and zipfile.is_zipfile(io.BytesIO(piped.stdout_bytes))


def test_an_unknown_call_is_one_clear_line_and_writes_nothing(cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = cli("calls", "bundle", "call_nope", "-o", str(out / "x.zip"))
    assert result.exit_code == 1
    assert "call_nope" in result.stderr and "Traceback" not in result.stderr
    assert list(out.iterdir()) == []
