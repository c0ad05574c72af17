"""Webhook signing secrets, sealed at rest with the same ``Sealer`` as agent environment
variables (``sealing.py``)."""

from __future__ import annotations

from sqlalchemy import Engine

from openline.store.schema import webhooks
from openline.store.sealing import SealedWithAnotherKey, Sealer, seal_plain


class WebhookSecrets:
    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer
        self._opened: dict[str, str] = {}  # sealed secret -> plain: opening costs CPU per claim

    def seal(self, secret: str) -> str:
        return self._sealer.seal(secret)

    def open_or_none(self, webhook_id: str, stored: str) -> str | None:
        """The plain secret; None when this process cannot open it: the attempt fails,
        visibly, instead of every claim (another endpoint's too) failing with it."""
        opened = self._opened.get(stored)
        if opened is None:
            try:
                opened = self._sealer.open(stored, f"webhook {webhook_id}'s secret")
            except SealedWithAnotherKey:
                return None
            self._opened[stored] = opened
        return opened

    def seal_plain(self, engine: Engine) -> int:
        """Seal the secrets stored in plain text before sealing existed; returns how many."""
        return seal_plain(engine, webhooks, "secret", self._sealer)
