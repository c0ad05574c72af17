"""The speaker on a virtual clock: pacing, what is reported as heard, barge-in, failures.
Seconds of speech play out in milliseconds, the same every run."""

from __future__ import annotations

import asyncio
import base64

import pytest

from openline.harness.speaker import CHUNK_S, LEAD_S, RECORD_RATE, Speaker, Utterance
from openline.voice.audio import audio_format
from openline.voice.base import ProviderError
from tests.support.fake_voice import FakeTTS, duration
from tests.support.virtual_time import run_virtual

TEN_WORDS = "one two three four five six seven eight nine ten"  # 1.0 s of fake speech


def approx(expected: float):
    """A time on the virtual clock (each pass of the loop takes it a microsecond further)."""
    return pytest.approx(expected, abs=1e-3)


def now() -> float:
    return asyncio.get_running_loop().time()


class Reports:
    """What the speaker reports, each with the time it did."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, int]] = []  # (sent at, bytes of audio)
        self.recorded: list[tuple[float, int]] = []  # (call time, samples at RECORD_RATE)
        self.log: list[tuple] = []
        self.voiced: list[tuple[float, float]] = []  # (where voice began, reported at)

    async def audio_out(self, payload: str) -> None:
        self.frames.append((now(), len(base64.b64decode(payload))))

    def record(self, at: float, samples) -> None:
        self.recorded.append((at, len(samples)))

    async def segment_started(self, segment) -> None:
        self.log.append(("started", segment.utterance.text, segment.start, now()))

    def voice_heard(self, at: float) -> None:
        self.voiced.append((at, now()))

    async def segment_finished(self, segment) -> None:
        self.log.append(("finished", segment.utterance.text, segment.end, now()))

    async def fell_silent(self, at: float) -> None:
        self.log.append(("silent", at))

    async def synthesis_failed(self, utterance, error) -> None:
        self.log.append(("failed", utterance.text, type(error)))

    def recorded_seconds(self) -> float:
        return sum(samples for _, samples in self.recorded) / RECORD_RATE


def speaking(tts: FakeTTS | None = None, output: str = "pcm_16000") -> tuple[Speaker, Reports]:
    reports = Reports()
    speaker = Speaker(
        tts or FakeTTS(), audio_format(output), now, reports, voice="v", language="en"
    )
    speaker.start()
    return speaker, reports


def message(text: str, interruptible: bool = True) -> Utterance:
    return Utterance(text, interruptible, responding_to=None, arrived_at=now())


def test_audio_goes_out_paced_never_starving_and_never_far_ahead_of_the_play_head():
    async def main():
        speaker, reports = speaking()
        speaker.say(message(TEN_WORDS))
        await speaker.drained()
        assert 1.0 <= now() < 1.1  # drained once it has played, not once it was sent
        await speaker.close()
        return reports

    reports = run_virtual(main)
    assert len(reports.frames) == 10
    for index, (sent_at, size) in enumerate(reports.frames):
        assert size == CHUNK_S * 16_000 * 2
        plays_at = index * CHUNK_S
        assert -1e-3 <= plays_at - sent_at <= LEAD_S + 1e-3, (index, sent_at)
    assert reports.recorded_seconds() == approx(1.0)


def test_messages_play_back_to_back_and_each_is_reported_as_it_plays():
    async def main():
        speaker, reports = speaking()
        speaker.say(message("first five words right here"))
        speaker.say(message("then three more"))
        await speaker.drained()
        await speaker.close()
        return reports

    log = run_virtual(main).log
    assert [entry[:3] for entry in log] == [
        ("started", "first five words right here", approx(0.0)),
        ("finished", "first five words right here", approx(0.5)),
        ("started", "then three more", approx(0.5)),
        ("finished", "then three more", approx(0.8)),
        ("silent", approx(0.8)),
    ]
    for entry in log[:4]:  # reported when the clock got there
        assert entry[3] == pytest.approx(entry[2], abs=0.03)


def test_a_cut_keeps_the_heard_part_drops_the_queue_and_the_speaker_speaks_again():
    async def main():
        speaker, reports = speaking()
        first, queued = message(TEN_WORDS), message("never played")
        speaker.say(first)
        speaker.say(queued)
        await asyncio.sleep(0.45)
        cut = await speaker.interrupt()
        assert cut.was_speaking and cut.heard.utterance is first
        assert cut.heard_text == "one two three four"  # 45 % of ten words played
        assert cut.unspoken == [queued]
        assert reports.recorded_seconds() == approx(0.45)  # only what was heard
        sent = sum(size for _, size in reports.frames) / 2 / 16_000
        assert sent <= 0.45 + LEAD_S + CHUNK_S  # little was sent that never played
        assert not speaker.busy and ("silent", approx(0.45)) not in reports.log
        speaker.say(message("after the cut"))
        await speaker.drained()
        await speaker.close()
        return reports

    reports = run_virtual(main)
    started = [entry for entry in reports.log if entry[0] == "started"]
    assert [entry[1:3] for entry in started] == [
        (TEN_WORDS, approx(0.0)),
        ("after the cut", approx(0.45)),
    ]
    assert reports.recorded_seconds() == approx(0.45 + duration("after the cut"))


def test_audio_sent_ahead_for_the_next_message_is_taken_back_by_a_cut():
    async def main():
        speaker, _ = speaking()
        playing, next_up = message("three short words"), message("sent ahead but unplayed")
        speaker.say(playing)
        speaker.say(next_up)
        await asyncio.sleep(0.25)
        cut = await speaker.interrupt()
        await speaker.close()
        return cut, playing, next_up

    cut, playing, next_up = run_virtual(main)
    assert cut.heard.utterance is playing and cut.heard_text == "three short"
    assert cut.unspoken == [next_up]


async def cut_while_synthesizing():
    """A message whose first audio takes 1 s, cut off at 0.5 s."""
    speaker, reports = speaking(FakeTTS(first_audio_s=1.0))
    waiting = message(TEN_WORDS)
    speaker.say(waiting)
    await asyncio.sleep(0.5)
    return await speaker.stop(), waiting, reports


def test_a_cut_before_any_audio_played_heard_nothing():
    cut, _, reports = run_virtual(cut_while_synthesizing)
    assert (cut.was_speaking, cut.heard, cut.heard_text) == (False, None, "")
    assert reports.frames == [] and reports.recorded == [] and reports.log == []


def test_a_message_still_waiting_for_its_first_audio_is_reported_unspoken():
    cut, waiting, _ = run_virtual(cut_while_synthesizing)
    assert cut.unspoken == [waiting]


def test_a_message_plays_from_when_its_first_audio_exists():
    async def main():
        speaker, reports = speaking(FakeTTS(first_audio_s=0.25))
        speaker.say(message("hello there"))
        await speaker.drained()
        await speaker.close()
        return reports

    (started, *_) = run_virtual(main).log
    assert started[2] == approx(0.25)


def test_time_to_first_audio_is_the_synthesis_alone_carried_on_the_segment():
    """From its synthesis starting: a message waiting in the queue (here sent 0.1 s before
    the speaker got it) waits in playout, not in text-to-speech."""
    seen = []

    class Watching(Reports):
        async def segment_started(self, segment) -> None:
            seen.append(segment.tts_ttfb)

    async def main():
        speaker = Speaker(FakeTTS(first_audio_s=0.3), audio_format("pcm_16000"), now, Watching())
        speaker.start()
        await asyncio.sleep(0.1)
        speaker.say(Utterance("late", True, None, arrived_at=0.0))  # sent 0.1 s ago
        await speaker.drained()
        await speaker.close()

    run_virtual(main)
    assert seen == [approx(0.3)]


def test_a_synthesis_that_fails_plays_what_it_made_reports_it_and_the_next_message_plays():
    async def main():
        speaker, reports = speaking(FakeTTS(fail_on="broken", fail_after=2))
        speaker.say(message("a broken message here"))
        speaker.say(message("still fine"))
        await speaker.drained()
        await speaker.close()
        return reports

    reports = run_virtual(main)
    assert ("failed", "a broken message here", ProviderError) in reports.log
    assert [entry[:3] for entry in reports.log if entry[0] == "finished"] == [
        ("finished", "a broken message here", approx(0.2)),  # its two words
        ("finished", "still fine", approx(0.4)),
    ]


@pytest.mark.parametrize(
    ("tts_rate", "output", "frame_bytes"),
    [(24_000, "pcm_16000", 3200), (16_000, "mulaw_8000", 800), (22_050, "pcm_44100", 8820)],
)
def test_audio_is_converted_to_the_callers_format_and_recorded_at_16k(
    tts_rate, output, frame_bytes
):
    async def main():
        speaker, reports = speaking(FakeTTS(sample_rate=tts_rate), output)
        speaker.say(message(TEN_WORDS))
        await speaker.drained()
        await speaker.close()
        return reports

    reports = run_virtual(main)
    sizes = [size for _, size in reports.frames]
    assert set(sizes[:-1]) == {frame_bytes}  # CHUNK_S frames whatever the provider's chunks
    assert sum(sizes) == pytest.approx(10 * frame_bytes, abs=frame_bytes / 10)
    assert reports.recorded_seconds() == pytest.approx(1.0, abs=0.01)


def test_a_message_that_may_not_be_cut_is_known_while_it_plays():
    async def main():
        speaker, _ = speaking()
        assert speaker.interruptible and not speaker.busy
        speaker.say(message("do not cut me off", interruptible=False))
        assert speaker.busy
        await asyncio.sleep(0.2)
        assert not speaker.interruptible
        await speaker.drained()
        assert speaker.interruptible and not speaker.busy
        await speaker.close()

    run_virtual(main)


def test_the_voice_and_language_go_to_the_provider():
    tts = FakeTTS()

    async def main():
        speaker, _ = speaking(tts)
        speaker.say(message("hi"))
        await speaker.drained()
        await speaker.close()

    run_virtual(main)
    assert tts.spoken == [("hi", "v", "en")]


def test_the_first_voiced_audio_is_reported_where_it_plays_once_it_has_played():
    """A synthesis that opens with silence: the caller hears a voice only after it."""

    async def main():
        speaker, reports = speaking(FakeTTS(first_audio_s=0.1, leading_silence_s=0.35))
        speaker.say(message("hello there"))
        await speaker.drained()
        await speaker.close()
        return reports

    reports = run_virtual(main)
    (started, *_) = reports.log
    [(voiced_at, reported_at)] = reports.voiced
    assert voiced_at == approx(started[2] + 0.35)
    assert voiced_at <= reported_at < voiced_at + 0.05  # reported as the play head passed


def test_a_cut_in_the_leading_silence_reports_no_voice():
    async def main():
        speaker, reports = speaking(FakeTTS(leading_silence_s=0.5))
        speaker.say(message("hello there"))
        await asyncio.sleep(0.3)
        await speaker.interrupt()
        await speaker.close()
        return reports

    assert run_virtual(main).voiced == []
