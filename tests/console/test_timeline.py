"""The call page's Timeline tab, in Chromium: a seeded voice call's items where their
times say on the axis, seeking the audio by clicking them, play and pause, zoom; a text
call without audio lanes; a call drawn live as it happens; and a real voice call."""

from __future__ import annotations

import asyncio
import re
import threading
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Locator, Page, expect

from openline.domain.calls import LogEvent, LogMetric, ToolCall, Turn
from tests.console.conftest import WEBHOOK_SECRET
from tests.console.support import screenshot, text_call, wait_for
from tests.support.receiver import Receiver, ReceiverServer
from tests.support.servers import HERE, agent_process
from tests.support.timeline_call import LATENCY, LATENCY_PARTS, SeededCall, seed_call
from tests.support.voice import SENTENCE, VoiceClient, speech, wait_quiet

TOLERANCE_PX = 1.5


@pytest.fixture(scope="module")
def seeded(console_server) -> SeededCall:
    return seed_call(console_server.platform, seconds=30.0, every=2.5)


def view(timeline: Locator) -> tuple[float, float]:
    return (
        float(timeline.get_attribute("data-view-start")),
        float(timeline.get_attribute("data-view-end")),
    )


def x_of(lane: Locator, t: float, shown: tuple[float, float]) -> float:
    """Where ``t`` is on the axis, in page pixels."""
    box = lane.bounding_box()
    start, end = shown
    return box["x"] + (t - start) / (end - start) * box["width"]


def centre(item: Locator) -> float:
    box = item.bounding_box()
    return box["x"] + box["width"] / 2


def drawn_timeline(page: Page, path: str) -> Locator:
    """The timeline of a recorded call's page at ``path``, once drawn with its audio."""
    page.goto(path)
    timeline = page.locator(".timeline")
    expect(timeline).to_have_attribute("data-state", "drawn")
    expect(timeline).to_have_attribute("data-audio-state", "ready")
    return timeline


def current_time(page: Page) -> float:
    return page.locator(".timeline audio").evaluate("a => a.currentTime")


