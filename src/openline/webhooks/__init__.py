"""Lifecycle webhooks: an outbox written with the facts, and a dispatcher that delivers it."""
