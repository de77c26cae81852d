"""Accounts in SQL: users, API keys, one-time sign-in links, browser sessions, and the mint audit."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import RowMapping, func, insert, or_, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError

from voxgate.adapters.sql.audit_batch import AuditBatcher
from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.tables import (
    api_keys,
    client_reports,
    mint_audit,
    relay_tickets,
    signin_links,
    users,
    web_sessions,
)
from voxgate.core import credentials
from voxgate.core.accounts import ApiKeyInfo, ClientReport, MintRecord, Role, User
from voxgate.core.audit_sampling import AuditSampler
from voxgate.errors import InvalidRequest, NotFound

__all__ = ["MAX_NAME_LENGTH", "AccountStore", "CredentialCheck", "check_text"]

log = logging.getLogger("voxgate.audit")

#: Users' and keys' names (the columns are 200 characters long).
MAX_NAME_LENGTH = 200


#: ``last_used_at`` is written at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _now() -> datetime:
    return datetime.now(UTC)


def check_text(value: str, param: str, max_length: int) -> str:
    """``value`` if it fits a column of ``max_length`` and holds no control characters (PostgreSQL refuses
    NUL bytes outright); otherwise an :class:`InvalidRequest` naming ``param``."""
    if len(value) > max_length:
        raise InvalidRequest(f"'{param}' is too long (at most {max_length} characters).", param=param)
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise InvalidRequest(f"'{param}' must not contain control characters.", param=param)
    return value


def _fits(value: str, max_length: int) -> bool:
    try:
        check_text(value, "value", max_length)
    except InvalidRequest:
        return False
    return True


@dataclass(frozen=True, slots=True)
class CredentialCheck:
    """What a presented key or session cookie proves: its user, or (``user`` None) why it proves nobody.

    ``refusal`` is ``key_revoked``, ``user_disabled`` or ``session_revoked`` when the credential was once
    good (its holder is told why), None when it is simply unknown or expired.
    """

    user: User | None
    refusal: str | None = None
    api_key_id: int | None = None
    session_digest: str | None = None
    #: When a browser session expires (None for keys).
    expires_at: datetime | None = None


def _user(row: RowMapping) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        role=cast(Role, row["role"]),
        disabled=row["disabled"],
        created_at=row["created_at"],
    )


class AccountStore:
    """Every account operation voxgate needs, over one :class:`Database` (which it does not own)."""

    def __init__(self, db: Database, *, on_revocation: Callable[[], Awaitable[None]] | None = None) -> None:
        self._engine = db.engine
        self.audit_sampler = AuditSampler()
        # Called once a revocation has committed: credential caches (every replica's) forget.
        self._on_revocation = on_revocation
        self._audit = AuditBatcher(db.writer)

    async def _revoked(self) -> None:
        if self._on_revocation is not None:
            await self._on_revocation()

    # -- users -----------------------------------------------------------------------------------

    async def count_users(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())

    async def create_user(
        self, name: str, role: Role = "user", *, external_subject: str | None = None
    ) -> User:
        """Add a user; a taken, empty, over-long or unprintable name is an :class:`InvalidRequest`."""
        name = check_text(name.strip(), "name", MAX_NAME_LENGTH)
        if not name:
            raise InvalidRequest("A user needs a name.", param="name")
        if external_subject is not None:
            check_text(external_subject, "sub", 512)
        values: dict[str, Any] = {
            "name": name,
            "role": role,
            "disabled": False,
            "external_subject": external_subject,
            "created_at": _now(),
        }
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(insert(users).values(**values).returning(*users.c))
                return _user(result.mappings().one())
        except IntegrityError:
            raise InvalidRequest(f"A user named {name!r} already exists.", param="name") from None

    async def get_user(self, name: str) -> User:
        if not _fits(name, MAX_NAME_LENGTH):
            raise NotFound(f"No user named {name[:40]!r}.", param="name")
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.name == name))).mappings().first()
        if row is None:
            raise NotFound(f"No user named {name!r}.", param="name")
        return _user(row)

    async def user_by_id(self, user_id: int) -> User | None:
        """The user with id ``user_id``, or None."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
        return None if row is None else _user(row)

    async def list_users(self) -> list[User]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(users).order_by(users.c.id))).mappings().all()
        return [_user(row) for row in rows]

    async def set_disabled(self, name: str, disabled: bool = True) -> User:
        """Disable (or re-enable) a user; a disabled user's keys, sessions and relay tickets stop working at
        once (re-enabling revives the keys, not the sessions or tickets)."""
        if not _fits(name, MAX_NAME_LENGTH):
            raise NotFound(f"No user named {name[:40]!r}.", param="name")
        async with self._engine.begin() as conn:
            row = (
                (
                    await conn.execute(
                        update(users)
                        .where(users.c.name == name)
                        .values(disabled=disabled)
                        .returning(*users.c)
                    )
                )
                .mappings()
                .first()
            )
            if row is not None and disabled:
                # Kept, marked, until they would have expired: the browser is told why on its next request.
                await conn.execute(
                    update(web_sessions)
                    .where(web_sessions.c.user_id == row["id"], web_sessions.c.ended_reason.is_(None))
                    .values(ended_reason="user_disabled")
                )
                await conn.execute(sql_delete(relay_tickets).where(relay_tickets.c.user_id == row["id"]))
            elif row is not None:
                # Re-enabled: the sessions stay ended, with no reason left to give.
                await conn.execute(
                    sql_delete(web_sessions).where(
                        web_sessions.c.user_id == row["id"], web_sessions.c.ended_reason == "user_disabled"
                    )
                )
        if row is None:
            raise NotFound(f"No user named {name!r}.", param="name")
        await self._revoked()
        return _user(row)

    async def external_user(self, subject: str, name: str) -> User:
        """The user for an identity-provider subject, created on first sight. ``subject`` must fit (512
        characters, printable: the identity adapter checks it); ``name`` is made to fit."""
        check_text(subject, "sub", 512)
        name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cs")).strip()
        name = name[: MAX_NAME_LENGTH - 9] or "user"  # room for the "#xxxxxxxx" a taken name gets
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(users).where(users.c.external_subject == subject)))
                .mappings()
                .first()
            )
        if row is not None:
            return _user(row)
        try:
            return await self.create_user(name, "user", external_subject=subject)
        except InvalidRequest:
            # Lost a race with another request for the same subject, or the name is taken.
            async with self._engine.connect() as conn:
                row = (
                    (await conn.execute(select(users).where(users.c.external_subject == subject)))
                    .mappings()
                    .first()
                )
            if row is None:
                return await self.create_user(f"{name}#{subject[-8:]}", "user", external_subject=subject)
            return _user(row)

    # -- API keys --------------------------------------------------------------------------------

    async def create_api_key(self, user_name: str, key_name: str = "default") -> tuple[ApiKeyInfo, str]:
        """A new key for ``user_name``. Returns its listing and the key itself, which is never stored."""
        check_text(key_name, "key_name", MAX_NAME_LENGTH)
        user = await self.get_user(user_name)
        secret = credentials.issue(credentials.API_KEY_PREFIX)
        now = _now()
        async with self._engine.begin() as conn:
            key_id = (
                await conn.execute(
                    insert(api_keys)
                    .values(
                        user_id=user.id, name=key_name, hint=secret.hint, digest=secret.digest, created_at=now
                    )
                    .returning(api_keys.c.id)
                )
            ).scalar_one()
        info = ApiKeyInfo(key_id, user.name, key_name, secret.hint, now, None, None)
        return info, secret.value

    async def list_api_keys(self, user_name: str | None = None) -> list[ApiKeyInfo]:
        query = select(api_keys, users.c.name.label("user_name")).join(users).order_by(api_keys.c.id)
        if user_name is not None:
            query = query.where(users.c.name == user_name)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            ApiKeyInfo(
                r["id"],
                r["user_name"],
                r["name"],
                r["hint"],
                r["created_at"],
                r["last_used_at"],
                r["revoked_at"],
            )
            for r in rows
        ]

    async def revoke_api_key(self, key_id: int) -> None:
        """Revoke a key. The browser sessions signed in with it, and the relay tickets issued under it or
        under those sessions, stop working in the same transaction."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
            if result.rowcount == 0:
                raise NotFound(f"No active API key with id {key_id}.", param="key_id")
            sessions_of_key = select(web_sessions.c.digest).where(web_sessions.c.api_key_id == key_id)
            await conn.execute(
                sql_delete(relay_tickets).where(
                    or_(
                        relay_tickets.c.api_key_id == key_id,
                        relay_tickets.c.session_digest.in_(sessions_of_key),
                    )
                )
            )
            await conn.execute(
                update(web_sessions)
                .where(web_sessions.c.api_key_id == key_id, web_sessions.c.ended_reason.is_(None))
                .values(ended_reason="key_revoked")
            )
        await self._revoked()

    async def check_api_key(self, key: str) -> CredentialCheck:
        """What ``key`` proves; a live key's ``last_used_at`` is updated (at most once a minute)."""
        query = (
            select(users, api_keys.c.id.label("key_id"), api_keys.c.revoked_at, api_keys.c.last_used_at)
            .join(api_keys, api_keys.c.user_id == users.c.id)
            .where(api_keys.c.digest == credentials.digest(key))
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            if row is None:
                return CredentialCheck(None)
            if row["revoked_at"] is not None:
                return CredentialCheck(None, "key_revoked", api_key_id=row["key_id"])
            if row["disabled"]:
                return CredentialCheck(None, "user_disabled", api_key_id=row["key_id"])
            # A write on every request cost a few ms and contended for SQLite's one writer; "last
            # used" to the minute is what a listing needs.
            now = _now()
            last = row["last_used_at"]
            if last is None or now - last >= LAST_USED_RESOLUTION:
                await conn.execute(
                    update(api_keys).where(api_keys.c.id == row["key_id"]).values(last_used_at=now)
                )
                await conn.commit()
        return CredentialCheck(_user(row), api_key_id=row["key_id"])

    async def user_for_api_key(self, key: str) -> User | None:
        """The enabled user owning the live key ``key``, or None."""
        return (await self.check_api_key(key)).user

    # -- one-time sign-in links -------------------------------------------------------------------

    async def create_signin_link(self, user_name: str, ttl: timedelta) -> str:
        """A one-time sign-in token for ``user_name``, valid for ``ttl``."""
        user = await self.get_user(user_name)
        secret = credentials.issue(credentials.LINK_PREFIX)
        now = _now()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(signin_links).values(
                    user_id=user.id, digest=secret.digest, created_at=now, expires_at=now + ttl
                )
            )
        return secret.value

    async def consume_signin_link(self, token: str) -> User | None:
        """Use a sign-in token. Atomic: of any number of concurrent uses, exactly one succeeds."""
        now = _now()
        async with self._engine.begin() as conn:
            user_id = (
                await conn.execute(
                    update(signin_links)
                    .where(
                        signin_links.c.digest == credentials.digest(token),
                        signin_links.c.used_at.is_(None),
                        signin_links.c.expires_at > now,
                    )
                    .values(used_at=now)
                    .returning(signin_links.c.user_id)
                )
            ).scalar_one_or_none()
            if user_id is None:
                return None
            row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().one()
        return None if row["disabled"] else _user(row)

    # -- browser sessions -----------------------------------------------------------------------

    async def create_web_session(self, user_id: int, ttl: timedelta, *, api_key_id: int | None = None) -> str:
        """A new browser session, signed in with the key ``api_key_id`` (None: a sign-in link); returns
        the cookie value. Sessions past their expiry, ended or not, are deleted on the way."""
        secret = credentials.issue(credentials.SESSION_PREFIX)
        now = _now()
        async with self._engine.begin() as conn:
            await conn.execute(sql_delete(web_sessions).where(web_sessions.c.expires_at <= now))
            await conn.execute(
                insert(web_sessions).values(
                    user_id=user_id,
                    digest=secret.digest,
                    created_at=now,
                    expires_at=now + ttl,
                    api_key_id=api_key_id,
                )
            )
        return secret.value

    async def check_web_session(self, token: str) -> CredentialCheck:
        """What the session cookie ``token`` proves."""
        session_digest = credentials.digest(token)
        query = (
            select(users, web_sessions.c.ended_reason, web_sessions.c.api_key_id, web_sessions.c.expires_at)
            .join(web_sessions, web_sessions.c.user_id == users.c.id)
            .where(web_sessions.c.digest == session_digest, web_sessions.c.expires_at > _now())
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return CredentialCheck(None)
        if row["ended_reason"] is not None:
            return CredentialCheck(None, row["ended_reason"])
        if row["disabled"]:
            return CredentialCheck(None, "user_disabled")
        return CredentialCheck(
            _user(row),
            api_key_id=row["api_key_id"],
            session_digest=session_digest,
            expires_at=row["expires_at"],
        )

    async def user_for_web_session(self, token: str) -> User | None:
        """The user of the live session cookie ``token``, or None."""
        return (await self.check_web_session(token)).user

    async def end_web_session(self, token: str) -> None:
        """Sign out: the session and the relay tickets issued under it stop working. The session's row is
        kept, marked, until it would have expired, so that other tabs are told why on their next request."""
        session_digest = credentials.digest(token)
        async with self._engine.begin() as conn:
            await conn.execute(
                sql_delete(relay_tickets).where(relay_tickets.c.session_digest == session_digest)
            )
            await conn.execute(
                update(web_sessions)
                .where(web_sessions.c.digest == session_digest, web_sessions.c.ended_reason.is_(None))
                .values(ended_reason="session_revoked")
            )
        await self._revoked()

    # -- audit -----------------------------------------------------------------------------------
    # A mint or relay is recorded *before* its upstream call (outcome "pending", status 0) and completed
    # after it, so that a crash in between leaves a row for every secret the upstream may have minted.

    async def record_mint(self, record: MintRecord) -> int | None:
        """Write one audit row; returns its id, or None when an anonymous failure was sampled away
        (see :mod:`voxgate.core.audit_sampling`: the row kept next reports how many were dropped)."""
        outcome = record.outcome[:64]
        if record.user_id is None and record.status >= 400:
            admitted, dropped = self.audit_sampler.admit((record.client_ip[:64], outcome))
            if not admitted:
                return None
            if dropped:
                log.info(
                    "%d more anonymous %r failures from %s were not audited",
                    dropped,
                    outcome,
                    record.client_ip[:64],
                )
        # Committed before this returns, in one transaction with the rows of concurrent requests.
        return await self._audit.insert(
            {
                "created_at": record.created_at or _now(),
                "user_id": record.user_id,
                "client_ip": record.client_ip[:64],
                "outcome": outcome,
                "status": record.status,
                "ttl": record.ttl,
                "model": record.model,
            }
        )

    async def complete_mint(self, audit_id: int, outcome: str, status: int) -> None:
        """Record the outcome of an attempt recorded as pending (committed, with the next audit batch,
        before this returns)."""
        await self._audit.complete(audit_id, outcome, status)

    def complete_mint_later(self, audit_id: int, outcome: str, status: int) -> None:
        """Record a pending attempt's outcome with the next audit batch, without waiting for it (a kill
        before then leaves the row pending, which is what it records)."""
        self._audit.complete(audit_id, outcome, status, soon=False)

    async def flush_audit(self) -> None:
        """Write every queued audit completion (at shutdown)."""
        await self._audit.flush()

    async def admin_signed_in(self) -> bool:
        """Whether any administrator has ever signed in (used a sign-in link) or used an API key."""
        admins = select(users.c.id).where(users.c.role == "admin")
        used_link = select(signin_links.c.id).where(
            signin_links.c.user_id.in_(admins), signin_links.c.used_at.is_not(None)
        )
        used_key = select(api_keys.c.id).where(
            api_keys.c.user_id.in_(admins), api_keys.c.last_used_at.is_not(None)
        )
        async with self._engine.connect() as conn:
            for query in (used_link, used_key):
                if (await conn.execute(query.limit(1))).first() is not None:
                    return True
        return False

    async def list_mints(self, limit: int = 100) -> Sequence[MintRecord]:
        """The latest audit rows, newest first, this process's queued completions included."""
        await self._audit.flush()
        query = select(mint_audit).order_by(mint_audit.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            MintRecord(
                r["user_id"], r["client_ip"], r["outcome"], r["status"], r["ttl"], r["model"], r["created_at"]
            )
            for r in rows
        ]

    # -- browser reports -------------------------------------------------------------------------

    async def record_client_report(self, report: ClientReport) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(client_reports).values(
                    created_at=report.created_at or _now(),
                    user_id=report.user_id,
                    event=report.event,
                    outcome=report.outcome,
                    error_code=report.error_code,
                    call_id=report.call_id,
                    attempt=report.attempt,
                    steps=report.steps,
                )
            )

    async def list_client_reports(self, limit: int = 100) -> Sequence[ClientReport]:
        query = select(client_reports).order_by(client_reports.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            ClientReport(
                r["user_id"],
                r["event"],
                r["outcome"],
                r["error_code"],
                r["call_id"],
                r["attempt"],
                r["steps"],
                r["created_at"],
            )
            for r in rows
        ]
