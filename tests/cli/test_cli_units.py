"""The CLI's pure parts: SSE decoding, time options, file formats, the live-tail printer."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime

import pytest

from openline.cli._errors import CliError
from openline.cli._live import FactPrinter, TimeOrder
from openline.cli._output import offset, parse_since, print_list
from openline.cli._sse import SseDecoder
from openline.domain.transcript_files import ExportWriter, render

CALL = {
    "id": "call_1",
    "agent_id": "agent_1",
    "agent_name": "A",
    "status": "completed",
    "start_time": "2025-01-01T00:00:00Z",
    "end_time": "2025-01-01T00:01:00Z",
    "end_reason": "client_hangup",
    "transcript": [
        {
            "role": "user",
            "text": "a <b> & c\n\nsecond line",
            "start_timestamp": 1.5,
            "end_timestamp": 3.25,
        },
        {
            "role": "assistant",
            "text": "ok --> fine",
            "start_timestamp": 3.5,
            "end_timestamp": 3.5,
            "end_reason": "tts_completed",
            "tool_calls": [{"id": "t1", "name": "f", "arguments": {"x": 1}, "result": None}],
        },
        {
            "role": "system",
            "text": "",
            "start_timestamp": 3.6,
            "end_timestamp": 3.6,
            "log_event": {"event": "e", "metadata": {"arrow": "-->"}, "timestamp": 3.6},
        },
        {
            "role": "system",
            "text": "",
            "start_timestamp": 3661.0,
            "end_timestamp": 3661.0,
            "log_metric": {"name": "m", "value": [1, 2], "timestamp": 3661.0},
        },
    ],
}


def test_sse_decoder_handles_comments_multiline_data_and_plain_text():
    lines = [": keepalive", "", "event: fact", 'data: {"a":', "data: 1}", "", "data: hi", ""]
    events = list(SseDecoder().events(lines))
    assert [(e.event, e.data) for e in events] == [("fact", {"a": 1}), ("message", "hi")]


def test_time_options():
    now = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == "2025-01-31T10:00:00.000000Z"
    assert parse_since("7d", now) == "2025-01-24T12:00:00.000000Z"
    assert parse_since("2025-01-31T14:00+02:00") == "2025-01-31T12:00:00.000000Z"
    assert parse_since("2025-01-31") == "2025-01-31T00:00:00.000000Z"  # UTC without a zone
    with pytest.raises(CliError, match="is not a time"):
        parse_since("last tuesday")
    assert offset(3661.5) == "1:01:01.500" and offset(0.25) == "00:00.250"


def test_srt_and_vtt_keep_cues_valid():
    srt = render(CALL, "srt")
    assert srt.split("\n\n")[0] == (
        "1\n00:00:01,500 --> 00:00:03,250\nUser: a <b> & c\nsecond line"
    )
    # An instant turn lasts MIN_CUE_S; its tool call is a line of its cue.
    assert (
        '2\n00:00:03,500 --> 00:00:04,500\nAssistant: ok --> fine\n[tool] f {"x": 1} -> (no result)'
        in srt
    )
    assert "4\n01:01:01,000 --> 01:01:02,000\n[metric] m = [1, 2]" in srt

    vtt = render(CALL, "vtt")
    blocks = vtt.split("\n\n")
    assert blocks[0] == "WEBVTT"
    assert "00:00:01.500 --> 00:00:03.250\n<v user>a &lt;b&gt; &amp; c\nsecond line" in blocks
    assert "00:00:03.500 --> 00:00:04.500\n<v assistant>ok --&gt; fine" in blocks
    notes = [b for b in blocks if b.startswith("NOTE")]
    assert 'NOTE 00:00:03.600 event e {"arrow": "->"}' in [n.strip() for n in notes]
    assert 'NOTE 00:00:03.500 tool f {"x": 1} -> (no result)' in [n.strip() for n in notes]
    assert all("-->" not in n for n in notes)


def test_csv_and_export_writers():
    rows = list(csv.DictReader(io.StringIO(render(CALL, "csv"))))
    assert [r["kind"] for r in rows] == [
        "user",
        "assistant",
        "tool_call",
        "log_event",
        "log_metric",
    ]
    assert rows[0]["text"] == "a <b> & c\n\nsecond line"  # quoted, intact
    assert rows[2]["start_timestamp"] == "3.5" and rows[2]["tool_result"] == ""
    assert json.loads(rows[4]["metric_value"]) == [1, 2]

    for fmt in ("json", "jsonl", "csv"):
        out = io.StringIO()
        writer = ExportWriter(out, fmt)
        writer.add(CALL)
        writer.add(CALL | {"id": "call_2"})
        writer.close()
        text = out.getvalue()
        if fmt == "json":
            assert [c["id"] for c in json.loads(text)] == ["call_1", "call_2"]
        elif fmt == "jsonl":
            assert [json.loads(line)["id"] for line in text.splitlines()] == ["call_1", "call_2"]
        else:
            ids = [r["call_id"] for r in csv.DictReader(io.StringIO(text))]
            assert ids == ["call_1"] * 5 + ["call_2"] * 5


async def test_fact_printer_shows_only_what_is_new_in_time_order():
    printer = FactPrinter()
    shown: list[str] = []
    ordered = TimeOrder(lambda text: shown.append(text.plain))

    def fact(kind, seq, rev, at, **fields):
        at_key = "start_timestamp" if kind == "turn" else "timestamp"  # as the tail says them
        ordered.add(printer.apply({"kind": kind, "seq": seq, "rev": rev, at_key: at} | fields))

    # One burst in change order: the turn (closed at rev 5) arrives after what happened inside it.
    fact("tool_call", 2, 3, 1.0, name="f", arguments={}, result=None)
    fact("log_event", 4, 4, 1.0, event="e", metadata=None)
    fact(
        "turn",
        1,
        5,
        1.0,
        role="assistant",
        end_reason="tts_completed",
        text_chunks=[{"text": "hi", "start_timestamp": 1.0}],
    )
    fact("tool_call", 2, 6, 1.0, name="f", arguments={}, result="ok", result_timestamp=1.2)
    fact("tool_call", 2, 3, 1.0, name="f", arguments={}, result=None)  # a stale copy: ignored
    await asyncio.sleep(0.2)  # the burst settles
    fact(
        "turn",
        1,
        7,
        1.0,
        role="assistant",
        end_reason="tts_completed",
        text_chunks=[
            {"text": "hi", "start_timestamp": 1.0},
            {"text": " more", "start_timestamp": 2.0},
        ],
    )
    ordered.flush()
    assert shown == [
        "00:01.000  tool      f {}",
        "00:01.000  event     e",
        "00:01.000  assistant hi",
        "00:01.200  result    f -> ok",
        "00:02.000  assistant  more",
    ]


COLUMNS = ("ID", "NAME")


def _cells(row: dict) -> tuple[str, str]:
    return row["id"], row["name"]


def test_a_list_prints_a_table_of_its_rows_as_plain_text(capsys):
    rows = [{"id": "agent_1", "name": "[bold]not markup[/]"}, {"id": "agent_2", "name": ""}]
    print_list(rows, COLUMNS, _cells, empty="nothing", as_json=False)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "NAME"]
    assert out[1].split() == ["agent_1", "[bold]not", "markup[/]"]
    assert out[2].split() == ["agent_2", "-"]  # an empty cell shows as "-"


def test_an_empty_list_says_so_and_how_to_fill_it(capsys):
    print_list([], COLUMNS, _cells, empty="No agents yet. Create one: …", as_json=False)
    assert capsys.readouterr().out == "No agents yet. Create one: …\n"


@pytest.mark.parametrize("body", [None, {"data": [], "next": None}])
def test_a_list_with_json_prints_the_apis_json(capsys, body):
    print_list([], COLUMNS, _cells, empty="nothing", as_json=True, json_value=body)
    assert json.loads(capsys.readouterr().out) == ([] if body is None else body)
