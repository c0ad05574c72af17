"""The voice half of a call: caller audio becomes user turns, agent text becomes audio.

It speaks the agent protocol the way a voice platform does: the caller
starting to speak is ``user_state speaking`` at once (so the agent can stop), the
transcript follows as ``message`` and ``user_state idle`` when the turn is over; the
agent's messages are spoken in order and acknowledged with ``agent_state`` and
``agent_speech`` carrying what was actually heard. An assistant turn ends where its
audio stopped playing. A barge-in stops playback, tells the caller to ``clear`` its
buffer, and ends the assistant turn ``interrupted`` with only the heard part as its
text (all of a message whose text the caller was shown, when the caller typed), and
everything the agent generated for it as its generated text.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from openline.config import Settings
from openline.domain.calls import TurnEndReason
from openline.harness import loop_lag
from openline.harness.ledger import CallLedger
from openline.harness.listener import Listener, ListenerEvents, Speech
from openline.harness.ports import CallPorts
from openline.harness.recorder import CallRecorder, Channel
from openline.harness.speaker import Interruption, Segment, Speaker, Utterance
from openline.protocol import agent as wire
from openline.protocol.client import StartConfig, agent_done
from openline.voice import providers
from openline.voice.audio import AudioError, AudioFormat, audio_format, decode_payload
from openline.voice.base import ProviderError, Samples, SpeechToText, TextToSpeech, TurnDetector

RECORDING_LAG_S = 1.0  # audio can arrive this late and still make the recording
HANG_UP_GRACE_S = 60.0  # longest an agent's last words may play after end_call


@dataclass(frozen=True)
class VoiceSetup:
    """What a call's voice is made of, chosen from the agent's settings."""

    format: AudioFormat
    stt: SpeechToText
    tts: TextToSpeech
    detector: TurnDetector
    voice: str | None = None
    language: str | None = None


def choose_voice(agent: dict, config: StartConfig, settings: Settings) -> VoiceSetup:
    """The agent's providers (or the platform defaults) for a call in ``config``'s format."""
    cartesia = (settings.cartesia_api_key, settings.cartesia_base_url)
    return VoiceSetup(
        format=audio_format(config.input_format or "pcm_16000"),
        stt=providers.stt_provider(
            agent.get("stt_provider") or settings.stt_provider, *cartesia
        ).for_call(),
        tts=providers.tts_provider(agent.get("tts_provider") or settings.tts_provider, *cartesia),
        detector=providers.turn_detector(settings.vad_provider, settings.end_of_turn_ms),
        voice=config.voice_id or agent.get("tts_voice") or None,
        language=agent.get("tts_language") or None,
    )


class VoiceCall:
    def __init__(
        self,
        setup: VoiceSetup,
        ledger: CallLedger,
        ports: CallPorts,
        stream_id: str,
        recording: IO[bytes] | None = None,
        held_up: Callable[[float], float] = loop_lag.held_up,
    ) -> None:
        self._ledger = ledger
        self._ports = ports
        self._stream_id = stream_id
        self._format = setup.format
        self._recording = recording
        self._recorder = None if recording is None else CallRecorder(recording)
        self._listener = Listener(
            setup.format,
            setup.detector,
            setup.stt,
            ledger.now,
            ListenerEvents(self._record("caller"), self._speech_started, self._heard, self._fail),
            setup.language,
            held_up=held_up,
        )
        self._speaker = Speaker(
            setup.tts, setup.format, ledger.now, _SpeakerEvents(self), setup.voice, setup.language
        )
        self._agent_speaking = False
        self._response_over = False  # the agent sent response_end for the open turn
        self._done: list[str | None] = []  # agent_done owed once what plays now has played
        self._space = ""  # a blank chunk (LLM streams send them): spoken with the next
        self._flusher: asyncio.Task | None = None

    async def start(self) -> None:
        self._speaker.start()
        self._listener.start()
        if self._recorder is not None:
            self._flusher = asyncio.create_task(self._flush_recording())

    async def close(self, ended_at: float) -> float | None:
        """Stop speaking and listening; finish the recording at ``ended_at`` (call time).
        Returns the recording's duration."""
        cut = await self._speaker.stop()
        if cut.heard is not None:  # the call ended mid-sentence: keep what was heard
            self._ledger.interrupt_assistant_turn(
                ended_at, cut.heard_text, TurnEndReason.CALL_ENDED, self._same_trigger(cut)
            )
        self._note_unspoken(cut, "call ended")
        await self._listener.close()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._recorder is None or self._recording is None:  # both are, or neither
            return None
        duration = await asyncio.to_thread(self._recorder.close, ended_at)
        self._recording.close()
        return duration

    # -- from the caller ----------------------------------------------------------------

    async def media(self, message: dict[str, Any]) -> None:
        media = message.get("media")
        payload = media.get("payload") if isinstance(media, dict) else None
        if not isinstance(payload, str):
            await self._ports.client_error("media_input needs media.payload (base64 audio)")
            return
        try:
            samples = decode_payload(payload, self._format)
        except AudioError as error:
            await self._ports.client_error(str(error), code="invalid_audio")
            return
        await self._listener.hear(samples)

    async def user_text(self, text: str) -> None:
        """A typed turn in a voice call: it cuts the agent off like speech would."""
        self._ports.touch()
        await self._caller_speaks(typed=True)
        self._ledger.user_turn(text)
        await self._user_said(text)

    # -- from the agent -------------------------------------------------------------------

    async def agent_message(
        self, text: str, interruptible: bool, responding_to: str | None
    ) -> None:
        """Queue a message to be spoken (answers to a cut-off turn never get here)."""
        if not text.strip():  # nothing to say, but the spacing belongs to the answer
            self._space += text
            return
        text, self._space = self._space + text, ""
        self._response_over = False
        self._speaker.say(Utterance(text, interruptible, responding_to, self._ledger.now()))

    async def response_end(self, responding_to: str | None, answers: str | None) -> None:
        """The agent's answer is over: its turn ends, and the caller is told, once it has
        been heard (its turn ends where its audio does, whatever it answers)."""
        self._response_over = True
        self._done.append(answers)
        if not self._speaker.busy:
            await self._answer_heard()

    async def hang_up(self) -> None:
        """The agent ends the call: what it queued is still said."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._speaker.drained(), HANG_UP_GRACE_S)

    async def configure(self, config: wire.Config) -> None:
        """An agent ``config`` message: voice and language for what follows."""
        voice = config.tts.get("voice_id") or self._speaker.voice
        tts_language = config.tts.get("language") or config.language or self._speaker.language
        stt_language = config.stt.get("language") or config.language
        try:
            await asyncio.to_thread(self._speaker.tts.check_voice, voice, tts_language)
            if stt_language:
                await asyncio.to_thread(self._listener.check_language, stt_language)
        except ProviderError as error:
            frame = str({"type": config.type, **config.fields})[:1000]
            await self._ports.reject_agent_message(f"config: {error}", frame)
            return
        self._speaker.voice, self._speaker.language = voice, tts_language
        if stt_language:
            self._listener.language = stt_language

    # -- turns ------------------------------------------------------------------------------

    async def _speech_started(self, at: float) -> None:
        self._ports.touch()
        await self._caller_speaks()

    async def _caller_speaks(self, typed: bool = False) -> None:
        """A caller's turn begins: the agent stops talking, learns the caller speaks (so
        it cancels its answer at once), then learns how much of it was heard."""
        cut = None
        self._space = ""
        if self._speaker.busy and self._speaker.interruptible:
            cut = await self._speaker.interrupt()
            await self._record_cut(cut, typed)
        elif not self._speaker.busy and self._ledger.assistant_turn_open:
            self._close_turn()
        await self._ports.send_agent(wire.UserState("speaking"))
        if cut is not None:
            if cut.heard is not None and cut.heard_text:
                await self._ports.send_agent(wire.AgentSpeech(cut.heard_text))
            if cut.was_speaking:
                await self._agent_silent()

    async def _record_cut(self, cut: Interruption, typed: bool) -> None:
        now = self._ledger.now()
        await self._ports.send_client({"event": "clear", "stream_id": self._stream_id})
        unspoken = self._same_trigger(cut)
        heard = None  # no message was playing: every chunk recorded so far was heard whole
        if cut.heard is not None:
            # A typing caller was shown the whole message (agent_text) as it began to play.
            heard = cut.heard.utterance.text if typed else cut.heard_text
        self._ledger.interrupt_assistant_turn(now, heard, unspoken=unspoken)
        self._note_unspoken(cut, "interrupted")
        self._response_over = False
        self._done = []  # cut off: those answers were never heard to their end

    def _same_trigger(self, cut: Interruption) -> list[str]:
        """Texts that never played and answer what the open turn answers (or, with no
        turn open, whatever the agent was about to say first)."""
        trigger = self._ledger.assistant_responding_to
        if trigger is None and cut.heard is not None:
            trigger = cut.heard.utterance.responding_to
        if trigger is None and cut.unspoken:
            trigger = cut.unspoken[0].responding_to
        return [u.text for u in cut.unspoken if u.responding_to in (trigger, None)]

    def _note_unspoken(self, cut: Interruption, reason: str) -> None:
        if cut.unspoken:
            texts = [utterance.text for utterance in cut.unspoken]
            self._ledger.signal("unspoken", {"texts": texts, "reason": reason})

    async def _heard(self, speech: Speech) -> None:
        self._ports.touch()
        if not speech.text:
            self._ledger.signal("no_speech_recognised", {"start": speech.start, "end": speech.end})
            return
        self._ledger.user_turn(
            speech.text,
            speech.start,
            speech.end,
            speech.stt_ttfb,
            speech.vad_buffer_ms,
            speech.decided,
        )
        await self._user_said(speech.text)

    async def _user_said(self, text: str) -> None:
        await self._ports.send_agent(wire.UserMessage(text))
        await self._ports.send_agent(wire.UserState("idle"))

    async def _fail(self, problem: str) -> None:
        self._ledger.signal("error", {"message": problem})
        await self._ports.client_error(problem, code="voice_pipeline")

    def _close_turn(self) -> None:
        """The agent is done and silent: its turn ends where its audio did."""
        self._ledger.close_assistant_turn(TurnEndReason.TTS_COMPLETED)

    async def _answer_heard(self) -> None:
        self._close_turn()
        done, self._done = self._done, []
        for answers in done:
            await self._ports.send_client(agent_done(self._stream_id, answers))

    # -- what the speaker reports -------------------------------------------------------------

    async def _segment_started(self, segment: Segment) -> None:
        self._ports.touch()
        utterance = segment.utterance
        if not self._agent_speaking:
            self._agent_speaking = True
            await self._ports.send_agent(wire.AgentState("speaking"))
        self._ledger.agent_message(
            utterance.text,
            utterance.interruptible,
            utterance.responding_to,
            segment.start,
            utterance.arrived_at,
        )
        self._ledger.assistant_first_audio(segment.tts_ttfb)
        await self._ports.send_client(
            {"event": "agent_text", "stream_id": self._stream_id, "text": utterance.text}
        )

    async def _segment_finished(self, segment: Segment) -> None:
        self._ledger.assistant_heard_until(segment.end)
        await self._ports.send_agent(wire.AgentSpeech(segment.utterance.text))

    async def _fell_silent(self, at: float) -> None:
        self._ledger.assistant_heard_until(at)
        await self._agent_silent()
        if self._response_over:
            await self._answer_heard()

    async def _agent_silent(self) -> None:
        if self._agent_speaking:
            self._agent_speaking = False
            await self._ports.send_agent(wire.AgentState("idle"))

    async def _audio_out(self, payload: str) -> None:
        await self._ports.send_client(
            {"event": "media_output", "stream_id": self._stream_id, "media": {"payload": payload}}
        )

    async def _synthesis_failed(self, utterance: Utterance, error: ProviderError) -> None:
        await self._fail(f"text-to-speech: {error}")

    # -- recording --------------------------------------------------------------------------------

    def _record(self, channel: Channel) -> Callable[[float, Samples], None]:
        if self._recorder is None:
            return lambda at, samples: None
        recorder = self._recorder
        return lambda at, samples: recorder.add(channel, at, samples)

    async def _flush_recording(self) -> None:
        """Keep the file on disk playable and current (a crash still leaves a recording)."""
        assert self._recorder is not None
        while True:
            await asyncio.sleep(RECORDING_LAG_S)
            await asyncio.to_thread(self._recorder.flush, self._ledger.now() - RECORDING_LAG_S)


class _SpeakerEvents:
    """Adapts the speaker's reports to the voice call (keeps its handlers private)."""

    def __init__(self, call: VoiceCall) -> None:
        self.audio_out = call._audio_out
        self.record = call._record("agent")
        self.segment_started = call._segment_started
        self.voice_heard = call._ledger.assistant_voiced
        self.segment_finished = call._segment_finished
        self.fell_silent = call._fell_silent
        self.synthesis_failed = call._synthesis_failed
