"""Alert rules, their transitions and sampled values (docs/alerts.md).

A rule's state moves by compare-and-set on its ``version``: ``record`` writes an
evaluation only if the rule is still as it was read, in one transaction with the
transition it makes and the notifications that announce it. So a rule edited meanwhile,
or evaluated by a second evaluator, never makes a transition twice.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select

from openline import ids
from openline.domain.alerts import (
    FIRING,
    OK,
    Reading,
    Rule,
    Step,
    parse_rule,
    rule_json,
    transition_json,
)
from openline.domain.time import as_utc, rfc3339, utcnow
from openline.store.delivery_queue import utc_row
from openline.store.pagination import Page, PageRequest, paginate
from openline.store.schema import alert_rules, alert_samples, alert_transitions, webhooks

SAMPLES_KEPT_S = 7 * 86_400
T = TypeVar("T")

# (transaction, rule shown, transition shown, its place among the rule's, live targets)
Notify = Callable[[Connection, dict[str, Any], dict[str, Any], int, list[str]], None]


class NameTaken(ValueError):
    pass


@dataclass(frozen=True)
class StoredRule:
    """A rule as the evaluator reads it: what to measure and the state to move on from."""

    id: str
    rule: Rule
    targets: list[str]
    state: str
    streak: int
    transitions: int
    version: int


@dataclass(frozen=True)
class Evaluation:
    """One rule's reading, the state it moves to, and (for a transition) example calls."""

    stored: StoredRule
    moved: Step
    reading: Reading
    examples: list[str]

    def values(self, at: datetime) -> dict[str, Any]:
        """The rule's columns after it."""
        reading, stored = self.reading, self.stored
        values: dict[str, Any] = {
            "streak": self.moved.streak,
            "value": reading.value,
            "calls": reading.calls,
            "detail": reading.detail or None,
            "evaluated_at": at,
            "version": stored.version + 1,
        }
        if self.moved.state != stored.state:
            values |= {"state": self.moved.state, "state_since": at}
            values["transitions"] = stored.transitions + 1
            if self.moved.state == FIRING:
                values["fired_at"] = at
        return values

    def transition(self, at: datetime) -> dict[str, Any] | None:
        """The transition row it makes, if the state moves."""
        stored, reading = self.stored, self.reading
        if self.moved.state == stored.state:
            return None
        return {
            "id": ids.new_id(ids.ALERT_TRANSITION),
            "rule_id": stored.id,
            "seq": stored.transitions + 1,
            "from_state": stored.state,
            "to_state": self.moved.state,
            "at": at,
            "value": reading.value,
            "threshold": reading.threshold,
            "calls": reading.calls,
            "window_s": stored.rule.window_s,
            "example_call_ids": self.examples,
            "detail": reading.detail or None,
        }


class AlertRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- rules, for the API and the console -----------------------------------------------

    def create(
        self, name: str, rule: Rule, targets: builtins.list[str], enabled: bool = True
    ) -> dict:
        now = utcnow()
        row = {
            "id": ids.new_id(ids.ALERT),
            "name": name,
            "spec": rule.spec(),
            "targets": targets,
            "enabled": enabled,
            "state": OK,
            "state_since": now,
            "streak": 0,
            "transitions": 0,
            "version": 0,
            "created_at": now,
            "updated_at": now,
        }
        if self.by_name(name) is not None:
            raise NameTaken(name)
        with self._engine.begin() as connection:
            connection.execute(alert_rules.insert(), row)
        created = self.get(str(row["id"]))
        assert created is not None  # a fresh id
        return created

    def update(self, rule_id: str, **changes: Any) -> dict | None:
        """Change ``name``, ``rule``, ``targets`` or ``enabled``; the state is kept (its
        streak starts again: earlier readings were of another rule)."""
        values: dict[str, Any] = {"updated_at": utcnow(), "streak": 0}
        if "name" in changes:
            taken = self.by_name(changes["name"])
            if taken is not None and taken["id"] != rule_id:
                raise NameTaken(changes["name"])
            values["name"] = changes["name"]
        if "rule" in changes:
            values["spec"] = changes["rule"].spec()
        for name in ("targets", "enabled"):
            if name in changes:
                values[name] = changes[name]
        with self._engine.begin() as connection:
            result = connection.execute(
                alert_rules.update()
                .where(alert_rules.c.id == rule_id)
                .values({**values, "version": alert_rules.c.version + 1})
            )
        return self.get(rule_id) if result.rowcount else None

    def delete(self, rule_id: str) -> bool:
        with self._engine.begin() as connection:
            deleted = connection.execute(alert_rules.delete().where(alert_rules.c.id == rule_id))
            for table in (alert_transitions, alert_samples):
                connection.execute(table.delete().where(table.c.rule_id == rule_id))
        return bool(deleted.rowcount)

    def get(self, rule_id: str) -> dict | None:
        found = self._rows(alert_rules.c.id == rule_id)
        return found[0] if found else None

    def by_name(self, name: str) -> dict | None:
        found = self._rows(alert_rules.c.name == name)
        return found[0] if found else None

    def list(self, state: str | None = None) -> builtins.list[dict]:
        """Every rule, newest first (``state``: only those in it)."""
        return self._rows(alert_rules.c.state == state if state else None)

    def history(self, rule_id: str, page: PageRequest) -> Page:
        """The rule's transitions, newest first."""
        t = alert_transitions
        with self._engine.connect() as connection:
            found = paginate(connection, select(t).where(t.c.rule_id == rule_id), t.c.id, page)
        return Page([transition_json(utc_row(row)) for row in found.rows], found.has_more)

    def samples(self, rule_id: str, start: datetime, end: datetime) -> builtins.list[dict]:
        """The rule's evaluated values in ``[start, end)``, oldest first."""
        s = alert_samples.c
        query = (
            select(s.at, s.value, s.calls)
            .where(s.rule_id == rule_id, s.at >= start, s.at < end)
            .order_by(s.at)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            {"at": rfc3339(as_utc(at)), "value": value, "calls": calls} for at, value, calls in rows
        ]

    def _rows(self, condition) -> builtins.list[dict]:
        query = select(alert_rules).order_by(alert_rules.c.id.desc())
        if condition is not None:
            query = query.where(condition)
        with self._engine.connect() as connection:
            rows = [utc_row(dict(row._mapping)) for row in connection.execute(query)]
            wanted = {webhook_id for row in rows for webhook_id in row["targets"]}
            endpoints = {
                found.id: {"webhook_id": found.id, "format": found.format, "url": found.url}
                for found in connection.execute(
                    select(webhooks.c.id, webhooks.c.format, webhooks.c.url).where(
                        webhooks.c.id.in_(wanted)
                    )
                )
            }
        return [rule_json(row, [_target(endpoints, w) for w in row["targets"]]) for row in rows]

    # -- evaluating -----------------------------------------------------------------------

    def enabled(self) -> builtins.list[StoredRule]:
        r = alert_rules.c
        query = select(r.id, r.spec, r.targets, r.state, r.streak, r.transitions, r.version).where(
            r.enabled.is_(True)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query.order_by(r.id)).all()
        return [
            StoredRule(row.id, parse_rule(row.spec), list(row.targets), row.state, row.streak,
                       row.transitions, row.version)
            for row in rows
        ]  # fmt: skip

    def record(
        self, evaluations: Sequence[Evaluation], at: datetime, notify: Notify
    ) -> builtins.list[dict]:
        """Write one round's evaluations in one transaction: each rule's reading, and the
        transition of each that moves, with ``notify`` queueing what announces it. A rule
        changed since it was read (edited, or moved by another evaluator) is left as it
        is. Returns the transitions made, as shown."""
        made: builtins.list[tuple[StoredRule, dict]] = []
        samples = []
        r = alert_rules.c
        with self._engine.begin() as connection:  # writes first: see DeliveryQueue.claim_due
            for evaluation in evaluations:
                stored, transition = evaluation.stored, evaluation.transition(at)
                moved_on = connection.execute(
                    alert_rules.update()
                    .where(r.id == stored.id, r.version == stored.version)
                    .values(evaluation.values(at))
                ).rowcount
                if not moved_on:
                    continue
                reading = evaluation.reading
                samples.append(
                    {"rule_id": stored.id, "at": at, "value": reading.value, "calls": reading.calls}
                )
                if transition is not None:
                    connection.execute(alert_transitions.insert(), transition)
                    made.append((stored, transition))
            if samples:
                connection.execute(alert_samples.insert(), samples)
            shown = []
            for stored, transition in made:
                targets = _existing(connection, stored.targets)
                rule = self._rule_in(connection, stored.id)
                shown.append(transition_json(transition))
                notify(connection, rule, shown[-1], transition["seq"], targets)
        return shown

    def with_rule(
        self, rule_id: str, act: Callable[[Connection, dict[str, Any], builtins.list[str]], T]
    ) -> T | None:
        """``act(transaction, rule shown, live targets)`` (None: no such rule)."""
        with self._engine.begin() as connection:
            row = connection.execute(select(alert_rules).where(alert_rules.c.id == rule_id)).first()
            if row is None:
                return None
            rule = rule_json(utc_row(dict(row._mapping)), [])
            return act(connection, rule, _existing(connection, list(row.targets)))

    def prune_samples(self, now: datetime) -> int:
        before = now - timedelta(seconds=SAMPLES_KEPT_S)
        with self._engine.begin() as connection:
            return connection.execute(
                alert_samples.delete().where(alert_samples.c.at < before)
            ).rowcount

    def _rule_in(self, connection: Connection, rule_id: str) -> dict:
        row = connection.execute(select(alert_rules).where(alert_rules.c.id == rule_id)).one()
        return rule_json(utc_row(dict(row._mapping)), [])


def _existing(connection: Connection, webhook_ids: list[str]) -> list[str]:
    """The targets whose endpoint still exists, in the rule's order."""
    query = select(webhooks.c.id).where(webhooks.c.id.in_(webhook_ids))
    found = set(connection.execute(query).scalars())
    return [webhook_id for webhook_id in webhook_ids if webhook_id in found]


def _target(endpoints: dict[str, dict], webhook_id: str) -> dict:
    """A target as shown; one whose endpoint was deleted says so (its notifications are
    not sent)."""
    return endpoints.get(webhook_id, {"webhook_id": webhook_id, "format": None, "url": None})