def test_a_voice_call_on_one_axis(console: Page, seeded: SeededCall):
    timeline = drawn_timeline(console, f"/console/calls/{seeded.call_id}")
    # a recorded call opens on its timeline
    expect(console.get_by_role("tab", name="Timeline")).to_have_attribute("aria-selected", "true")
    wave = console.get_by_role("slider", name="Recording position")
    expect(wave).to_have_attribute("data-channels", "2")
    shown = view(timeline)
    assert shown == (0.0, seeded.duration)

    # Every fact is an item, at its time on the axis.
    turns = [f for f in seeded.facts if type(f) is Turn]
    tools = [f for f in seeded.facts if type(f) is ToolCall]
    events = [f for f in seeded.facts if type(f) is LogEvent]
    expect(console.locator(".tl-turn")).to_have_count(len(turns))
    expect(console.locator(".tl-tool")).to_have_count(len(tools))
    expect(console.locator(".tl-webhook")).to_have_count(len(seeded.deliveries))
    lane = console.locator('[data-lane="user"]')
    tool = tools[0]
    marker = console.locator(f'[data-key="tool-{tool.seq}"]')
    assert float(marker.get_attribute("data-t")) == tool.timestamp
    assert float(marker.get_attribute("data-until")) == tool.result_timestamp
    box = marker.bounding_box()
    assert abs(box["x"] - x_of(lane, tool.timestamp, shown)) < TOLERANCE_PX
    assert abs(box["x"] + box["width"] - x_of(lane, tool.result_timestamp, shown)) < TOLERANCE_PX
    event = console.locator(f'[data-key="event-{events[0].seq}"]')
    assert abs(centre(event) - x_of(lane, events[0].timestamp, shown)) < TOLERANCE_PX
    first_hook = console.locator(f'[data-key="webhook-{seeded.deliveries[0]["id"]}"]')
    assert abs(float(first_hook.get_attribute("data-t")) - 0.2) < 1e-6  # created_at, on the clock

    # An answer's latency, split in the gap before it.
    answer = turns[1]
    bar = console.locator(f'[data-key="turn-{answer.seq}-latency"]')
    bar_box = bar.bounding_box()
    assert abs(bar_box["x"] - x_of(lane, answer.timestamp - LATENCY, shown)) < TOLERANCE_PX
    assert abs(bar_box["x"] + bar_box["width"] - x_of(lane, answer.timestamp, shown)) < 2
    parts = bar.locator("[data-part]")
    assert parts.evaluate_all("ps => ps.map(p => p.dataset.part)") == list(LATENCY_PARTS)
    widths = [part.bounding_box()["width"] for part in parts.all()]
    for width, seconds in zip(widths, LATENCY_PARTS.values(), strict=True):
        assert abs(width - bar_box["width"] * seconds / LATENCY) < 1
    screenshot(console, "30-call-timeline-voice")

    # Clicking a span or a marker plays from there.
    answer_span = console.locator(f'[data-key="turn-{answer.seq}"]')
    answer_span.click()
    assert abs(current_time(console) - answer.timestamp) < 0.05
    expect(console.locator("[data-tl=selected]")).to_contain_text("Assistant turn at 0:02.50")
    expect(console.locator("[data-tl=selected]")).to_contain_text("latency 0.80 s")
    marker.click()
    assert abs(current_time(console) - tool.timestamp) < 0.05
    bar.click()
    assert abs(current_time(console) - (answer.timestamp - LATENCY)) < 0.05
    playhead = console.locator("[data-tl=playhead]")
    expect(playhead).to_be_visible()
    assert abs(centre(playhead) - x_of(lane, answer.timestamp - LATENCY, shown)) < 2

    # Play, the play-head moving on, and pause.
    play = console.get_by_role("button", name="Play", exact=True)
    play.click()
    expect(console.get_by_role("button", name="Pause", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    started = answer.timestamp - LATENCY
    wait_for(lambda: current_time(console) > started + 0.3, what="the audio to play")
    wait_for(lambda: centre(playhead) > x_of(lane, started + 0.2, shown), what="the play-head")
    console.get_by_role("button", name="Pause", exact=True).click()
    expect(console.get_by_role("button", name="Play", exact=True)).to_have_attribute(
        "aria-pressed", "false"
    )
    paused_at = current_time(console)
    assert console.locator(".timeline audio").evaluate("a => a.paused")
    assert current_time(console) == paused_at


def test_zoom_pan_and_keys(console: Page, seeded: SeededCall):
    timeline = drawn_timeline(console, f"/console/calls/{seeded.call_id}?tab=timeline")
    items = console.locator(".tl-turn:not([hidden])")
    everything = items.count()
    answer = next(f for f in seeded.facts if type(f) is Turn and f.timestamp == 12.5)
    console.locator(f'[data-key="turn-{answer.seq}"]').click()  # the play-head at 12.5 s
    with console.expect_request("**/audio/peaks?*start=*") as finer:  # the window's own
        console.get_by_role("button", name="Zoom in").click()
    start, end = view(timeline)  # half as long, the play-head where it was (5/12 across)
    asked = parse_qs(urlparse(finer.value.url).query)
    assert (float(asked["start"][0]), float(asked["end"][0])) == (start, end)
    assert (start, end) == (pytest.approx(6.25), pytest.approx(21.25))
    expect(console.locator("[data-tl=range]")).to_contain_text("Showing 0:06.25–0:21.25")
    assert 0 < items.count() < everything  # what falls outside is not drawn
    lane = console.locator('[data-lane="user"]')
    for item in items.all():  # and what is drawn is where its time is, on the new scale
        t = float(item.get_attribute("data-t"))
        assert abs(item.bounding_box()["x"] - x_of(lane, t, (start, end))) < TOLERANCE_PX
    screenshot(console, "31-call-timeline-zoomed")

    # The keyboard: + and − zoom, 0 shows the whole call, arrows walk the items.
    console.keyboard.press("+")
    assert view(timeline)[1] - view(timeline)[0] == pytest.approx(seeded.duration / 4)
    console.keyboard.press("-")
    console.keyboard.press("-")
    assert view(timeline) == (0.0, seeded.duration)
    console.keyboard.press("+")
    first = console.locator(".tl-item[tabindex='0']")
    assert first.count() == 1  # one item in the tab order, the rest by arrow keys
    first.focus()
    console.keyboard.press("End")
    last = console.locator(".tl-item:focus")
    assert float(last.get_attribute("data-t")) == max(
        float(t) for t in console.locator(".tl-item").evaluate_all("es => es.map(e => e.dataset.t)")
    )
    start, end = view(timeline)
    assert start <= float(last.get_attribute("data-t")) <= end  # panned to it
    console.keyboard.press("ArrowLeft")
    assert float(console.locator(".tl-item:focus").get_attribute("data-t")) <= float(
        last.get_attribute("data-t")
    )
    console.keyboard.press("Enter")
    t = float(console.locator(".tl-item:focus").get_attribute("data-t"))
    assert abs(current_time(console) - t) < 0.05

    # Dragging the lanes pans.
    console.keyboard.press("0")
    console.get_by_role("button", name="Zoom in").click()
    console.get_by_role("button", name="Zoom in").click()
    before = view(timeline)
    box = lane.bounding_box()
    console.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 2)
    console.mouse.down()
    console.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + 2, steps=4)
    console.mouse.up()
    after = view(timeline)
    assert after[0] - before[0] == pytest.approx((before[1] - before[0]) * 0.2, abs=0.1)


