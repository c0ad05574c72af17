"""A voice-call client for tests: a microphone that streams in real time (silence when
nobody talks) and a speaker that collects what the platform sends back."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import subprocess
import time
import wave
from collections import deque
from io import BytesIO
from typing import Any

import numpy as np
import websockets

from openline.voice.audio import Resampler, resample
from openline.voice.tts import EspeakTTS
from tests.support.calls import ended

FRAME_S = 0.02
# What test callers say: PocketSphinx gets most of these words whatever state it is in
# (it hears "what is the status of my order" as "what is listed as ordered" now and then).
SENTENCE = "can you tell me when the store opens tomorrow"


def speech(text: str, rate: int = 16_000) -> np.ndarray:
    """``text`` spoken by espeak-ng, as 16-bit mono samples at ``rate``."""
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", "en-us", text], capture_output=True, check=True
    ).stdout
    with wave.open(BytesIO(wav)) as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
        return resample(samples, reader.getframerate(), rate)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


class VoiceClient:
    def __init__(self, connection, ack: dict[str, Any], rate: int) -> None:
        self.connection = connection
        self.ack = ack
        self.call_id: str = ack.get("call_id", "")
        self.rate = rate
        self.events: list[tuple[float, dict[str, Any]]] = []  # (monotonic, event)
        self.audio_seconds = 0.0  # agent audio received
        self._to_send: deque[np.ndarray] = deque()
        self._tasks = [asyncio.create_task(self._microphone()), asyncio.create_task(self._ear())]
        self.closed: tuple[int | None, str] | None = None
        self.push_to_talk = False  # True: the microphone sends speech only, never silence

    @classmethod
    async def open(
        cls, ws_url: str, agent_id: str, key: str, rate: int = 16_000, **metadata: Any
    ) -> VoiceClient:
        connection = await websockets.connect(
            f"{ws_url}/agents/stream/{agent_id}?access_token={key}", max_size=None
        )
        config = {"input_format": f"pcm_{rate}"}
        start = {"event": "start", "stream_id": "v1", "config": config, "metadata": metadata}
        await connection.send(json.dumps(start))
        ack = json.loads(await asyncio.wait_for(connection.recv(), 20))
        assert ack["event"] == "ack", ack
        return cls(connection, ack, rate)

    def say(self, samples: np.ndarray) -> float:
        """Queue speech for the microphone; returns how long it lasts."""
        self._to_send.append(samples)
        return len(samples) / self.rate

    async def _microphone(self) -> None:
        frame = int(FRAME_S * self.rate)
        pending = np.zeros(0, np.int16)
        next_at = time.monotonic()
        while True:
            if len(pending) < frame and self._to_send:
                pending = np.concatenate([pending, self._to_send.popleft()])
            if self.push_to_talk and not len(pending):
                next_at = time.monotonic() + FRAME_S
                await asyncio.sleep(FRAME_S)
                continue
            chunk = pending[:frame]
            pending = pending[frame:]
            if len(chunk) < frame:
                chunk = np.concatenate([chunk, np.zeros(frame - len(chunk), np.int16)])
            payload = base64.b64encode(chunk.astype("<i2").tobytes()).decode()
            try:
                await self.connection.send(
                    json.dumps(
                        {"event": "media_input", "stream_id": "v1", "media": {"payload": payload}}
                    )
                )
            except websockets.ConnectionClosed:
                return
            next_at += FRAME_S
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _ear(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in self.connection:  # ends quietly on a normal close
                event = json.loads(frame)
                if event.get("event") == "media_output":
                    audio = base64.b64decode(event["media"]["payload"])
                    self.audio_seconds += len(audio) / 2 / self.rate
                self.events.append((time.monotonic(), event))
        self.closed = (self.connection.close_code, self.connection.close_reason or "")

    def seen(self, kind: str) -> list[dict[str, Any]]:
        return [event for _, event in self.events if event.get("event") == kind]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while len(self.seen(kind)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no {kind} #{count}; saw {[e.get('event') for _, e in self.events][-20:]}"
                )
            await asyncio.sleep(0.02)
        return self.seen(kind)[count - 1]

    async def wait_for_audio(self, seconds: float, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.audio_seconds < seconds:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.audio_seconds:.2f} s of agent audio arrived")
            await asyncio.sleep(0.02)

    async def hang_up(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.connection.close()


async def finish(client: VoiceClient, server) -> dict:
    """Hang up, then read the call as the API shows it once its end is recorded (on a
    loaded machine that takes longer than any fixed pause)."""
    await client.hang_up()
    return await ended(server, client.call_id)


def turns(call: dict) -> list[dict]:
    return [entry for entry in call["transcript"] if entry["role"] != "system"]


async def wait_quiet(client: VoiceClient, quiet_s: float = 0.6, timeout: float = 40) -> None:
    """Until no agent audio has arrived for ``quiet_s`` (the agent finished talking)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, since = client.audio_seconds, loop.time()
    while loop.time() - since < quiet_s:
        if loop.time() > deadline:
            raise TimeoutError("the agent never stopped talking")
        await asyncio.sleep(0.05)
        if client.audio_seconds != last:
            last, since = client.audio_seconds, loop.time()


async def rendered_seconds(text: str, voice: str) -> float:
    """How long ``text`` lasts in ``voice`` after the pipeline's resampling to 16 kHz."""
    tts = EspeakTTS()
    to_16k = Resampler(tts.sample_rate, 16_000)
    samples = 0
    async for chunk in tts.synthesize(text, voice):
        samples += len(to_16k.process(chunk))
    return (samples + len(to_16k.flush())) / 16_000


def recording(server, call_id: str) -> tuple[np.ndarray, np.ndarray, int]:
    """The call's stereo recording as (caller, agent, rate)."""
    with server.client() as http:
        reply = http.get(f"/agents/calls/{call_id}/audio")
    reply.raise_for_status()
    with wave.open(BytesIO(reply.content)) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        return frames[0::2], frames[1::2], wav.getframerate()


def last_sound(channel: np.ndarray, rate: int, start_s: float, end_s: float) -> float | None:
    """Call time of the last audible sample of ``channel`` between the two times."""
    begin = int(start_s * rate)
    loud = np.flatnonzero(np.abs(channel[begin : int(end_s * rate)]) > 500)
    return None if not len(loud) else (begin + loud[-1] + 1) / rate
