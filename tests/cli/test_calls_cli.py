"""`openline calls …`: list, read, follow and export real recorded calls."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time

from tests.cli.support import make_call
from tests.support.calls import TextCall

CUE = re.compile(r"^(\d\d):(\d\d):(\d\d)[.,](\d\d\d) --> (\d\d):(\d\d):(\d\d)[.,](\d\d\d)$")


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def _cues(text: str) -> list[tuple[float, float, list[str]]]:
    """(start, end, text lines) of each SRT/VTT cue."""
    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        for index, line in enumerate(lines):
            match = CUE.match(line)
            if match:
                g = match.groups()
                cues.append((_seconds(*g[:4]), _seconds(*g[4:]), lines[index + 1 :]))
    return cues


def test_transcript_in_every_format(cli, server, agent_id, tmp_path):
    call_id = make_call(server, agent_id, "hello there", "tool A123", "event", "bye")
    with server.client() as http:
        for _ in range(200):  # the summary lands just after the end: compare once it is in
            api = http.get(f"/agents/calls/{call_id}").json()
            if api["summary"] is not None:
                break
            time.sleep(0.02)
    turns = [e for e in api["transcript"] if e["role"] != "system"]
    assert len(turns) == 9  # the greeting, then four exchanges

    as_json = cli("calls", "transcript", call_id, "--format", "json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == api

    entries = [
        json.loads(line)
        for line in cli("calls", "transcript", call_id, "-f", "jsonl").stdout.splitlines()
    ]
    assert [e["call_id"] for e in entries] == [call_id] * len(api["transcript"])
    assert [{k: v for k, v in e.items() if k != "call_id"} for e in entries] == api["transcript"]

    rows = list(
        csv.DictReader(io.StringIO(cli("calls", "transcript", call_id, "-f", "csv").stdout))
    )
    spoken = [r for r in rows if r["kind"] in ("user", "assistant")]
    assert [(r["role"], r["text"]) for r in spoken] == [(t["role"], t["text"]) for t in turns]
    assert [float(r["start_timestamp"]) for r in spoken] == [t["start_timestamp"] for t in turns]
    assert [float(r["end_timestamp"]) for r in spoken] == [t["end_timestamp"] for t in turns]
    tool = next(r for r in rows if r["kind"] == "tool_call")
    assert (tool["tool_name"], json.loads(tool["tool_arguments"]), tool["tool_result"]) == (
        "lookup_order",
        {"order_id": "A123"},
        "shipped",
    )
    tool_turn = next(t for t in turns if t.get("tool_calls"))
    assert float(tool["start_timestamp"]) == tool_turn["start_timestamp"]
    events = {r["event"]: json.loads(r["event_metadata"]) for r in rows if r["kind"] == "log_event"}
    assert events["order_processed"]["metadata"] == {"status": "shipped", "order_id": "A123"}
    assert events["bare_event"] == {"key": "value"}
    metrics = {
        r["metric_name"]: json.loads(r["metric_value"]) for r in rows if r["kind"] == "log_metric"
    }
    assert metrics == {
        "orders_looked_up": 1,
        "metric_name": "metric_value",
        "system_call_success": True,
    }
    assert {r["call_id"] for r in rows} == {call_id}
    assert all(r["call_end_reason"] == "agent_hangup" for r in rows)

    txt = cli("calls", "transcript", call_id).stdout  # txt is the default
    assert f"Call {call_id} with Scripted" in txt
    hello = next(t for t in turns if t["text"] == "hello there")
    ms = round(hello["start_timestamp"] * 1000)
    assert f"[00:{ms // 1000:02d}.{ms % 1000:03d}] user: hello there" in txt
    assert 'tool lookup_order {"order_id": "A123"} -> shipped' in txt
    assert "] metric orders_looked_up = 1" in txt and "] event bare_event" in txt

    srt = cli("calls", "transcript", call_id, "-f", "srt").stdout
    blocks = srt.strip().split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == [
        str(n) for n in range(1, len(blocks) + 1)
    ]
    cues = _cues(srt)
    spoken_cues = [c for c in cues if c[2][0].startswith(("User: ", "Assistant: "))]
    assert [c[2][0] for c in spoken_cues] == [
        f"{t['role'].capitalize()}: {t['text']}" for t in turns
    ]
    for (start, end, _), turn in zip(spoken_cues, turns, strict=True):
        assert abs(start - turn["start_timestamp"]) < 0.0011
        assert end >= turn["end_timestamp"] - 0.0011 and end >= start + 1.0 - 0.0011
    tool_cue = next(c for c in spoken_cues if "Order A123 has shipped." in c[2][0])
    assert tool_cue[2][1] == '[tool] lookup_order {"order_id": "A123"} -> shipped'
    assert any(c[2][0].startswith("[event] order_processed") for c in cues)
    assert any(c[2][0] == "[metric] orders_looked_up = 1" for c in cues)

    out = tmp_path / "call.vtt"  # the format comes from the file's extension
    written = cli("calls", "transcript", call_id, "-o", str(out))
    assert written.exit_code == 0 and f"to {out}" in written.stderr
    vtt = out.read_text()
    assert vtt.startswith("WEBVTT\n\n")
    vtt_cues = _cues(vtt)
    assert [c[2][0] for c in vtt_cues] == [f"<v {t['role']}>{t['text']}" for t in turns]
    for (start, end, _), turn in zip(vtt_cues, turns, strict=True):
        assert abs(start - turn["start_timestamp"]) < 0.0011
        assert end >= max(turn["end_timestamp"], start + 1.0) - 0.0011
    notes = [b for b in vtt.split("\n\n") if b.startswith("NOTE ")]
    assert any(" event order_processed " in n for n in notes)
    assert any(n.endswith(" metric orders_looked_up = 1") for n in notes)
    assert any(' tool lookup_order {"order_id": "A123"} -> shipped' in n for n in notes)
    assert all("-->" not in n for n in notes)

    view = cli("calls", "get", call_id)
    assert view.exit_code == 0
    for fragment in (
        "agent_hangup (agent_ended)",
        "user      hello there",
        'tool      lookup_order {"order_id": "A123"} -> shipped',
        "event     order_processed",
        "metric    orders_looked_up = 1",
        "assistant Goodbye!",
    ):
        assert fragment in view.stdout, fragment
    assert json.loads(cli("calls", "get", call_id, "--json").stdout) == api
    assert api["trace_id"] is None and "trace id" not in view.stdout  # not exporting traces

    unknown = cli("calls", "get", "call_nope")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "Error: no call with id 'call_nope'"
    no_tail = cli("calls", "tail", "call_nope")
    assert no_tail.exit_code == 1 and "Error: no call with id 'call_nope'" in no_tail.stderr
    no_transcript = cli("calls", "transcript", "call_nope", "-f", "srt")
    assert no_transcript.exit_code == 1 and "no call with id" in no_transcript.stderr
    bad_format = cli("calls", "transcript", call_id, "-f", "docx")
    assert bad_format.exit_code == 1 and "--format must be one of" in bad_format.stderr


def test_list_and_export_with_filters(cli, server, agent_id, agent_url, tmp_path):
    other = json.loads(cli("agents", "create", "Other", "--url", agent_url, "--json").stdout)["id"]
    done = make_call(server, agent_id, "hello", "bye")
    failed = make_call(server, agent_id, "crash")
    hung_up = make_call(server, other, "tool B7")

    listed = cli("calls", "ls", "--json")
    assert [c["id"] for c in json.loads(listed.stdout)] == [hung_up, failed, done]
    table = cli("calls", "ls").stdout
    assert f"{failed}" in table and "failed" in table and "agent_hangup (agent_ended)" in table
    by_status = json.loads(cli("calls", "ls", "--status", "failed", "--json").stdout)
    assert [c["id"] for c in by_status] == [failed]
    by_agent = json.loads(cli("calls", "ls", "--agent", "Other", "--json").stdout)
    assert [c["id"] for c in by_agent] == [hung_up]
    by_reason = json.loads(cli("calls", "ls", "--end-reason", "agent_hangup", "--json").stdout)
    assert [c["id"] for c in by_reason] == [done]
    assert json.loads(cli("calls", "ls", "--limit", "2", "--json").stdout)[1]["id"] == failed
    assert json.loads(cli("calls", "ls", "--since", "1h", "--json").stdout)[-1]["id"] == done
    assert json.loads(cli("calls", "ls", "--until", "1h", "--json").stdout) == []
    assert "No calls match." in cli("calls", "ls", "--until", "2000-01-01").stdout
    bad_time = cli("calls", "ls", "--since", "yesterday-ish")
    assert bad_time.exit_code == 1 and "is not a time" in bad_time.stderr

    # Page by page (one call per page here), every call with its transcript.
    jsonl = tmp_path / "all.jsonl"
    exported = cli("calls", "export", "-o", str(jsonl), "--page-size", "1")
    assert exported.exit_code == 0, exported.output
    assert f"Exported 3 calls (jsonl) to {jsonl}" in exported.stderr
    calls = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [c["id"] for c in calls] == [hung_up, failed, done]
    assert [e["text"] for e in calls[2]["transcript"] if e["role"] == "user"] == ["hello", "bye"]
    assert calls[1]["status"] == "failed" and calls[1]["error_message"]
    tool = next(e for e in calls[0]["transcript"] if e.get("tool_calls"))
    assert tool["tool_calls"][0]["arguments"] == {"order_id": "B7"}

    as_json = tmp_path / "mine.json"
    assert cli("calls", "export", "-o", str(as_json), "--agent", agent_id).exit_code == 0
    assert [c["id"] for c in json.loads(as_json.read_text())] == [failed, done]

    as_csv = tmp_path / "completed.csv"
    result = cli("calls", "export", "--status", "completed", "-f", "csv", "-o", str(as_csv))
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(as_csv.read_text())))
    assert {r["call_id"] for r in rows} == {done, hung_up}
    greeting = next(r for r in rows if r["call_id"] == done and r["kind"] == "assistant")
    assert greeting["text"] == f"Hello from {agent_id}" and float(greeting["start_timestamp"]) >= 0
    assert any(r["kind"] == "log_metric" and r["metric_name"] == "orders_looked_up" for r in rows)

    empty = tmp_path / "none.json"
    assert cli("calls", "export", "-o", str(empty), "--until", "2000-01-01").exit_code == 0
    assert json.loads(empty.read_text()) == []
    limited = cli("calls", "export", "-o", "-", "--limit", "1")
    assert [json.loads(line)["id"] for line in limited.stdout.splitlines()] == [hung_up]


async def test_tail_follows_a_live_call_until_it_ends(cli, server, agent_id):
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.say("hello there")
    await call.reply()
    tail = asyncio.create_task(asyncio.to_thread(cli, "calls", "tail", call.call_id))
    await asyncio.sleep(0.3)
    assert not tail.done()  # still following
    await call.say("tool A123")
    await call.reply()
    await call.say("bye")
    await call.closed()
    result = await asyncio.wait_for(tail, 20)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    order = [
        f"assistant Hello from {agent_id}",
        "user      hello there",
        "assistant You said: hello there",
        "user      tool A123",
        'tool      lookup_order {"order_id": "A123"}',
        "event     order_processed",
        "metric    orders_looked_up = 1",
        "assistant Order A123 has shipped.",
        "user      bye",
        "assistant Goodbye!",
        "Call ended: completed, agent_hangup (agent_ended)",
    ]
    found = [next(i for i, line in enumerate(lines) if fragment in line) for fragment in order]
    assert found == sorted(found), result.stdout

    replay = await asyncio.to_thread(cli, "calls", "tail", call.call_id, "--json")
    events = [json.loads(line) for line in replay.stdout.splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["data"]["end_reason"] == "agent_hangup"
    kinds = {e["data"]["kind"] for e in events[:-1]}
    assert {"turn", "tool_call", "log_event", "log_metric", "signal"} <= kinds
