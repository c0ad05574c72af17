"""Replaying a journal into the store at start-up, idempotently.

Some of a journal's ops were committed before its process died, some not; replaying all
of them, in order, leaves the store as if every one had committed once:

* an insert whose primary key is already stored is skipped (its outbox rows, committed
  in its transaction, are skipped by theirs);
* updates are re-applied in order (they set a row's state, so twice is once);
* a call closed meanwhile by another process (its lease expired) stays closed: the
  end the dead process meant to record is not applied, and no second ending
  (``call_completed`` / ``call_failed``) is announced for it. Its facts are still added.

As in the writer, an op and the ``with_previous`` ops after it commit together or not at
all, and a unit the database refuses is logged and skipped alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from sqlalchemy import Connection, Engine, and_, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from openline.domain.calls import CallStatus
from openline.domain.webhook_events import CALL_COMPLETED, CALL_FAILED
from openline.store import schema
from openline.store.ops import Insert, Op

log = logging.getLogger(__name__)

_CHUNK = 500  # units per transaction
_ENDINGS = (CALL_COMPLETED, CALL_FAILED)


def replay(engine: Engine, ops: Iterable[Op]) -> int:
    """Apply ``ops`` as described above; returns how many were read."""
    count = 0
    chunk: list[list[Op]] = []
    for unit in _units(ops):
        count += len(unit)
        chunk.append(unit)
        if len(chunk) >= _CHUNK:
            _commit(engine, chunk)
            chunk = []
    if chunk:
        _commit(engine, chunk)
    return count


def _commit(engine: Engine, units: list[list[Op]]) -> None:
    try:
        with engine.begin() as connection:
            for unit in units:
                _apply(connection, unit)
    except OperationalError:
        raise  # the database is away: start-up fails, the journal stays for the next try
    except Exception:
        if len(units) == 1:
            log.exception("journal replay: the database refuses this fact: %r", units[0])
            return
        for unit in units:
            _commit(engine, [unit])


def _apply(connection: Connection, unit: list[Op]) -> None:
    for op in unit:
        if isinstance(op, Insert):
            if _second_ending(connection, op):
                continue
            insert = (postgresql if connection.dialect.name == "postgresql" else sqlite).insert
            connection.execute(insert(op.table).values(op.row).on_conflict_do_nothing())
        else:
            pk = list(op.table.primary_key.columns)
            where = and_(*(column == value for column, value in zip(pk, op.key, strict=True)))
            if op.table is schema.calls:
                where &= schema.calls.c.status == CallStatus.STARTED.value
            connection.execute(op.table.update().where(where).values(op.values))


def _second_ending(connection: Connection, op: Insert) -> bool:
    """Would this outbox row announce a call's end a second time?"""
    if op.table is not schema.webhook_deliveries or op.row["event_type"] not in _ENDINGS:
        return False
    d = schema.webhook_deliveries.c
    return bool(
        connection.execute(
            select(
                exists().where(
                    d.call_id == op.row["call_id"],
                    d.webhook_id == op.row["webhook_id"],
                    d.event_type.in_(_ENDINGS),
                    d.id != op.row["id"],
                )
            )
        ).scalar()
    )


def _units(ops: Iterable[Op]) -> Iterator[list[Op]]:
    unit: list[Op] = []
    for op in ops:
        if unit and not (isinstance(op, Insert) and op.with_previous):
            yield unit
            unit = []
        unit.append(op)
    if unit:
        yield unit
