"""Deployment statuses (docs/deployments.md, Lifecycle) and which of them are final for one
attempt."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"  # building the venv, then starting and health-checking it
    BUILD_ERROR = "build_error"
    DEPLOYED = "deployed"
    HELD = "held"  # built and running, but takes no traffic until promoted (the deploy gate)
    DEPLOY_ERROR = "deploy_error"
    INACTIVE = "inactive"  # replaced by a newer live deployment
    SKIPPED = "skipped"  # superseded by a newer upload before its build began


# Where a deploy or promote attempt ends; `openline deploy` follows until one of these
# (held: its scenarios can run against it now).
SETTLED = frozenset(
    {
        Status.DEPLOYED,
        Status.HELD,
        Status.BUILD_ERROR,
        Status.DEPLOY_ERROR,
        Status.SKIPPED,
        Status.INACTIVE,
    }
)
