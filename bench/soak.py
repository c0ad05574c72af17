"""Crash soak: ``kill -9`` a real ``openline up`` over and over under concurrent text calls.

Per database: one openline process (its data dir and database kept across restarts),
the scripted test agent, a loopback webhook receiver. Each round opens ``--calls`` text
calls that talk as fast as replies come, kills the process with SIGKILL after a random
number of acknowledged turns (a reply reached the client), starts it again and reads
every call back. At the end it waits for the webhooks.

    python bench/soak.py                       # 20 kills x 50 calls, SQLite and PostgreSQL
    python bench/soak.py --kills 5 --backends sqlite

PostgreSQL: a scratch schema in ``OPENLINE_TEST_PG_URL`` (default the test database).

Prints, per database: facts acknowledged / stored / lost (user turns and the replies
the caller was shown) and ``call_failed`` events expected / delivered / lost /
duplicated (a second distinct ending event for a call).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test suite's real servers and clients

import httpx
from cryptography.fernet import Fernet
from tests.conftest import TEST_KEY, pg_schema
from tests.support.crashes import (
    Openline,
    check_record,
    endings,
    talk_until_killed,
)
from tests.support.receiver import Receiver, ReceiverServer
from tests.support.servers import agent_process

from openline.webhooks.dispatcher import LEASE_S

SECRET = "whsec_soak_secret_123"


def _env(database_url: str | None) -> dict[str, str]:
    env = {
        "OPENLINE_API_KEY": TEST_KEY,
        "OPENLINE_SECRETS_KEY": Fernet.generate_key().decode(),
        "OPENLINE_WEBHOOK_ALLOW_PRIVATE": "true",
        "OPENLINE_WEBHOOK_RETRY_SCHEDULE_S": "[0, 0.2, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1]",
        "OPENLINE_ANALYSIS_RETRY_S": "1",
    }
    return env | ({"OPENLINE_DATABASE_URL": database_url} if database_url else {})


def _agent(server: Openline, receiver_url: str, agent_url: str) -> str:
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {TEST_KEY}"}
    ) as http:
        webhook = http.post("/agents/webhooks", json={"url": receiver_url, "secret": SECRET})
        webhook.raise_for_status()
        agent = http.post(
            "/agents",
            json={
                "name": "soak",
                "webhook_id": webhook.json()["id"],
                "self_hosted_deployment_url": agent_url,
            },
        )
        agent.raise_for_status()
    return agent.json()["id"]


async def soak(backend: str, database_url: str | None, args, agent_url: str, work: Path) -> None:
    receiver = ReceiverServer(Receiver(SECRET)).start()
    server = Openline(work / f"data-{backend}", _env(database_url)).start()
    acknowledged = stored = 0
    lost: list[str] = []
    duplicated: list[str] = []
    still_open: list[str] = []
    call_ids: list[str] = []
    began = time.monotonic()
    try:
        agent_id = _agent(server, receiver.url, agent_url)
        for kill in range(args.kills):
            after = random.randint(args.calls, args.calls * 8)
            acked = await talk_until_killed(server, agent_id, TEST_KEY, args.calls, after)
            server.start()
            outcome = check_record(server.base_url, TEST_KEY, acked)
            acknowledged += outcome.acknowledged
            stored += outcome.stored
            lost += outcome.lost
            duplicated += outcome.duplicated
            still_open += outcome.still_open
            call_ids += list(acked.user)
            print(
                f"  {backend} kill {kill + 1:2d}/{args.kills}: {acked.count:4d} turns "
                f"acknowledged; lost so far {len(lost)}",
                flush=True,
            )
        deadline = time.monotonic() + LEASE_S + 120  # a killed process's claims lapse first
        # The receiver runs in its own thread: there is no event on this loop to await.
        while len(endings(receiver.receiver, call_ids)) < len(call_ids):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        server.stop()
        receiver.stop()
    ended = endings(receiver.receiver, call_ids)
    failed = Counter(call_id for call_id, kind in ended if kind == "call_failed")
    per_call = Counter(call_id for call_id, _ in ended)
    print(
        f"\n{backend}: {args.kills} kills x {args.calls} calls in {time.monotonic() - began:.0f} s"
    )
    print(
        f"  facts  acknowledged {acknowledged}, stored {stored}, lost {len(lost)}"
        f"{', duplicated ' + str(len(duplicated)) if duplicated else ''}"
    )
    print(
        f"  events expected {len(call_ids)} call_failed, delivered {len(failed)}, "
        f"lost {len(set(call_ids) - set(per_call))}, "
        f"duplicated {sum(1 for n in per_call.values() if n > 1)}"
        f"{', other endings ' + str(len(ended) - len(failed)) if len(ended) > len(failed) else ''}"
    )
    if still_open:
        print(f"  ! {len(still_open)} calls still open after a restart")
    for line in lost[:10]:
        print(f"  lost: {line}")


async def main() -> None:
    parser = argparse.ArgumentParser(description="openline crash soak")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50, help="concurrent calls per round")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="openline-soak-") as tmp, agent_process() as agent:
        for backend in args.backends.split(","):
            if backend == "postgresql":
                with pg_schema() as url:
                    await soak(backend, url, args, agent, Path(tmp))
            else:
                await soak(backend, None, args, agent, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