@pytest.fixture(scope="module")
def crowded(console_server) -> SeededCall:
    """Over a hundred and fifty turns a side in under seven minutes: at the whole call's
    zoom, more items in a lane than it has pixels to tell apart."""
    return seed_call(console_server.platform, seconds=400.0, every=1.0)


def test_a_crowded_lane_is_one_canvas_until_zoomed_in(console: Page, crowded: SeededCall):
    timeline = drawn_timeline(console, f"/console/calls/{crowded.call_id}")
    lane = console.locator('[data-lane="user"]')
    expect(lane).to_have_attribute("data-dense", "true")
    expect(lane.locator("canvas.tl-dense")).to_be_visible()
    assert lane.locator(".tl-item").count() == 0  # no element per item
    # A lane with room keeps an element per item.
    expect(console.locator('[data-lane="webhook"]')).not_to_have_attribute("data-dense", "true")
    expect(console.locator(".tl-webhook")).to_have_count(len(crowded.deliveries))

    # A click on the canvas picks the item under the pointer, and plays from it.
    users = [f for f in crowded.facts if type(f) is Turn and f.role.value == "user"]
    target = users[57]
    shown = view(timeline)
    box = lane.bounding_box()
    console.mouse.click(x_of(lane, target.timestamp, shown) + 1, box["y"] + box["height"] / 2)
    expect(console.locator("[data-tl=selected]")).to_contain_text(target.text)
    assert abs(current_time(console) - target.timestamp) < 0.01
    screenshot(console, "34-call-timeline-crowded")

    # Zoomed in, the lane has room: its items are elements again, where their times are.
    for _ in range(3):
        console.get_by_role("button", name="Zoom in").click()
    expect(lane).not_to_have_attribute("data-dense", "true")
    expect(lane.locator("canvas.tl-dense")).to_be_hidden()
    shown = view(timeline)
    items = lane.locator(".tl-turn:not([hidden])")
    assert items.count() > 10
    for item in items.all():
        t = float(item.get_attribute("data-t"))
        assert abs(item.bounding_box()["x"] - x_of(lane, t, shown)) < TOLERANCE_PX

    # From a crowded lane the arrow keys go to its first item, zoomed in until it shows.
    console.keyboard.press("0")
    logs = console.locator('[data-lane="log"]')
    expect(logs).to_have_attribute("data-dense", "true")
    logs.locator("canvas.tl-dense").focus()
    console.keyboard.press("ArrowRight")
    focused = console.locator(".tl-log:focus")
    expect(focused).to_be_visible()
    expect(logs).not_to_have_attribute("data-dense", "true")
    start, end = view(timeline)
    first = float(focused.get_attribute("data-t"))
    assert start <= first <= end
    console.keyboard.press("ArrowRight")  # and walk on from there
    assert float(console.locator(".tl-item:focus").get_attribute("data-t")) >= first


