"""The writer's operations, and their form in the journal.

A journal record is a 4-byte length and a pickle of ``("i", table, call_id,
with_previous, row)`` or ``("u", table, call_id, key, values)``: pickle round-trips
datetimes, tuples, floats and JSON values exactly and costs a fraction of JSON on the
call's path. The journal lives in the data dir beside the database and its keys, and is
read only by openline: it is trusted like them.
"""

from __future__ import annotations

import logging
import pickle
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, final

from sqlalchemy import Table

from openline.store.schema import metadata

log = logging.getLogger(__name__)


# Final: encode() tells the two apart by their exact type.
@final
@dataclass(frozen=True, slots=True)
class Insert:
    table: Table
    row: dict[str, Any]
    call_id: str
    with_previous: bool = False  # commit in the same transaction as the op before it


@final
@dataclass(frozen=True, slots=True)
class Update:
    table: Table
    key: tuple[Any, ...]  # primary-key values, in the table's primary-key column order
    values: dict[str, Any]
    call_id: str


Op = Insert | Update


_LENGTH = struct.Struct("<I")


def encode(op: Op) -> bytes:
    record: tuple[object, ...]
    if type(op) is Insert:
        record = ("i", op.table.name, op.call_id, op.with_previous, op.row)
    else:
        record = ("u", op.table.name, op.call_id, op.key, op.values)
    data = pickle.dumps(record, pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def decode_all(data: bytes) -> Iterator[Op]:
    """The ops in a journal segment, up to the zeros after the last record; a torn last
    record (a crash mid-copy: it was not acknowledged) is left out."""
    at = 0
    while at + _LENGTH.size <= len(data):
        (size,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        if size == 0 or at + size > len(data):  # the zeros after the last record
            return
        try:
            kind, table_name, call_id, third, fields = pickle.loads(data[at : at + size])
            table = metadata.tables[table_name]
        except (pickle.UnpicklingError, EOFError, ValueError, KeyError):
            log.warning("journal: unreadable record at byte %d; the rest is left out", at)
            return
        at += size
        if kind == "i":
            yield Insert(table, fields, call_id, third)
        else:
            yield Update(table, third, fields, call_id)
