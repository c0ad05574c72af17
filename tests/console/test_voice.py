"""Microphone calls from the playground, in Chromium with a fake microphone that speaks a
sentence (espeak-ng), against a real voice-capable agent; the recording's download."""

from __future__ import annotations

import subprocess
import wave
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import chromium
from tests.console.support import screenshot, wait_for
from tests.support.servers import HERE, agent_process
from tests.support.talker_agent import GREETING
from tests.support.voice import SENTENCE

QUESTION = SENTENCE
# Chromium loops the file: silence while the agent greets, the question, then silence
# long enough for the turn to end and the answer to be spoken before it asks again.
LEAD_S, TAIL_S = 3.0, 6.0


@pytest.fixture(scope="module")
def spoken_question(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("voice") / "raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), QUESTION], check=True)
    with wave.open(str(raw)) as reader:
        params = reader.getparams()
        speech = reader.readframes(reader.getnframes())
    silence = b"\0" * params.sampwidth * params.nchannels
    padded = raw.with_name("question.wav")
    with wave.open(str(padded), "wb") as writer:
        writer.setparams(params)
        writer.writeframes(silence * int(LEAD_S * params.framerate))
        writer.writeframes(speech)
        writer.writeframes(silence * int(TAIL_S * params.framerate))
    return padded


@pytest.fixture(scope="module")
def browser(spoken_question: Path) -> Iterator[Browser]:
    """This module's Chromium: microphone allowed, and it is the file above."""
    with chromium(
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={spoken_question}",
    ) as launched:
        yield launched


@pytest.fixture(scope="module")
def talker_url() -> Iterator[str]:
    with agent_process(HERE / "talker_agent.py") as url:
        yield url


def add_agent(server, **fields) -> str:
    with server.client() as http:
        created = http.post("/agents", json=fields)
        created.raise_for_status()
        return created.json()["id"]


@pytest.fixture(scope="module")
def talker(console_server, talker_url) -> str:
    return add_agent(console_server, name="Talker", self_hosted_deployment_url=talker_url)


def words(text: str) -> set[str]:
    return {word.strip(".,:!?").lower() for word in text.split()}


def test_microphone_call_captions_turns_audio_and_recording(console: Page, talker):
    console.goto(f"/console/playground?agent={talker}")
    console.get_by_role("button", name="Call with microphone").click()
    voice = console.locator(".pg-voice")
    caption = voice.locator("[data-voice=caption]")
    expect(caption).to_have_text(GREETING, timeout=20_000)
    expect(voice).to_have_attribute("data-state", "speaking")
    screenshot(console, "15-playground-voice-greeting")

    turns = console.locator(".pg-call ol.transcript .entry.role-user")
    heard = wait_for(
        lambda: [t for t in turns.all_inner_texts() if len(words(t) & words(QUESTION)) >= 3],
        timeout=60,
        what="the spoken question as a user turn",
    )
    expect(caption).to_contain_text("You said:", timeout=20_000)
    assert len(words(caption.inner_text()) & words(QUESTION)) >= 3, (heard, caption.inner_text())
    screenshot(console, "16-playground-voice-answer")
    expect(voice).to_have_attribute("data-state", "listening", timeout=20_000)  # answer spoken
    played_s = int(voice.get_attribute("data-played-ms")) / 1000
    assert played_s > 3  # the greeting and the answer, played to the end
    assert int(voice.get_attribute("data-frames-received")) >= played_s * 10  # 100 ms frames
    assert int(voice.get_attribute("data-frames-sent")) >= 150  # 40 ms each, silence too
    level = console.locator("#pg-level")
    wait_for(lambda: level.evaluate("m => m.value") > 0.5, what="the meter to show the voice")

    console.get_by_role("button", name="Hang up").click()
    expect(console.locator("#pg-status")).to_contain_text("The call has ended")
    expect(voice).to_have_attribute("data-state", "ended")
    download = console.get_by_role("link", name="Download recording")
    expect(download).to_be_visible()
    call_id = console.locator("#pg-call-id").inner_text()
    assert download.get_attribute("download") == f"{call_id}.wav"
    screenshot(console, "17-playground-voice-ended")
    reply = console.request.get(download.get_attribute("href"))
    assert reply.status == 200 and reply.headers["content-type"] == "audio/wav"
    assert_stereo_wav(reply.body())

    # The call page opens on its timeline, which offers the same file.
    console.get_by_role("link", name="Open the finished call").click()
    console.wait_for_url(f"**/console/calls/{call_id}")
    expect(console.get_by_role("tab", name="Timeline")).to_have_attribute("aria-selected", "true")
    expect(console.locator(".timeline")).to_have_attribute("data-audio-state", "ready")
    screenshot(console, "18-call-recording-voice")
    with console.expect_download() as saved:
        console.get_by_role("link", name="Download WAV").click()
    assert saved.value.suggested_filename == f"{call_id}.wav"
    assert Path(saved.value.path()).read_bytes() == reply.body()


def test_typing_cuts_the_agent_off_and_no_recording_is_kept(
    console: Page, console_server, talker_url
):
    agent = add_agent(
        console_server,
        name="Unrecorded",
        self_hosted_deployment_url=talker_url,
        recording_enabled=False,
    )
    console.goto(f"/console/playground?agent={agent}")
    console.get_by_role("button", name="Call with microphone").click()
    voice = console.locator(".pg-voice")
    caption = voice.locator("[data-voice=caption]")
    expect(caption).to_have_text(GREETING, timeout=20_000)
    message = console.get_by_label("Message")
    message.fill("hold on")
    message.press("Enter")  # while the greeting plays: the server sends clear
    expect(voice).not_to_have_attribute("data-clears", "0")
    expect(caption).to_have_text("You said: hold on")
    turns = console.locator(".pg-call ol.transcript .entry.role-user")
    expect(turns.filter(has_text="hold on")).to_be_visible()
    console.get_by_role("button", name="Hang up").click()
    expect(console.locator("#pg-status")).to_contain_text("No recording was kept.")
    expect(console.get_by_role("link", name="Download recording")).to_be_hidden()


def assert_stereo_wav(data: bytes) -> None:
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", data[:16]
    channels = int.from_bytes(data[22:24], "little")
    assert channels == 2  # caller left, agent right


# One second of a 440 Hz tone at half scale through the capture worklet.
DOWNSAMPLE = """async (inputRate) => {
  const context = new OfflineAudioContext(1, inputRate, inputRate);  // one second
  await context.audioWorklet.addModule('/console/static/js/capture-worklet.js');
  const tone = new OscillatorNode(context, { frequency: 440 });
  const half = new GainNode(context, { gain: 0.5 });
  const capture = new AudioWorkletNode(context, 'pcm-capture', {
    numberOfOutputs: 0, processorOptions: { rate: 16000, frameMs: 40 } });
  const frames = [];
  capture.port.onmessage = ({ data }) => frames.push(data);
  tone.connect(half).connect(capture);
  tone.start();
  await context.startRendering();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const samples = frames.flatMap(({ pcm }) => {
    const view = new DataView(pcm);
    return Array.from({ length: view.byteLength / 2 }, (_, i) => view.getInt16(2 * i, true));
  });
  const sizes = frames.map(({ pcm }) => pcm.byteLength);
  return { sizes, levels: frames.map(({ level }) => level), samples };
}"""


@pytest.mark.parametrize("input_rate", [48000, 44100])
def test_capture_worklet_makes_16_khz_pcm_frames(console: Page, input_rate):
    found = console.evaluate(DOWNSAMPLE, input_rate)
    assert set(found["sizes"]) == {1280}  # 40 ms of 16-bit samples at 16 kHz
    assert 24 <= len(found["sizes"]) <= 25
    samples = found["samples"]
    crossings = sum(1 for a, b in pairwise(samples) if a < 0 <= b)
    assert abs(crossings / (len(samples) / 16000) - 440) < 5  # the tone's pitch is kept
    assert 15000 < max(samples) < 16500  # and its level (0.5 of full scale)
    assert all(abs(level - 0.354) < 0.01 for level in found["levels"])  # RMS of the tone


# The agent's audio as the playground plays it: two seconds queued, cut after 0.6 s.
PLAY_THEN_CLEAR = """async () => {
  const { openVoice } = await import('/console/static/js/voice.js');
  const seen = { frames: [], speaking: [], played: 0 };
  const voice = await openVoice({
    onFrame: (payload) => seen.frames.push(atob(payload).length),
    onSpeaking: (on) => seen.speaking.push(on),
    onPlayed: (seconds) => { seen.played = seconds; },
  });
  const pcm = new DataView(new ArrayBuffer(3200));  // 100 ms at 16 kHz
  for (let i = 0; i < 1600; i += 1) pcm.setInt16(2 * i, 8000 * Math.sin(i / 5), true);
  const payload = btoa(String.fromCharCode(...new Uint8Array(pcm.buffer)));
  for (let n = 0; n < 20; n += 1) voice.play(payload);  // two seconds queued
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  await sleep(600);
  voice.clear();
  const atClear = seen.played;
  await sleep(600);
  voice.close();
  return { ...seen, atClear };
}"""


def test_clear_stops_the_agent_audio_at_once(console: Page):
    console.goto("/console/playground")
    seen = console.evaluate(PLAY_THEN_CLEAR)
    assert seen["speaking"] == [True, False]
    assert 0.2 <= seen["atClear"] <= 1.5  # some played before the cut, none after it
    assert seen["played"] == seen["atClear"]
    assert len(seen["frames"]) >= 25 and set(seen["frames"]) == {1280}  # the microphone
