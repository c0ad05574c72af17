"""Reading fleet analytics: the tallies of a time range, per time bucket and group.

A range is read from the fewest rollups that cover it (``domain.buckets.cover``: whole
days, hours and minutes) plus, for the parts shorter than a minute at its ends, the
calls' own tallies; never from the facts. A metadata filter cannot use the rollups
(they are per agent and deployment), so it reads the tallies of the range's calls.

Test runs' calls are in no rollup: a query that includes them adds their own tallies
(``call_tallies.test_run``, a partial index), so the usual query costs nothing more.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, or_, select

from openline.domain.analytics import AnalyticsFilter, Bucket, GroupBy
from openline.domain.buckets import Grain, Piece, buckets, cover
from openline.domain.tally import Tally
from openline.domain.time import as_utc
from openline.store import schema


class AnalyticsRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def series(
        self,
        start: datetime,
        end: datetime,
        grain: Grain,
        where: AnalyticsFilter,
        group_by: GroupBy | None = None,
    ) -> list[Bucket]:
        """``[start, end)`` cut into ``grain`` buckets, each with its tallies per group."""
        cuts = buckets(start, end, grain)
        series = [Bucket(lower, upper) for lower, upper in cuts]
        starts = [bucket.start for bucket in series]
        whole = [Piece(None, start, end)]
        with self._engine.connect() as connection:
            if where.metadata:
                parts = self._tallies(connection, whole, where, None if where.test_runs else False)
            else:
                pieces = [piece for lower, upper in cuts for piece in cover(lower, upper)]
                parts = self._rollups(connection, pieces, where)
                edges = [p for p in pieces if p.grain is None]
                parts += self._tallies(connection, edges, where, test_run=False)
                if where.test_runs:  # in no rollup: their own tallies, the whole range
                    parts += self._tallies(connection, whole, where, test_run=True)
        for at, agent, deployment, encoded in parts:
            bucket = series[bisect.bisect_right(starts, at) - 1]
            group = None if group_by is None else agent if group_by == "agent_id" else deployment
            tally = Tally.from_json(encoded)
            if group in bucket.groups:
                bucket.groups[group].merge(tally)
            else:
                bucket.groups[group] = tally
        return series

    def total(self, start: datetime, end: datetime, where: AnalyticsFilter) -> Tally:
        """``[start, end)`` as one tally (day buckets: the fewest rollups)."""
        series = self.series(start, end, "day", where)
        return Tally.merged(tally for bucket in series for tally in bucket.groups.values())

    def newest_calls(
        self, start: datetime, end: datetime, where: AnalyticsFilter, limit: int
    ) -> list[tuple[str, Tally]]:
        """Up to ``limit`` of the calls tallied in ``[start, end)``, newest first, each with
        its own tally (test runs' calls only when the filter asks for them)."""
        t = schema.call_tallies.c
        conditions = [t.start_time >= start, t.start_time < end, *_scope(t, where)]
        if not where.test_runs:
            conditions.append(t.test_run.is_(False))
        query = (
            select(t.call_id, t.tally, t.metadata)
            .where(*conditions)
            .order_by(t.start_time.desc(), t.call_id.desc())
            .limit(limit)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            (call_id, Tally.from_json(tally))
            for call_id, tally, metadata in rows
            if _has(metadata, where.metadata)
        ]

    def _rollups(self, connection, pieces: list[Piece], where: AnalyticsFilter) -> list[tuple]:
        r = schema.analytics_rollups.c
        runs = _runs(pieces)
        if not runs:
            return []
        spans = [
            and_(r.grain == grain, r.bucket_start >= lower, r.bucket_start < upper)
            for grain, lower, upper in runs
        ]
        query = select(r.bucket_start, r.agent_id, r.deployment_id, r.tally).where(
            or_(*spans), r.calls > 0, *_scope(r, where)
        )
        return [
            (as_utc(at), agent, deployment or None, tally)
            for at, agent, deployment, tally in connection.execute(query)
        ]

    def _tallies(
        self, connection, pieces: list[Piece], where: AnalyticsFilter, test_run: bool | None
    ) -> list[tuple]:
        """The calls' own tallies in these pieces: only test runs' (``test_run`` True),
        none of them (False), or all (None)."""
        if not pieces:
            return []
        t = schema.call_tallies.c
        spans = [and_(t.start_time >= p.start, t.start_time < p.end) for p in pieces]
        conditions = [or_(*spans), *_scope(t, where)]
        if test_run is not None:
            conditions.append(t.test_run if test_run else t.test_run.is_(False))
        query = select(t.start_time, t.agent_id, t.deployment_id, t.tally, t.metadata).where(
            *conditions
        )
        return [
            (as_utc(at), agent, deployment or None, tally)
            for at, agent, deployment, tally, metadata in connection.execute(query)
            if _has(metadata, where.metadata)
        ]


def _scope(columns, where: AnalyticsFilter) -> list:
    conditions = []
    if where.agent_id is not None:
        conditions.append(columns.agent_id == where.agent_id)
    if where.deployment_id is not None:
        conditions.append(columns.deployment_id == where.deployment_id)
    return conditions


def _runs(pieces: Iterable[Piece]) -> list[tuple[Grain, datetime, datetime]]:
    """Whole-bucket pieces joined into contiguous runs per grain: one range query each."""
    by_grain: dict[Grain, list[Piece]] = defaultdict(list)
    for piece in pieces:
        if piece.grain is not None:
            by_grain[piece.grain].append(piece)
    runs = []
    for grain, found in by_grain.items():
        found.sort(key=lambda piece: piece.start)
        lower, upper = found[0].start, found[0].end
        for piece in found[1:]:
            if piece.start == upper:
                upper = piece.end
            else:
                runs.append((grain, lower, upper))
                lower, upper = piece.start, piece.end
        runs.append((grain, lower, upper))
    return runs


def metadata_text(value: Any) -> str:
    """How a metadata value compares with a filter's text: strings as they are, the rest as
    JSON (``true``, ``42``)."""
    return value if isinstance(value, str) else json.dumps(value)


def _has(metadata: Any, wanted: tuple[tuple[str, str], ...]) -> bool:
    if not wanted:
        return True
    if not isinstance(metadata, dict):
        return False
    return all(key in metadata and metadata_text(metadata[key]) == value for key, value in wanted)
