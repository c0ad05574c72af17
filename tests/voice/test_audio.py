"""Wire formats, G.711 µ-law and resampling."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from openline.voice.audio import (
    FORMATS,
    AudioError,
    PcmBytes,
    Resampler,
    audio_format,
    decode_payload,
    encode_payload,
    mulaw_decode,
    mulaw_encode,
    resample,
)
from tests.voice.speech import tone

PCM = [FORMATS["pcm_16000"], FORMATS["pcm_24000"], FORMATS["pcm_44100"]]
MULAW = FORMATS["mulaw_8000"]


def test_formats_by_name():
    assert set(FORMATS) == {"mulaw_8000", "pcm_16000", "pcm_24000", "pcm_44100"}
    assert audio_format("mulaw_8000").encoding == "mulaw"
    assert audio_format("pcm_24000").sample_rate == 24000


def test_unknown_format_lists_the_accepted_ones():
    with pytest.raises(AudioError) as caught:
        audio_format("pcm_48000")
    assert isinstance(caught.value, ValueError)
    assert "'pcm_48000'" in str(caught.value)
    assert all(name in str(caught.value) for name in FORMATS)


@pytest.mark.parametrize("fmt", PCM, ids=lambda fmt: fmt.name)
def test_pcm_payload_round_trip(fmt):
    samples = np.random.default_rng(1).integers(-32768, 32768, 4000).astype(np.int16)
    payload = encode_payload(samples, fmt)
    assert base64.b64decode(payload) == samples.astype("<i2").tobytes()
    decoded = decode_payload(payload, fmt)
    assert decoded.dtype == np.int16 and decoded.flags.writeable
    np.testing.assert_array_equal(decoded, samples)


def test_mulaw_payload_round_trip():
    samples = tone(0.5, amplitude=20000, hz=300)[:4000]
    payload = encode_payload(samples, MULAW)
    assert len(base64.b64decode(payload)) == len(samples)  # one byte per sample
    decoded = decode_payload(payload, MULAW)
    # µ-law keeps 4 bits of mantissa: the error is under 1/16 of the magnitude (plus the
    # smallest step near zero)
    error = np.abs(decoded.astype(np.int32) - samples)
    assert np.all(error <= np.abs(samples.astype(np.int32)) / 16 + 8)


def test_empty_payload_is_no_samples():
    assert len(decode_payload("", FORMATS["pcm_16000"])) == 0
    assert len(decode_payload("", MULAW)) == 0


@pytest.mark.parametrize("payload", ["not base64!", "AAA", "AA\nAA", "ÅÅÅÅ"])
def test_payload_that_is_not_base64(payload):
    with pytest.raises(AudioError, match="not valid base64"):
        decode_payload(payload, FORMATS["pcm_16000"])


def test_pcm_payload_with_an_odd_byte_count():
    payload = base64.b64encode(bytes(1001)).decode()
    with pytest.raises(AudioError) as caught:
        decode_payload(payload, FORMATS["pcm_16000"])
    assert "1,001 bytes" in str(caught.value)
    assert "even" in str(caught.value)
    assert len(decode_payload(payload, MULAW)) == 1001  # any byte count is µ-law


# G.711 µ-law facts (the decoded values are those of CPython's former audioop module)
KNOWN_ENCODINGS = {0: 0xFF, -1: 0x7F, 32767: 0x80, 32124: 0x80, -32768: 0x00, 120: 0xF0}
KNOWN_DECODINGS = {0xFF: 0, 0x7F: 0, 0x80: 32124, 0x00: -32124, 0x01: -31100, 0xF0: 120, 0xEF: 132}


def test_mulaw_known_values():
    linear = np.array(list(KNOWN_ENCODINGS), np.int16)
    assert list(mulaw_encode(linear)) == list(KNOWN_ENCODINGS.values())
    decoded = mulaw_decode(bytes(KNOWN_DECODINGS))
    assert decoded.tolist() == list(KNOWN_DECODINGS.values())


def test_mulaw_codes_round_trip_and_decode_monotonically():
    codes = bytes(range(256))
    linear = mulaw_decode(codes)
    again = mulaw_encode(linear)
    # every code comes back, except "negative zero" (0x7F), which is zero (0xFF)
    assert [c for c, a in zip(codes, again, strict=True) if c != a] == [0x7F]
    assert again[0x7F] == 0xFF
    positive = linear[0x80:]  # 0x80 is the loudest positive code, 0xFF zero
    assert np.all(np.diff(positive.astype(np.int32)) < 0)
    np.testing.assert_array_equal(linear[:0x80], -positive)


def test_mulaw_encode_is_monotonic_and_symmetric():
    linear = np.arange(-32768, 32768, dtype=np.int32)
    decoded = mulaw_decode(mulaw_encode(linear.astype(np.int16))).astype(np.int32)
    assert np.all(np.diff(decoded) >= 0)
    np.testing.assert_array_equal(decoded[1:][::-1], -decoded[1:])  # x and -x, x ≥ -32767


@pytest.mark.parametrize(
    ("from_rate", "to_rate"), [(8000, 16000), (16000, 8000), (44100, 16000), (16000, 22050)]
)
def test_streaming_resampler_keeps_duration_and_pitch(from_rate, to_rate):
    seconds, hz = 2.0, 440.0
    t = np.arange(int(seconds * from_rate)) / from_rate
    source = (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)
    resampler = Resampler(from_rate, to_rate)
    pieces = [resampler.process(source[i : i + 333]) for i in range(0, len(source), 333)]
    pieces.append(resampler.flush())
    out = np.concatenate(pieces)
    assert out.dtype == np.int16
    assert abs(len(out) - seconds * to_rate) <= 2
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * to_rate / len(out) - hz) < 2


def test_resampler_at_the_same_rate_passes_audio_through():
    samples = tone(0.1)
    resampler = Resampler(16000, 16000)
    assert resampler.process(samples) is samples
    assert len(resampler.flush()) == 0


def test_one_shot_resample():
    assert len(resample(tone(1.0), 16000, 8000)) == 8000
    assert resample(tone(1.0), 16000, 24000).dtype == np.int16


def test_pcm_bytes_cut_mid_sample():
    samples = np.array([1, -2, 300, -32768], np.int16)
    raw = samples.astype("<i2").tobytes()
    pcm = PcmBytes()
    out = [pcm.push(raw[:3]), pcm.push(raw[3:4]), pcm.push(raw[4:])]
    assert [len(piece) for piece in out] == [1, 1, 2]
    np.testing.assert_array_equal(np.concatenate(out), samples)
