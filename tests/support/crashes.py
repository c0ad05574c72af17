"""Killing real ``openline up`` processes under load, and checking what they left.

Used by the crash-safety tests and by ``bench/soak.py``. A caller's turn is
*acknowledged* when the agent's reply to it reached the client: from then on both the
user turn and the reply it was shown must be in the record, whatever happens to the
process after.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

from tests.support.calls import TextCall
from tests.support.receiver import Receiver
from tests.support.servers import free_port, wait_http

ENDINGS = ("call_completed", "call_failed")


@dataclass
class Openline:
    """One ``openline up --no-example`` process in its own session (a kill takes it all)."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> Openline:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINE_")}
        args = [sys.executable, "-m", "openline", "up", "--no-example"]
        args += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                args, env=env | self.env, stderr=log, stdout=log, start_new_session=True
            )
        try:
            wait_http(self.base_url + "/status", timeout_s=60, process=self.process)
        except RuntimeError as error:
            raise RuntimeError(f"{error}; its output:\n{log_path.read_text()[-3000:]}") from None
        return self

    def kill(self) -> None:
        """``kill -9``: no shutdown, no flush."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)


@dataclass
class Acknowledged:
    """Per call: the user turns whose reply arrived, and those replies."""

    user: dict[str, list[str]] = field(default_factory=dict)
    replies: dict[str, list[str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(texts) for texts in self.user.values())


async def talk_until_killed(
    server: Openline, agent_id: str, key: str, calls: int, kill_after_acks: int
) -> Acknowledged:
    """``calls`` text calls, each saying one thing after another as fast as the replies
    come; once ``kill_after_acks`` turns are acknowledged, the server is killed."""
    acked = Acknowledged()
    enough = asyncio.Event()
    opened = await asyncio.gather(
        *(TextCall.open(server.ws_url, agent_id, key) for _ in range(calls))
    )

    async def talk(index: int, call: TextCall) -> None:
        user, replies = acked.user.setdefault(call.call_id, []), []
        acked.replies[call.call_id] = replies
        with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
            await call.reply()  # the greeting
            turn = 0
            while True:
                text = f"call {index} turn {turn}"
                await call.say(text)
                reply = await call.reply()
                user.append(text)
                replies.append(reply)
                if acked.count >= kill_after_acks:
                    enough.set()
                turn += 1

    talking = [asyncio.create_task(talk(i, call)) for i, call in enumerate(opened)]
    await enough.wait()
    server.kill()
    await asyncio.gather(*talking)
    for call in opened:
        with contextlib.suppress(Exception):
            await call.hang_up()
    return acked


@dataclass
class Outcome:
    acknowledged: int = 0
    stored: int = 0  # of the acknowledged facts (user turns and replies)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)  # a fact stored twice
    still_open: list[str] = field(default_factory=list)


def check_record(base_url: str, key: str, acked: Acknowledged) -> Outcome:
    """What the record holds of the acknowledged facts, read through the API."""
    outcome = Outcome()
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as http:
        for call_id, user_texts in acked.user.items():
            call = http.get(f"/agents/calls/{call_id}").json()
            if call["status"] == "started":
                outcome.still_open.append(call_id)
            said = Counter(t["text"] for t in call["transcript"] if t["role"] == "user")
            heard = {t["text"] for t in call["transcript"] if t["role"] != "user"}
            for text in user_texts:
                outcome.acknowledged += 1
                if said[text]:
                    outcome.stored += 1
                else:
                    outcome.lost.append(f"{call_id}: user {text!r}")
                if said[text] > 1:
                    outcome.duplicated.append(f"{call_id}: user {text!r}")
            for reply in acked.replies[call_id]:
                outcome.acknowledged += 1
                if reply in heard:
                    outcome.stored += 1
                else:
                    outcome.lost.append(f"{call_id}: reply {reply!r}")
    return outcome


def endings(receiver: Receiver, call_ids) -> Counter:
    """How many distinct ending events (by ``webhook-id``) each call was announced with."""
    wanted = set(call_ids)
    return Counter(
        (event["call_id"], event["type"])
        for event in receiver.events
        if event.get("call_id") in wanted and event.get("type") in ENDINGS
    )


def closed(base_url: str, key: str, call_ids) -> bool:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as http:
        return all(http.get(f"/agents/calls/{c}").json()["status"] != "started" for c in call_ids)
