"""Which calls are in flight on which deployment, as this process sees them.

A call takes a lease on its agent's live deployment before it starts and returns it
when it ends. Leases keep a replaced deployment running until its calls are done and
tell the log sink which calls a line may belong to.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol


class CallHandle(Protocol):
    """What the log sink needs of a call (the harness's CallSession provides it)."""

    @property
    def call_id(self) -> str: ...

    @property
    def sent_log_records(self) -> bool:
        """The agent sends its logs itself (SDK): don't attribute output."""
        ...

    @property
    def ledger(self) -> object:
        """Has log_record(level, message, logger, exc_text, at) and since_start()."""
        ...


@dataclass(eq=False)
class Lease:
    deployment_id: str
    url: str
    session: CallHandle | None = field(default=None, repr=False)


class InFlight:
    def __init__(self) -> None:
        self._leases: dict[str, set[Lease]] = defaultdict(set)

    def take(self, deployment_id: str, url: str) -> Lease:
        lease = Lease(deployment_id, url)
        self._leases[deployment_id].add(lease)
        return lease

    def give_back(self, lease: Lease) -> None:
        held = self._leases.get(lease.deployment_id)
        if held is not None:
            held.discard(lease)
            if not held:
                del self._leases[lease.deployment_id]

    def count(self, deployment_id: str) -> int:
        return len(self._leases.get(deployment_id, ()))

    def calls(self, deployment_id: str) -> list[CallHandle]:
        """Calls in flight on the deployment whose session has started."""
        return [
            lease.session
            for lease in self._leases.get(deployment_id, ())
            if lease.session is not None
        ]
