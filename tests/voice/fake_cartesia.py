"""A fake of Cartesia's HTTP API on loopback, for the ``cartesia`` providers driven by
Cartesia's own SDK (``base_url=`` pointed here).

It checks requests the way the service documents them — ``Authorization: Bearer`` and
a dated ``Cartesia-Version`` on every call; for ``POST /tts/bytes`` a JSON body with
``model_id``, ``transcript``, ``voice`` (an id, or ``{"mode": "id", "id": …}``), a
raw ``output_format`` and an optional ``language``; for ``POST /stt`` a multipart form
with a WAV ``file``, ``model`` and ``language`` — and answers refusals with Cartesia's
JSON error object (``error_code``, ``title``, ``message``, ``request_id``). Speech is
espeak-ng's, resampled to the rate asked for and streamed in pieces; transcripts are
whatever the test sets. Every request is kept for assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import re
import subprocess
import threading
import uuid
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from openline.voice.audio import resample
from tests.support.servers import free_port, wait_http

API_KEY = "sk_car_fake_0123456789"
# The voices this account can use, and the espeak-ng voice that stands in for each.
VOICES = {
    "694f9389-aac1-45b6-b726-9d9369183238": "en-us",  # openline's default voice
    "a0e99841-438c-4a64-b679-ae501e7d6091": "en-gb",
}
TTS_MODELS = {"sonic-3", "sonic-2", "sonic-turbo"}
STT_MODELS = {"ink-whisper"}
LANGUAGES = {"en", "fr", "de", "es", "pt", "it", "nl", "ja", "zh", "hi"}
RATES = {8000, 16000, 22050, 24000, 44100, 48000}
CHUNK_BYTES = 4801  # odd: samples get split between two pieces, as on a real network


class Refusal(Exception):
    def __init__(self, status: int, code: str, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.title, self.message = status, code, title, message


@dataclass
class FakeCartesia:
    transcript: str = "what time do you open tomorrow"  # every /stt answer's text
    api_key: str = API_KEY
    break_after_chunks: int | None = None  # drop the connection mid-stream (a network fault)
    stall_s: float = 0.0  # wait this long before answering (a service that hangs)
    asked: int = 0  # requests received, answered or not
    tts_requests: list[dict[str, Any]] = field(default_factory=list)  # accepted, with headers
    rendered: list[np.ndarray] = field(default_factory=list)  # each /tts/bytes answer's audio
    stt_requests: list[dict[str, Any]] = field(default_factory=list)  # accepted
    refused: list[tuple[str, int, str]] = field(default_factory=list)  # (path, status, code)
    url: str = ""  # the base URL, once serving

    async def tts_bytes(self, request: Request) -> Response:
        await self._arrive()
        try:
            headers = self._check_headers(request)
            body = await request.json()
            voice_id, rate = self._check_tts(body)
        except Refusal as refusal:
            return self._refuse(request, refusal)
        except ValueError:  # not JSON
            return self._refuse(request, Refusal(400, "invalid_json", "Bad request", "not JSON"))
        samples = render(body["transcript"], VOICES[voice_id], rate)
        self.tts_requests.append(body | headers)
        self.rendered.append(samples)
        return StreamingResponse(
            self._stream(samples.astype("<i2").tobytes()), media_type="audio/pcm"
        )

    async def _stream(self, pcm: bytes) -> AsyncIterator[bytes]:
        for n, at in enumerate(range(0, len(pcm), CHUNK_BYTES)):
            if self.break_after_chunks is not None and n == self.break_after_chunks:
                raise ConnectionResetError("the fake drops the connection on purpose")
            yield pcm[at : at + CHUNK_BYTES]
            await asyncio.sleep(0.002)  # pieces leave one by one, not as one write

    async def stt(self, request: Request) -> Response:
        await self._arrive()
        try:
            headers = self._check_headers(request)
            form = _multipart(request.headers.get("content-type", ""), await request.body())
            model, language = form.get("model"), form.get("language", "en")
            if model not in STT_MODELS:
                raise Refusal(400, "invalid_model", "Invalid model", f"unknown model {model!r}")
            if language not in LANGUAGES:
                raise Refusal(
                    400, "unsupported_language", "Invalid language", f"{language!r} not supported"
                )
            if "file" not in form:
                raise Refusal(400, "missing_file", "Bad request", "no file in the form")
            filename, content_type, wav = form["file"]
            audio = _wav_samples(wav)
        except Refusal as refusal:
            return self._refuse(request, refusal)
        duration = len(audio) / 16_000
        self.stt_requests.append(
            {
                "model": model,
                "language": language,
                "duration": duration,
                "audio": audio,
                "filename": filename,
                "content_type": content_type,
                "query": dict(request.query_params),
            }
            | headers
        )
        return JSONResponse(
            {
                "type": "transcript",
                "text": self.transcript,
                "duration": duration,
                "language": language,
                "request_id": str(uuid.uuid4()),
            }
        )

    async def _arrive(self) -> None:
        self.asked += 1
        await asyncio.sleep(self.stall_s)

    def _check_headers(self, request: Request) -> dict[str, str]:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            raise Refusal(401, "unauthorized", "Unauthorized", "Invalid API key")
        version = request.headers.get("cartesia-version", "")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", version):
            raise Refusal(400, "invalid_version", "Bad request", "Cartesia-Version must be a date")
        return {"_version": version, "_accept": request.headers.get("accept", "")}

    def _check_tts(self, body: Any) -> tuple[str, int]:
        """The voice id and sample rate of a valid /tts/bytes body."""
        if not isinstance(body, dict):
            raise Refusal(400, "invalid_request", "Bad request", "the body must be an object")
        if body.get("model_id") not in TTS_MODELS:
            raise Refusal(
                400, "invalid_model", "Invalid model", f"unknown model {body.get('model_id')!r}"
            )
        if not isinstance(body.get("transcript"), str) or not body["transcript"].strip():
            raise Refusal(400, "invalid_request", "Bad request", "transcript must not be empty")
        voice = body.get("voice")
        if isinstance(voice, dict) and voice.get("mode", "id") == "id":
            voice = voice.get("id")
        if not isinstance(voice, str):
            raise Refusal(400, "invalid_request", "Bad request", f"invalid voice {voice!r}")
        if voice not in VOICES:
            raise Refusal(
                404, "voice_not_found", "Voice not found", f"No voice with id {voice} exists"
            )
        fmt = body.get("output_format") or {}
        if (fmt.get("container"), fmt.get("encoding")) != ("raw", "pcm_s16le"):
            raise Refusal(400, "invalid_request", "Bad request", f"unsupported format {fmt}")
        if fmt.get("sample_rate") not in RATES:
            raise Refusal(400, "invalid_request", "Bad request", f"bad sample rate in {fmt}")
        language = body.get("language")
        if language is not None and language not in LANGUAGES:
            raise Refusal(
                400, "unsupported_language", "Invalid language", f"{language!r} not supported"
            )
        return voice, fmt["sample_rate"]

    def _refuse(self, request: Request, refusal: Refusal) -> JSONResponse:
        self.refused.append((request.url.path, refusal.status, refusal.code))
        return JSONResponse(
            {
                "error_code": refusal.code,
                "title": refusal.title,
                "message": refusal.message,
                "request_id": str(uuid.uuid4()),
            },
            status_code=refusal.status,
        )


@functools.cache
def render(text: str, voice: str, rate: int) -> np.ndarray:
    """``text`` said by espeak-ng in ``voice``, as 16-bit samples at ``rate``."""
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, text], capture_output=True, check=True
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
        return resample(samples, reader.getframerate(), rate)


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """A multipart/form-data body: fields as text, files as (filename, type, bytes)."""
    if not content_type.startswith("multipart/form-data") or "boundary=" not in content_type:
        raise Refusal(400, "invalid_request", "Bad request", f"not a form: {content_type!r}")
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    form: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        filename = part.get_filename()
        form[name] = (filename, part.get_content_type(), data) if filename else data.decode()
    return form


def _wav_samples(wav: bytes) -> np.ndarray:
    """The samples of a 16 kHz mono 16-bit WAV; anything else is refused."""
    try:
        with wave.open(io.BytesIO(wav)) as reader:
            shape = (reader.getframerate(), reader.getnchannels(), reader.getsampwidth())
            frames = reader.getnframes()
            data = reader.readframes(frames)
    except (wave.Error, EOFError) as error:
        raise Refusal(400, "invalid_audio", "Invalid audio", f"not a WAV file: {error}") from None
    if shape != (16_000, 1, 2) or len(data) != frames * 2:
        raise Refusal(400, "invalid_audio", "Invalid audio", f"expected 16 kHz mono s16: {shape}")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


@contextlib.contextmanager
def serve(fake: FakeCartesia) -> Iterator[FakeCartesia]:
    """``fake`` answering on a free loopback port (``fake.url``) until the block ends."""
    port = free_port()
    app = Starlette(
        routes=[
            Route("/tts/bytes", fake.tts_bytes, methods=["POST"]),
            Route("/stt", fake.stt, methods=["POST"]),
            Route("/status", lambda _: JSONResponse({"ok": True})),
        ]
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{port}"
    try:
        wait_http(fake.url + "/status")
        yield fake
    finally:
        server.should_exit = True
        thread.join(10)
