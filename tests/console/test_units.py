"""The console's pieces without a browser: cookies and tokens, entries, formatting."""

from __future__ import annotations

import html
import json
import time

from openline._signing import Signer, load_secret
from openline.config import Settings
from openline.console import views
from openline.console._session import Tokens
from openline.console.routes import _local
from openline.domain.calls import LogEvent, LogMetric, Role, ToolCall, Turn, TurnEndReason
from openline.domain.shapes import tail_json


def test_signed_tokens_resist_tampering_reuse_and_age(tmp_path):
    tokens = Tokens(Signer(load_secret(tmp_path)))
    cookie = tokens.session_cookie("session_1", time.time() + 3600)
    assert tokens.session_id(cookie) == "session_1"
    body, mac = cookie.split(".")
    forged = Signer(b"another secret").sign("session", {"s": "session_1", "exp": time.time() + 60})
    assert tokens.session_id(forged) is None
    assert tokens.session_id(body[:-2] + "xx." + mac) is None
    assert tokens.session_id(cookie + "x") is None
    assert tokens.session_id(None) is None and tokens.session_id("garbage") is None
    assert tokens.session_id(cookie, now=time.time() + 2 * 3600) is None  # expired
    token, csrf_cookie = tokens.new_csrf()
    assert tokens.csrf_ok(csrf_cookie, token)
    assert not tokens.csrf_ok(csrf_cookie, token + "x")
    assert not tokens.csrf_ok(csrf_cookie, None) and not tokens.csrf_ok(None, token)
    assert tokens.session_id(csrf_cookie) is None  # a CSRF cookie is not a session
    assert tokens.csrf(cookie) is None  # nor the other way round
    assert load_secret(tmp_path) == load_secret(tmp_path)  # made once, kept


def test_secret_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENLINE_CONSOLE_SECRET", "shared-by-all-workers")
    settings = Settings(data_dir=tmp_path)
    assert load_secret(tmp_path, settings.console_secret) == b"shared-by-all-workers"
    assert not (tmp_path / "console_secret").exists()


def test_sign_in_only_returns_inside_the_console():
    assert _local("/console/calls?status=failed") == "/console/calls?status=failed"
    for elsewhere in ("https://evil.example/", "//evil.example/console/", "/console//evil", ""):
        assert _local(elsewhere) == "/console/agents"


def test_entries_in_time_order_with_tools_in_their_turn_and_everything_escaped():
    c = "call_1"
    facts = [
        Turn(
            c,
            1,
            1,
            0.5,
            Role.ASSISTANT,
            "<b>Hi</b> & welcome",
            0.6,
            TurnEndReason.TTS_COMPLETED,
            True,
            [{"text": "<b>Hi</b>", "start_timestamp": 0.5}],
            tts_ttfb=0.1,
            latency=0.5,
            latency_parts={"agent": 0.4, "tts": 0.1},
        ),
        Turn(c, 5, 7, 2.0, Role.USER, "Where is A1?", 2.0),
        Turn(
            c,
            6,
            9,
            2.1,
            Role.ASSISTANT,
            "Shipped.",
            2.3,
            TurnEndReason.INTERRUPTED,
            True,
            generated_text="Shipped. <It> arrives Monday.",
        ),
        ToolCall(c, 7, 9, 2.2, "lookup", {"id": "<A1>"}, None, 6, "<shipped>", 2.25),
        ToolCall(c, 8, 8, 2.15, "loose", None, "t1"),
        LogEvent(c, 3, 3, 1.0, "<img src=x onerror=alert(1)>", {"k": "</pre>"}, "info", "m<"),
        LogMetric(c, 4, 4, 2.0, "score", "high"),
        LogMetric(c, 9, 10, 3.0, "n", 3),
    ]
    shown = views.entries(facts)
    assert [e.key for e in shown] == [
        "turn-1", "event-3", "metric-4", "turn-5", "turn-6", "tool-8", "metric-9",
    ]  # fmt: skip
    page = "".join(e.html for e in shown)
    for raw in ("<b>", "<img", '</pre>"', "<A1>", "<shipped>", "m<"):
        assert raw not in page
    assert "&lt;b&gt;Hi&lt;/b&gt; &amp; welcome" in page
    turn = shown[4].html
    assert '<code class="name">lookup</code>' in turn and "&lt;shipped&gt;" in turn
    assert '<span class="tag">interrupted</span>' in turn
    assert "generated</span> Shipped. &lt;It&gt; arrives Monday.</p>" in turn
    assert 'class="generated"' not in shown[0].html  # all of it was heard
    waited = '<span class="tag latency" title="latency 0.50 s: agent 0.40, tts 0.10">'
    assert waited + "waited 0.50 s</span>" in shown[0].html
    assert "waited" not in shown[3].html and "waited" not in turn  # a line; no time known
    assert 'class="value">high<' in shown[2].html  # a string metric, without its quotes
    details = shown[0].html.split('<pre class="json">')[1].split("</pre>")[0]
    shaped = json.loads(html.unescape(details))
    assert shaped["text_chunks"][0]["text"] == "<b>Hi</b>" and shaped["tts_ttfb"] == 0.1
    assert shaped == tail_json(facts[0])  # the details are the live tail's JSON of the turn


def test_formatting():
    assert views.offset(0) == "0:00.00"
    assert views.offset(3.456) == "0:03.46"
    assert views.offset(61.5) == "1:01.50"
    assert views.offset(3725.5) == "1:02:05.50"
    assert views.compact("text") == "text" and views.compact([1, 2]) == "[1, 2]"
    assert views.compact(None) == "null"
