"""eSpeak NG from PyPI alone: the ``libespeak-ng`` and voice data that the
``espeakng-loader`` wheel ships, driven through ctypes. No system package, no download.

The library keeps its state in globals (voice, rate, output buffer), so a process has one
engine, and all it does runs on the engine's own thread, one job at a time.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from openline.voice.base import ProviderError, Samples

SAMPLE_RATE = 22_050  # eSpeak NG's only output rate

# From espeak-ng's speak_lib.h.
_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: audio goes to the callback, nothing is played
_DONT_EXIT = 0x8000  # espeakINITIALIZE_DONT_EXIT: report a failure instead of exit()
_POS_CHARACTER = 1
# UTF-8 text and nothing else (no espeakSSML, no espeakPHONEMES: what an agent says is
# spoken as written), with the pause after the last word the espeak-ng command adds.
_SYNTH_FLAGS = 0x1 | 0x1000  # espeakCHARS_UTF8 | espeakENDPAUSE
_RATE = 1  # espeakRATE, in words per minute
_NORMAL_RATE = 175  # espeakRATE_NORMAL
_PIECE_MS = 100  # audio reaches the callback in pieces this long

Deliver = Callable[[Samples], bool]  # takes a piece of audio; returning False stops it


class _Voice(ctypes.Structure):  # espeak_VOICE
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-ended tag)…, then a 0 byte
        ("identifier", ctypes.c_char_p),  # its file under espeak-ng-data/voices: gmw/en-US
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class Voices:
    names: frozenset[str]  # lower case: language tags and voice files
    variants: frozenset[str]  # lower case: what may follow a "+"


class Engine:
    """libespeak-ng loaded from ``library`` with its voice data at ``data``. Starting it
    is blocking (a few milliseconds) and raises ProviderError when it cannot run."""

    def __init__(self, library: str, data: str) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="espeak-ng")
        self._deliver: Deliver | None = None  # the job in progress's
        self._callback = _Callback(self._take)  # kept alive: the library holds a pointer
        try:
            self.voices = self._thread.submit(self._start, library, data).result()
        except ProviderError:
            self._thread.shutdown()  # each call may try again: no thread left behind
            raise

    def speak(
        self, text: str, voice: str, words_per_minute: int | None, deliver: Deliver
    ) -> Future[bool]:
        """Queue a synthesis; ``deliver`` gets its audio on the engine's thread as it is
        made. The future's result says whether it ran to the end (False: stopped)."""
        return self._thread.submit(self._speak, text, voice, words_per_minute, deliver)

    def _start(self, library: str, data: str) -> Voices:
        try:
            self._lib = lib = ctypes.CDLL(library)
        except OSError as error:
            raise ProviderError(f"espeak-ng cannot run: {error}") from error
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            *(ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint),
            *(ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p),
        ]
        rate = lib.espeak_Initialize(_SYNCHRONOUS, _PIECE_MS, data.encode(), _DONT_EXIT)
        if rate != SAMPLE_RATE:  # -1: its data is missing or unreadable
            raise ProviderError(f"espeak-ng cannot run: no usable voice data at {data}")
        lib.espeak_SetSynthCallback(self._callback)
        names = {name for voice in self._list(None) for name in _names(voice)}
        variant_files = self._list(
            _Voice(languages=ctypes.cast(ctypes.c_char_p(b"variant"), ctypes.c_void_p))
        )
        variants = {v.identifier.decode().lower().removeprefix("!v/") for v in variant_files}
        return Voices(frozenset(names), frozenset(variants))

    def _list(self, spec: _Voice | None) -> list[_Voice]:
        """Voices matching ``spec`` (None: all but the variants), as ``--voices`` lists them."""
        found = self._lib.espeak_ListVoices(ctypes.byref(spec) if spec else None)
        voices: list[_Voice] = []
        while found[len(voices)]:
            voices.append(found[len(voices)].contents)
        return voices

    def _speak(self, text: str, voice: str, words_per_minute: int | None, deliver: Deliver) -> bool:
        lib, self._deliver = self._lib, deliver
        name = voice.encode()
        by_language = _Voice(
            languages=ctypes.cast(ctypes.c_char_p(name), ctypes.c_void_p)
        )  # ``name`` outlives it
        try:
            # A voice file or name, else a language: as ``espeak-ng -v`` tries them.
            if lib.espeak_SetVoiceByName(name) and lib.espeak_SetVoiceByProperties(by_language):
                raise ProviderError(f"espeak-ng has no voice {voice!r}")
            lib.espeak_SetParameter(_RATE, words_per_minute or _NORMAL_RATE, 0)
            encoded = text.encode(errors="replace")  # a lone surrogate from JSON is no crash
            if error := lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _SYNTH_FLAGS, None, None
            ):
                raise ProviderError(f"espeak-ng could not speak (error {error})")
            return self._deliver is not None
        finally:
            self._deliver = None

    def _take(self, wav, count: int, _events) -> int:
        """The library's callback (its last call has no audio): 0 goes on, 1 stops."""
        deliver = self._deliver
        if count and (deliver is None or not deliver(np.ctypeslib.as_array(wav, (count,)).copy())):
            self._deliver = None
            return 1
        return 0


def _names(voice: _Voice) -> list[str]:
    """The voice's file and every language tag it speaks, lower case."""
    names, tag = [voice.identifier.decode().lower()], voice.languages
    while ctypes.string_at(tag, 1) != b"\0":
        language = ctypes.string_at(tag + 1)
        names.append(language.decode().lower())
        tag += len(language) + 2  # its priority byte, the tag, its NUL
    return names


_engine: Engine | None = None
_starting = threading.Lock()


def shared_engine() -> Engine:
    """The process's engine, started on first use. ProviderError when eSpeak NG cannot
    run here; a failure is not remembered, so a fixed install is seen next time."""
    global _engine
    with _starting:
        if _engine is None:
            _engine = Engine(*_wheel_files())
        return _engine


def _wheel_files() -> tuple[str, str]:
    """The library and voice data the espeakng-loader wheel installed."""
    try:
        import espeakng_loader
    except ImportError as error:
        raise ProviderError(
            "espeak-ng cannot run: the espeakng-loader package is not installed "
            "(pip install espeakng-loader)"
        ) from error
    try:
        return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except RuntimeError as error:  # its espeak-ng-data folder is missing
        raise ProviderError(f"espeak-ng cannot run: {error}") from error
