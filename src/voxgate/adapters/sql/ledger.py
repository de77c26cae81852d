"""The call ledger in SQL: calls, their items, responses and transcriptions, and what they cost.

Every write is keyed by an upstream id and made with one ``INSERT … ON CONFLICT`` statement, so a
replayed event, a re-attached sideband or two replicas recording the same event at once leave exactly
one row, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, Select, and_, case, func, or_, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.tables import (
    call_items,
    call_responses,
    call_transcriptions,
    calls,
    dialect_insert,
    users,
)
from voxgate.core.ledger import (
    CallDetail,
    CallItem,
    CallMode,
    CallRecord,
    CallResponse,
    CallSummary,
    NewCall,
    Transcription,
    new_call_id,
    order_items,
)
from voxgate.errors import NotFound

__all__ = ["FIRST_WORDS_CHARS", "LedgerStore"]

#: How much of a call's first user turn History shows.
FIRST_WORDS_CHARS = 80
# Ids per ``IN (…)`` list when pruning many calls at once.
_CHUNK = 500


def _now() -> datetime:
    return datetime.now(UTC)


def _record(row: RowMapping) -> CallRecord:
    return CallRecord(
        id=row["id"],
        upstream_call_id=row["upstream_call_id"],
        user_id=row["user_id"],
        api=row["api"],
        mode=cast(CallMode, row["mode"]),
        model=row["model"],
        voice=row["voice"],
        client_ip=row["client_ip"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        end_reason=row["end_reason"],
    )


def _item(row: RowMapping) -> CallItem:
    return CallItem(
        item_id=row["item_id"],
        role=row["role"],
        type=row["type"],
        text=row["text"],
        status=row["status"],
        previous_item_id=row["previous_item_id"],
        interrupted=bool(row["interrupted"]),
        truncated_ms=row["truncated_ms"],
        created_at=row["created_at"],
    )


def first_words(items: Iterable[CallItem], limit: int = FIRST_WORDS_CHARS) -> str | None:
    """The first thing the user said or typed (items in conversation order), cut to about ``limit``."""
    for item in items:
        if item.role != "user" or not item.text:
            continue
        words = " ".join(item.text.split())
        if not words:
            continue
        if len(words) <= limit:
            return words
        cut = words[: limit - 1]
        # Cut at a word boundary when there is one in the second half.
        if " " in cut[limit // 2 :]:
            cut = cut.rsplit(" ", 1)[0]
        return cut.rstrip() + "…"
    return None


def _calls_query() -> Select[Any]:
    return select(calls, users.c.name.label("user_name")).outerjoin(users, users.c.id == calls.c.user_id)


class LedgerStore:
    """:class:`voxgate.core.ledger.Ledger` over one :class:`Database` (which it does not own)."""

    def __init__(self, db: Database) -> None:
        self._engine = db.engine
        # Writes are short transactions: one hop each through the database's writer.
        self._writer = db.writer
        self._dialect = db.engine.dialect.name
        self._open_call = (
            dialect_insert(calls, self._dialect)
            .on_conflict_do_nothing(index_elements=[calls.c.upstream_call_id])
            .returning(*calls.c)
        )

    # -- calls ------------------------------------------------------------------------------------

    async def open_call(self, call: NewCall) -> CallRecord:
        """Record a call (idempotent by ``upstream_call_id``: a second open returns the first row)."""
        values = {
            "id": call.call_id or new_call_id(),
            "upstream_call_id": call.upstream_call_id,
            "user_id": call.user_id,
            "api": call.api,
            "mode": call.mode,
            "model": call.model,
            "voice": call.voice,
            "client_ip": call.client_ip[:64] if call.client_ip else None,
            "started_at": call.started_at or _now(),
            "api_key_id": call.api_key_id,
        }
        stmt = self._open_call  # the values go as parameters: the statement is built once

        def insert_or_read(conn: Connection) -> RowMapping:
            row = conn.execute(stmt, values).mappings().first()
            if row is None:  # already recorded (maybe a moment ago, by another replica)
                query = select(calls).where(calls.c.upstream_call_id == call.upstream_call_id)
                row = conn.execute(query).mappings().one()
            return row

        try:
            row = await self._writer.run(insert_or_read)
        except IntegrityError:
            raise NotFound(f"No user with id {call.user_id}.", param="user_id") from None
        return _record(row)

    async def get_call(self, call_id: str) -> CallRecord | None:
        """A call by voxgate id."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(calls).where(calls.c.id == call_id))).mappings().first()
        return None if row is None else _record(row)

    async def get_call_by_upstream(self, upstream_call_id: str) -> CallRecord | None:
        """A call by upstream id."""
        query = select(calls).where(calls.c.upstream_call_id == upstream_call_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _record(row)

    async def end_call(self, call_id: str, reason: str, at: datetime | None = None) -> bool:
        """Mark a call ended; the first reason wins. True if this call changed it."""
        stmt = (
            update(calls)
            .where(calls.c.id == call_id, calls.c.ended_at.is_(None))
            .values(ended_at=at or _now(), end_reason=reason[:64])
        )
        return await self._writer.run(lambda conn: conn.execute(stmt).rowcount == 1)

    async def live_calls(self) -> Sequence[CallRecord]:
        """Every call not yet ended, oldest first."""
        query = select(calls).where(calls.c.ended_at.is_(None)).order_by(calls.c.started_at, calls.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_record(row) for row in rows]

    async def delete_call(self, call_id: str) -> bool:
        """Delete a call and (by cascade) everything recorded about it. True if it existed."""
        async with self._engine.begin() as conn:
            return (await conn.execute(sql_delete(calls).where(calls.c.id == call_id))).rowcount == 1

    # -- what happens in a call -------------------------------------------------------------------

    async def record_item(self, call_id: str, item: CallItem) -> None:
        """Insert or update an item by ``(call_id, item_id)``; non-null fields win over null ones.

        ``interrupted`` only ever turns on, and a late ``in_progress`` never undoes a final status.
        """
        stmt = dialect_insert(call_items, self._dialect).values(
            call_id=call_id,
            item_id=item.item_id,
            role=item.role,
            type=item.type,
            text=item.text,
            status=item.status,
            previous_item_id=item.previous_item_id,
            interrupted=item.interrupted,
            truncated_ms=item.truncated_ms,
            created_at=item.created_at or _now(),
        )
        new, old = stmt.excluded, call_items.c
        keep_status = or_(new.status.is_(None), and_(new.status == "in_progress", old.status.is_not(None)))
        stmt = stmt.on_conflict_do_update(
            index_elements=[old.call_id, old.item_id],
            set_={
                "text": func.coalesce(new.text, old.text),
                "status": case((keep_status, old.status), else_=new.status),
                "previous_item_id": func.coalesce(new.previous_item_id, old.previous_item_id),
                "truncated_ms": func.coalesce(new.truncated_ms, old.truncated_ms),
                "interrupted": or_(old.interrupted, new.interrupted),
            },
        )
        await self._write(call_id, stmt)

    async def record_response(self, call_id: str, response: CallResponse) -> None:
        """Insert a response by ``(call_id, response_id)``; a replay changes nothing."""
        stmt = (
            dialect_insert(call_responses, self._dialect)
            .values(
                call_id=call_id,
                response_id=response.response_id,
                status=response.status,
                model=response.model,
                usage=response.usage,
                cost_usd=response.cost_usd,
                created_at=response.created_at or _now(),
            )
            .on_conflict_do_nothing(index_elements=[call_responses.c.call_id, call_responses.c.response_id])
        )
        await self._write(call_id, stmt)

    async def record_usage(self, call_id: str, usage: CallResponse) -> None:
        """Insert or advance a cumulative usage row by ``(call_id, response_id)`` (a GPT-Live session's).

        Usages are cumulative, so a row is replaced, never added to: by a usage with at least as many
        ``seconds``, or by a final one (status ``completed``); a final row is never replaced. A replayed
        or late event therefore never moves the cost backwards.
        """
        stmt = dialect_insert(call_responses, self._dialect).values(
            call_id=call_id,
            response_id=usage.response_id,
            status=usage.status,
            model=usage.model,
            usage=usage.usage,
            cost_usd=usage.cost_usd,
            created_at=usage.created_at or _now(),
        )
        new, old = stmt.excluded, call_responses.c
        later = or_(
            new.status == "completed",
            new.usage["seconds"].as_float() >= func.coalesce(old.usage["seconds"].as_float(), 0),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[old.call_id, old.response_id],
            set_={"status": new.status, "usage": new.usage, "cost_usd": new.cost_usd, "model": new.model},
            where=and_(old.status != "completed", later),
        )
        await self._write(call_id, stmt)

    async def record_transcription(self, call_id: str, transcription: Transcription) -> None:
        """Insert a transcription by ``(call_id, item_id)``; a replay changes nothing."""
        table = call_transcriptions
        stmt = (
            dialect_insert(table, self._dialect)
            .values(
                call_id=call_id,
                item_id=transcription.item_id,
                model=transcription.model,
                seconds=transcription.seconds,
                usage=transcription.usage,
                cost_usd=transcription.cost_usd,
                created_at=transcription.created_at or _now(),
            )
            .on_conflict_do_nothing(index_elements=[table.c.call_id, table.c.item_id])
        )
        await self._write(call_id, stmt)

    async def _write(self, call_id: str, stmt: Any) -> None:
        try:
            await self._writer.run(lambda conn: conn.execute(stmt).close())
        except IntegrityError:  # the only constraint left after ON CONFLICT: the call must exist
            raise NotFound(f"No call {call_id!r}.", param="call_id") from None

    # -- history ----------------------------------------------------------------------------------

    async def list_calls(
        self, *, user_id: int | None = None, limit: int = 50, before: datetime | None = None
    ) -> Sequence[CallSummary]:
        """Newest first; ``user_id`` None lists everyone's (for admins); ``before`` pages on."""
        query = _calls_query().order_by(calls.c.started_at.desc(), calls.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(calls.c.user_id == user_id)
        if before is not None:
            query = query.where(calls.c.started_at < before)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            ids = [row["id"] for row in rows]
            # Only the start of each text is needed here: the first words.
            short_text = func.substr(call_items.c.text, 1, 4 * FIRST_WORDS_CHARS).label("text")
            item_rows = await self._items(conn, ids, short_text)
            costs = await self._costs(conn, ids)
        return [self._summary(row, item_rows.get(row["id"], []), costs.get(row["id"], [])) for row in rows]

    async def call_detail(self, call_id: str) -> CallDetail | None:
        """A call with its items in conversation order, responses and transcriptions."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(_calls_query().where(calls.c.id == call_id))).mappings().first()
            if row is None:
                return None
            items = (await self._items(conn, [call_id], call_items.c.text)).get(call_id, [])
            responses = (
                (
                    await conn.execute(
                        select(call_responses)
                        .where(call_responses.c.call_id == call_id)
                        .order_by(call_responses.c.id)
                    )
                )
                .mappings()
                .all()
            )
            transcriptions = (
                (
                    await conn.execute(
                        select(call_transcriptions)
                        .where(call_transcriptions.c.call_id == call_id)
                        .order_by(call_transcriptions.c.id)
                    )
                )
                .mappings()
                .all()
            )
        costs = [r["cost_usd"] for r in responses] + [t["cost_usd"] for t in transcriptions]
        summary = self._summary(row, items, costs)
        return CallDetail(
            summary=summary,
            items=order_items(items),
            responses=[
                CallResponse(
                    r["response_id"], r["status"], r["usage"], r["cost_usd"], r["model"], r["created_at"]
                )
                for r in responses
            ],
            transcriptions=[
                Transcription(
                    t["item_id"], t["model"], t["seconds"], t["usage"], t["cost_usd"], t["created_at"]
                )
                for t in transcriptions
            ],
        )

    @staticmethod
    async def _items(conn: AsyncConnection, ids: list[str], text: Any) -> dict[str, list[CallItem]]:
        """Each call's items in the order they were first recorded."""
        if not ids:
            return {}
        columns = [c for c in call_items.c if c.name != "text"]
        query = select(*columns, text).where(call_items.c.call_id.in_(ids)).order_by(call_items.c.id)
        by_call: dict[str, list[CallItem]] = {}
        for row in (await conn.execute(query)).mappings():
            by_call.setdefault(row["call_id"], []).append(_item(row))
        return by_call

    @staticmethod
    async def _costs(conn: AsyncConnection, ids: list[str]) -> dict[str, list[Decimal | None]]:
        """Every cost recorded for each call (summed in Python: exact on every backend)."""
        by_call: dict[str, list[Decimal | None]] = {}
        if not ids:
            return by_call
        for table in (call_responses, call_transcriptions):
            query = select(table.c.call_id, table.c.cost_usd).where(table.c.call_id.in_(ids))
            for call_id, cost in (await conn.execute(query)).all():
                by_call.setdefault(call_id, []).append(cost)
        return by_call

    @staticmethod
    def _summary(row: RowMapping, items: list[CallItem], costs: list[Decimal | None]) -> CallSummary:
        known = all(cost is not None for cost in costs)
        total = sum((cost for cost in costs if cost is not None), Decimal(0))
        return CallSummary(
            call=_record(row),
            user_name=row["user_name"],
            cost_usd=total if known else None,
            cost_known=known,
            first_words=first_words(order_items(items)),
            items=len(items),
        )

    # -- retention --------------------------------------------------------------------------------

    async def prune_transcripts(self, older_than: datetime) -> int:
        """Blank the text of items of calls that ended before ``older_than`` (usage and cost stay).
        Returns how many calls were pruned (a call is pruned once)."""
        due = and_(calls.c.ended_at < older_than, calls.c.transcripts_pruned_at.is_(None))
        async with self._engine.begin() as conn:
            # Mark first, then blank exactly the calls marked: a call ending meanwhile waits for next time.
            marked = (
                (
                    await conn.execute(
                        update(calls).where(due).values(transcripts_pruned_at=_now()).returning(calls.c.id)
                    )
                )
                .scalars()
                .all()
            )
            for start in range(0, len(marked), _CHUNK):
                chunk = marked[start : start + _CHUNK]
                await conn.execute(
                    update(call_items).where(call_items.c.call_id.in_(chunk)).values(text=None)
                )
        return len(marked)
