"""Guessing keys: an address that keeps sending wrong ones is made to wait, longer each
time, on the API and the console alike; short keys are refused outright."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import ValidationError

from openline.config import Settings
from openline.store.keys import MIN_KEY_LENGTH
from tests.conftest import TEST_KEY
from tests.support.servers import RunningServer, openline_server

FREE = 4
FIRST_WAIT_S = 5.0


@pytest.fixture
def limited_server(tmp_path) -> Iterator[RunningServer]:
    settings = Settings(
        data_dir=tmp_path / "data",
        api_key=TEST_KEY,
        sign_in_free_failures=FREE,
        sign_in_backoff_s=FIRST_WAIT_S,
        sign_in_backoff_max_s=600,
    )
    with openline_server(settings) as running:
        yield running


def client_from(server: RunningServer, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8 is loopback)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.base_url, transport=transport, timeout=30)


def guess(http: httpx.Client, key: str = "ol_wrong_guess_0123456789") -> httpx.Response:
    return http.get("/agents", headers={"Authorization": f"Bearer {key}"})


def wait_s(reply: httpx.Response) -> int:
    return int(re.search(r"try again in (\d+) s", reply.json()["error"]["message"]).group(1))


def test_wrong_keys_make_an_address_wait_twice_as_long_each_time(limited_server):
    with client_from(limited_server, "127.0.0.1") as guesser:
        assert [guess(guesser).status_code for _ in range(FREE + 1)] == [401] * (FREE + 1)
        refused = [guess(guesser) for _ in range(50)]
        assert {reply.status_code for reply in refused} == {429}
        assert refused[0].json()["error"]["code"] == "rate_limited"
        assert wait_s(refused[0]) == FIRST_WAIT_S
        # While it waits, even the right key is not checked: that would answer guesses.
        assert guess(guesser, TEST_KEY).status_code == 429
        # The console's sign-in shares the count.
        form = guesser.get("/console/sign-in").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        signing_in = guesser.post("/console/sign-in", data={"csrf_token": csrf, "key": TEST_KEY})
        assert signing_in.status_code == 429 and "Too many failed attempts" in signing_in.text

        with client_from(limited_server, "127.0.0.2") as neighbour:  # another address
            assert guess(neighbour, TEST_KEY).status_code == 200
            assert guess(neighbour).status_code == 401

        time.sleep(FIRST_WAIT_S)
        assert guess(guesser).status_code == 401  # checked again, and wrong again:
        assert wait_s(guess(guesser)) == 2 * FIRST_WAIT_S  # so the next wait is doubled


def test_a_right_key_clears_the_address(limited_server):
    with client_from(limited_server, "127.0.0.3") as http:
        for _ in range(FREE):
            assert guess(http).status_code == 401
        assert guess(http, TEST_KEY).status_code == 200
        assert [guess(http).status_code for _ in range(FREE + 1)] == [401] * (FREE + 1)


def test_keys_shorter_than_the_minimum_are_refused(tmp_path):
    with pytest.raises(ValidationError, match=f"at least {MIN_KEY_LENGTH} characters"):
        Settings(data_dir=tmp_path, api_key="1234")
    env = os.environ | {"OPENLINE_API_KEY": "1234", "OPENLINE_DATA_DIR": str(tmp_path)}
    started = subprocess.run(
        [sys.executable, "-m", "openline", "up", "--port", "1", "--no-example"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    said = " ".join(started.stderr.split())  # however the terminal wrapped it
    assert said.startswith("Error:") and "Traceback" not in said
    assert "OPENLINE_API_KEY" in said and f"at least {MIN_KEY_LENGTH} characters" in said
    assert "1234" not in said  # a refused secret is not echoed


async def test_wrong_keys_over_twilio_count_against_the_address_too(limited_server):
    from tests.voice_calls.test_twilio_bad_input import GOOD_FORMAT, _start

    url = f"{limited_server.ws_url}/twilio/stream/agent_any"

    async def start_with(key: str) -> str:
        parameters = {"access_token": key}
        start = {"callSid": "CA1", "customParameters": parameters, "mediaFormat": GOOD_FORMAT}
        _, _, reason = await _start(url, start)
        return reason

    for _ in range(FREE + 1):
        assert "rate_limited" not in await start_with("ol_wrong_guess_0123456789")
    with client_from(limited_server, "127.0.0.1") as http:
        assert guess(http).status_code == 429  # the guesses over Twilio made it wait
    assert "try again in" in await start_with(TEST_KEY)
