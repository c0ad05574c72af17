"""Agents' voice settings over the API: recording switch, providers, voice, language."""

from __future__ import annotations

from openline.voice.providers import STT_PROVIDERS, TTS_PROVIDERS


def test_voice_settings_round_trip(server):
    with server.client() as http:
        plain = http.post("/agents", json={"name": "Plain"}).json()
        assert plain["recording_enabled"] is True  # recorded unless switched off
        assert (plain["stt_provider"], plain["tts_provider"]) == (None, None)  # defaults
        assert (plain["tts_voice"], plain["tts_language"]) == ("", "en")  # Cartesia's shape

        settings = {
            "recording_enabled": False,
            "stt_provider": STT_PROVIDERS[-1],
            "tts_provider": TTS_PROVIDERS[-1],
            "tts_voice": "narrator-2",
            "tts_language": "fr-CA",
        }
        created = http.post("/agents", json={"name": "Voice"} | settings)
        assert created.status_code == 201, created.text
        agent_id = created.json()["id"]
        stored = http.get(f"/agents/{agent_id}").json()
        assert {name: stored[name] for name in settings} == settings

        patched = http.patch(
            f"/agents/{agent_id}",
            json={"recording_enabled": True, "tts_voice": None, "stt_provider": None},
        ).json()
        assert patched["recording_enabled"] is True
        assert (patched["stt_provider"], patched["tts_voice"]) == (None, "")
        assert (patched["tts_provider"], patched["tts_language"]) == (TTS_PROVIDERS[-1], "fr-CA")
        assert http.get("/agents").json()["summaries"][0] == patched


def test_bad_voice_settings_are_422(server):
    with server.client() as http:
        agent_id = http.post("/agents", json={"name": "Voice"}).json()["id"]
        stt = http.post("/agents", json={"name": "x", "stt_provider": "whisper-9000"})
        assert stt.status_code == 422
        message = stt.json()["error"]["message"]
        assert "stt_provider" in message and "unknown provider 'whisper-9000'" in message
        assert all(name in message for name in STT_PROVIDERS)  # says what would do
        tts = http.patch(f"/agents/{agent_id}", json={"tts_provider": "nope"})
        assert tts.status_code == 422 and "tts_provider" in tts.json()["error"]["message"]
        for bad in (
            {"tts_language": "english please"},
            {"recording_enabled": None},
            {"recording_enabled": "sometimes"},
        ):
            reply = http.patch(f"/agents/{agent_id}", json=bad)
            assert reply.status_code == 422, bad
        assert http.get(f"/agents/{agent_id}").json()["recording_enabled"] is True
