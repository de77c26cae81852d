"""Relay tickets: short-lived ``ek_vgt_…`` secrets that open calls at voxgate's relay, and nowhere else.

A ticket stands where an upstream ephemeral key (``ek_…``) would, for code written for OpenAI's ephemeral
flow: it is bound to a user and to the session voxgate's policy built when it was issued, and (like an
``ek_`` key) it can open any number of calls until it expires. Only its SHA-256 digest is stored.

A ticket issued to a browser session, or to an API key, is also bound to it: it stops working when that
session ends (signed out, or ended by a revocation) or that key is revoked, and when its user is disabled.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.tables import api_keys, relay_tickets, users, web_sessions
from voxgate.core import credentials
from voxgate.errors import NotFound

__all__ = ["TicketStore"]


def _now() -> datetime:
    return datetime.now(UTC)


class TicketStore:
    """Issue, redeem and purge relay tickets, over one :class:`Database` (which it does not own)."""

    def __init__(self, db: Database) -> None:
        self._engine = db.engine

    async def issue(
        self,
        user_id: int,
        session: dict[str, Any],
        ttl: timedelta,
        *,
        session_digest: str | None = None,
        api_key_id: int | None = None,
    ) -> tuple[str, datetime]:
        """A new ticket for ``user_id`` carrying ``session``, bound to the browser session whose digest is
        ``session_digest`` or to the key ``api_key_id`` when given. Returns the ticket and its expiry."""
        secret = credentials.issue(credentials.TICKET_PREFIX)
        now = _now()
        expires_at = now + ttl
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(relay_tickets).values(
                        digest=secret.digest,
                        user_id=user_id,
                        session=session,
                        created_at=now,
                        expires_at=expires_at,
                        session_digest=session_digest,
                        api_key_id=api_key_id,
                    )
                )
        except IntegrityError:
            raise NotFound(f"No user with id {user_id}.", param="user_id") from None
        return secret.value, expires_at

    async def redeem(self, value: str) -> tuple[int, dict[str, Any]] | None:
        """``(user_id, session)`` for a live ticket, as often as it is presented until it expires;
        None for an unknown or expired ticket, one whose user has since been disabled, or one whose browser
        session has ended or whose key has been revoked."""
        redeemed = await self.redeem_with_key(value)
        return None if redeemed is None else redeemed[:2]

    async def redeem_with_key(self, value: str) -> tuple[int, dict[str, Any], int | None] | None:
        """As :meth:`redeem`, with the API key the ticket stands for (issued under it, or under a browser
        session signed in with it): revoking that key ends the calls made with the ticket."""
        if not value.startswith(credentials.TICKET_PREFIX):
            return None
        now = _now()
        query = (
            select(
                relay_tickets.c.user_id,
                relay_tickets.c.session,
                relay_tickets.c.session_digest,
                relay_tickets.c.api_key_id,
                users.c.disabled,
                web_sessions.c.id.label("web_session_id"),
                web_sessions.c.ended_reason,
                web_sessions.c.expires_at.label("web_session_expires_at"),
                web_sessions.c.api_key_id.label("web_session_api_key_id"),
                api_keys.c.revoked_at,
            )
            .join(users, users.c.id == relay_tickets.c.user_id)
            .outerjoin(web_sessions, web_sessions.c.digest == relay_tickets.c.session_digest)
            .outerjoin(api_keys, api_keys.c.id == relay_tickets.c.api_key_id)
            .where(relay_tickets.c.digest == credentials.digest(value), relay_tickets.c.expires_at > now)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None or row.disabled:
            return None
        if row.session_digest is not None and (
            row.web_session_id is None or row.ended_reason is not None or row.web_session_expires_at <= now
        ):
            return None
        if row.api_key_id is not None and row.revoked_at is not None:
            return None
        return row.user_id, dict(row.session), row.api_key_id or row.web_session_api_key_id

    async def purge_expired(self) -> int:
        """Delete expired tickets; returns how many."""
        async with self._engine.begin() as conn:
            result = await conn.execute(sql_delete(relay_tickets).where(relay_tickets.c.expires_at <= _now()))
        return result.rowcount
