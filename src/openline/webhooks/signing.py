"""Headers that let a receiver authenticate a delivery.

``x-webhook-secret`` carries the shared secret itself (what Line receivers check).
The Standard Webhooks headers add integrity and replay protection: ``webhook-id`` (stable
across retries, an idempotency key), ``webhook-timestamp`` and ``webhook-signature``, an
HMAC-SHA256 over ``id.timestamp.body`` keyed with the same secret's UTF-8 bytes.
"""

from __future__ import annotations

from datetime import datetime

from standardwebhooks.webhooks import Webhook


def delivery_headers(secret: str, delivery_id: str, at: datetime, body: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "openline-webhooks/1",
        "x-webhook-secret": secret,
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret.encode()).sign(delivery_id, at, body),
    }
