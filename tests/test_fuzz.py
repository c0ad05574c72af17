"""Property and fuzz tests: whatever an agent sends, a session records it or rejects it
with a clear message, and never fails; ids sort by time; pagination sees every row once."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openline import ids
from openline.config import Settings
from openline.domain.payloads import cap_json
from openline.harness.session import CallSession, Harness
from openline.protocol.client import ClientStart
from openline.store.calls import CallFilter, CallRepo
from openline.store.db import make_engine, migrate
from openline.store.feed import ChangeFeed
from openline.store.pagination import PageRequest
from openline.store.writer import Writer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
message_types = st.sampled_from(
    [
        "message",
        "tool_call",
        "log_event",
        "log_metric",
        "log_record",
        "response_end",
        "end_call",
        "error",
        "transfer",
        "dtmf",
        "custom",
        "config",
        "nonsense",
    ]
)
agent_frames = st.one_of(
    st.builds(
        lambda t, body: json.dumps({"type": t, **body}),
        message_types,
        st.dictionaries(
            st.sampled_from(
                [
                    "content",
                    "name",
                    "arguments",
                    "result",
                    "id",
                    "event",
                    "metadata",
                    "value",
                    "reason",
                    "button",
                    "level",
                    "message",
                    "timestamp",
                ]
            ),
            json_values,
            max_size=5,
        ),
    ),
    json_values.map(json.dumps),
    st.text(max_size=30),
)


class _Recorder:
    """Both ends of an in-memory call: what the session sends to the client and the agent."""

    def __init__(self) -> None:
        self.to_client: list[dict] = []
        self.to_agent: list[dict] = []

    async def send(self, event: dict[str, Any] | str) -> None:
        if isinstance(event, str):  # the session sends the agent encoded frames
            self.to_agent.append(json.loads(event))
        else:
            self.to_client.append(event)

    async def receive(self) -> str | None:
        return None

    async def close(self, code: int, reason: str) -> None:
        pass


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(frames=st.lists(agent_frames, max_size=12))
def test_any_agent_frames_are_recorded_or_rejected(tmp_path, frames):
    async def run() -> None:
        engine = make_engine(f"sqlite:///{tmp_path / 'fuzz.db'}")
        migrate(engine)
        writer = Writer(engine, ChangeFeed())
        writer.start()
        recorder = _Recorder()
        harness = Harness(Settings(data_dir=tmp_path), writer, CallRepo(engine), None, "")
        session = CallSession(
            harness, {"id": "agent_f", "name": "f"}, recorder, ClientStart(event="start")
        )
        session._agent = recorder  # the agent side of the session is this recorder
        for frame in frames:
            ending = await session._on_agent_frame(frame)
            if ending is not None:
                assert ending.reason.value in ("agent_hangup", "error")
                break
        await writer.flush()
        await writer.close()
        engine.dispose()
        for event in recorder.to_agent:
            if event["type"] == "validation_error":
                assert event["error_message"]

    asyncio.run(run())


@given(st.lists(st.integers(min_value=0, max_value=2**47), min_size=2, max_size=30))
def test_ids_sort_by_time(times):
    made = [(ms, ids.new_id(ids.CALL, now_ms=ms)) for ms in times]
    for (ms_a, id_a), (ms_b, id_b) in itertools.pairwise(made):
        if ms_a < ms_b:
            assert id_a < id_b
        elif ms_a > ms_b:
            assert id_a > id_b
    assert all(len(i) == len("call_") + 22 for _, i in made)


@given(json_values, st.integers(min_value=10, max_value=200))
def test_capped_json_is_the_value_or_a_marker(value, cap):
    capped = cap_json(value, cap)
    if len(json.dumps(value)) <= cap:
        assert capped == value
    else:
        assert capped["_truncated"] is True and capped["_size"] == len(json.dumps(value))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(count=st.integers(min_value=0, max_value=25), limit=st.integers(min_value=1, max_value=7))
def test_pagination_visits_every_call_once_in_order(tmp_path_factory, count, limit):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('page') / 'p.db'}")
    migrate(engine)
    repo = CallRepo(engine)
    from openline.domain.time import utcnow

    made = [ids.new_id(ids.CALL, now_ms=1_700_000_000_000 + n) for n in range(count)]
    for call_id in made:
        repo.create(
            {
                "id": call_id,
                "agent_id": "a",
                "status": "completed",
                "start_time": utcnow(),
                "rev": 0,
            }
        )
    seen: list[str] = []
    cursor = None
    while True:
        page = repo.list(CallFilter(), PageRequest(limit=limit, starting_after=cursor))
        seen += [row["id"] for row in page.rows]
        if not page.has_more:
            break
        cursor = page.next_page
    assert seen == list(reversed(made))
    backwards: list[str] = []
    cursor = made[0] if made else None
    while cursor:
        page = repo.list(CallFilter(), PageRequest(limit=limit, ending_before=cursor))
        backwards = [row["id"] for row in page.rows] + backwards
        cursor = page.rows[0]["id"] if page.rows else None
    assert backwards == list(reversed(made[1:]))
    engine.dispose()