def test_the_transcript_of_a_call_opened_on_its_timeline_comes_when_shown(
    console: Page, seeded: SeededCall
):
    with console.expect_response(f"**/console/calls/{seeded.call_id}") as opened:
        console.goto(f"/console/calls/{seeded.call_id}")
    assert 'class="entry' not in opened.value.text()  # the page left the transcript out
    entries = [f for f in seeded.facts if type(f) in (Turn, LogEvent, LogMetric)]
    count = console.locator("#tab-transcript .count")
    expect(count).to_have_text(str(len(entries)))  # though it counts it
    console.get_by_role("tab", name="Transcript").click()
    transcript = console.locator("ol.transcript .entry")
    expect(transcript).to_have_count(len(entries))
    expect(console.locator("[data-live=loading]")).to_have_count(0)
    times = transcript.evaluate_all("es => es.map(e => +e.dataset.t)")
    assert times == sorted(times)
    expect(transcript.filter(has_text="lookup_order").first).to_be_visible()
    expect(count).to_have_text(str(len(entries)))


def test_a_text_call_has_the_view_without_audio_lanes(console: Page, scenario):
    console.goto(f"/console/calls/{scenario.main_call}")  # not recorded: on its transcript
    timeline = console.locator(".timeline")
    expect(console.get_by_role("tab", name="Transcript")).to_have_attribute("aria-selected", "true")
    assert timeline.get_attribute("data-state") is None  # drawn once shown, not before
    console.get_by_role("tab", name="Timeline").click()
    expect(timeline).to_have_attribute("data-state", "drawn")
    expect(console.get_by_role("slider", name="Recording position")).to_have_count(0)
    expect(console.locator(".timeline audio")).to_have_count(0)
    expect(console.get_by_role("button", name="Play", exact=True)).to_have_count(0)
    expect(console.get_by_text("No recording for this call.")).to_be_visible()
    expect(console.locator(".tl-turn.role-user")).to_have_count(4)
    expect(console.locator(".tl-tool", has_text="")).to_have_count(1)
    expect(console.locator(".tl-log")).to_have_count(5)
    expect(console.locator(".tl-webhook").first).to_be_attached()
    tool = console.locator(".tl-tool")
    assert "lookup_order" in tool.get_attribute("aria-label")
    tool.click()
    expect(console.locator("[data-tl=selected]")).to_contain_text("Tool call at")
    screenshot(console, "32-call-timeline-text")


@pytest.fixture(scope="module")
def scripted(console_server, agent_url) -> str:
    return console_server.create_agent("Timeline live", self_hosted_deployment_url=agent_url)


def recorded_turns(server, call_id: str) -> list[dict]:
    with server.client() as http:
        return http.get(f"/agents/calls/{call_id}").raise_for_status().json()["transcript"]


def test_a_live_call_draws_as_it_happens(console: Page, console_server, scripted):
    with text_call(console_server.ws_url, scripted, console_server.api_key) as call:
        call.next("agent_text")
        # Facts are written off the call's path: the page is opened once the greeting is
        # recorded, so that it holds a transcript to leave out.
        wait_for(lambda: recorded_turns(console_server, call.call_id), what="the greeting stored")
        console.goto(f"/console/calls/{call.call_id}?tab=timeline")
        timeline = console.locator(".timeline")
        expect(timeline).to_have_attribute("data-state", "drawn")
        turns = console.locator(".tl-turn")
        expect(turns).to_have_count(1)  # the greeting
        console.evaluate("window.stillTheSamePage = true")
        call.say("tool C3")
        expect(console.locator(".tl-turn.role-user")).to_have_count(1)
        expect(console.locator(".tl-tool")).to_have_count(1)
        call.say("logs 1")
        expect(console.locator(".tl-log").first).to_be_attached()
        # The axis grows with the call.
        grown = view(timeline)[1]
        wait_for(lambda: view(timeline)[1] > grown, what="the axis to grow")
        assert console.locator(".tl-turn.role-user").count() == 2
        screenshot(console, "33-call-timeline-live")
        call.say("bye")
        call.closed()
    expect(console.locator("[data-live=header]")).to_contain_text("completed")
    assert console.evaluate("window.stillTheSamePage") is True
    # The transcript was left out of the page, yet its tab counted what the call added.
    assert console.locator("ol.transcript[data-src]").count() == 1
    counted = int(console.locator("#tab-transcript .count").text_content())
    assert counted > 1
    console.get_by_role("tab", name="Transcript").click()
    expect(console.locator("ol.transcript .entry")).to_have_count(counted)


def test_a_live_call_shows_a_delivery_made_while_nothing_was_recorded(
    console: Page, console_server, agent_url
):
    receiver = ReceiverServer(Receiver(WEBHOOK_SECRET, script=[{"sleep": 3}])).start()
    try:
        with console_server.client() as http:
            hook = http.post(
                "/agents/webhooks", json={"url": receiver.url, "secret": WEBHOOK_SECRET}
            ).json()
        agent = console_server.create_agent(
            "Timeline webhooks", self_hosted_deployment_url=agent_url, webhook_id=hook["id"]
        )
        with text_call(console_server.ws_url, agent, console_server.api_key) as call:
            call.next("agent_text")
            wait_for(lambda: recorded_turns(console_server, call.call_id), what="the greeting")
            console.goto(f"/console/calls/{call.call_id}?tab=timeline")
            started = console.locator(".tl-webhook").first  # the receiver takes 3 s over it
            expect(started).to_have_attribute("aria-label", re.compile("call_started: pending"))
            expect(started).to_have_attribute(
                "aria-label", re.compile(r"call_started: delivered \(HTTP 200\)"), timeout=15_000
            )
            # The call said nothing more meanwhile: the page asked again by itself.
            assert len(recorded_turns(console_server, call.call_id)) == 1
            call.say("bye")
            call.closed()
    finally:
        receiver.stop()


# -- a real voice call: speech in, the agent's voice back, drawn live ------------------------


@pytest.fixture(scope="module")
def talker(console_server) -> str:
    with agent_process(HERE / "talker_agent.py") as url:
        yield console_server.create_agent("Timeline talker", self_hosted_deployment_url=url)


class VoiceCallThread(threading.Thread):
    """A real voice call in its own thread and event loop (sync Playwright holds this
    one's): says the sentence, waits for the answer, then until told to hang up."""

    def __init__(self, server, agent_id: str) -> None:
        super().__init__(daemon=True)
        self.server, self.agent_id = server, agent_id
        self.call_id: str | None = None
        self.answered = threading.Event()
        self.hang_up = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._call())
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error
            self.answered.set()

    async def _call(self) -> None:
        client = await VoiceClient.open(self.server.ws_url, self.agent_id, self.server.api_key)
        self.call_id = client.call_id
        await client.wait_for_audio(1.0)
        await wait_quiet(client)  # the greeting
        client.say(speech(SENTENCE))
        await client.wait_for("agent_text", count=2, timeout=60)
        await wait_quiet(client)
        self.answered.set()
        await asyncio.to_thread(self.hang_up.wait)
        await client.hang_up()


def test_a_real_voice_call_live_then_played(console: Page, console_server, talker):
    voice = VoiceCallThread(console_server, talker)
    voice.start()
    try:
        wait_for(lambda: voice.call_id or voice.error, timeout=30, what="the call")
        assert voice.error is None, voice.error
        console.goto(f"/console/calls/{voice.call_id}")  # recorded: opens on the timeline
        timeline = console.locator(".timeline")
        expect(timeline).to_have_attribute("data-state", "drawn")
        wave = console.get_by_role("slider", name="Recording position")
        expect(wave).to_have_attribute("data-channels", "2")
        expect(
            console.get_by_role("button", name="Play", exact=True)
        ).to_be_disabled()  # not until it ends
        assert voice.answered.wait(90) and voice.error is None, voice.error
        expect(console.locator(".tl-turn.role-user")).to_have_count(1, timeout=20_000)
        expect(console.locator(".tl-turn.role-assistant")).to_have_count(2)
        wait_for(
            lambda: float(wave.get_attribute("data-duration") or 0) > 3,
            timeout=20,
            what="the live recording's peaks",
        )
        screenshot(console, "34-call-timeline-voice-live")
    finally:
        voice.hang_up.set()
        voice.join(30)
    expect(console.locator("[data-live=header]")).to_contain_text("completed", timeout=20_000)
    play = console.get_by_role("button", name="Play", exact=True)
    expect(play).to_be_enabled(timeout=20_000)
    user_turn = console.locator(".tl-turn.role-user")
    user_turn.click()
    assert abs(current_time(console) - float(user_turn.get_attribute("data-t"))) < 0.05
    lit = wave.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let lit = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3]) lit++;
                  return lit / (d.length / 4); }"""
    )
    assert 0.01 < lit < 0.95  # a waveform drawn from the peaks, not a blank or a box
    screenshot(console, "35-call-timeline-voice-ended")
