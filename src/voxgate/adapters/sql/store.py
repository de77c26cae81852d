"""Accounts in SQL: users, API keys, one-time sign-in links, browser sessions, and the mint audit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import RowMapping, func, insert, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError

from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.tables import (
    api_keys,
    client_reports,
    mint_audit,
    signin_links,
    users,
    web_sessions,
)
from voxgate.core import credentials
from voxgate.core.accounts import ApiKeyInfo, ClientReport, MintRecord, Role, User
from voxgate.errors import InvalidRequest, NotFound

__all__ = ["AccountStore"]


def _now() -> datetime:
    return datetime.now(UTC)


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

    def __init__(self, db: Database) -> None:
        self._engine = db.engine

    # -- users -----------------------------------------------------------------------------------

    async def count_users(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())

    async def create_user(
        self, name: str, role: Role = "user", *, external_subject: str | None = None
    ) -> User:
        """Add a user; a taken name is an :class:`InvalidRequest`."""
        name = name.strip()
        if not name:
            raise InvalidRequest("A user needs a name.", param="name")
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
        """Disable (or re-enable) a user; a disabled user's keys and sessions stop working at once."""
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
                await conn.execute(sql_delete(web_sessions).where(web_sessions.c.user_id == row["id"]))
        if row is None:
            raise NotFound(f"No user named {name!r}.", param="name")
        return _user(row)

    async def external_user(self, subject: str, name: str) -> User:
        """The user for an identity-provider subject, created on first sight."""
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
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
        if result.rowcount == 0:
            raise NotFound(f"No active API key with id {key_id}.", param="key_id")

    async def user_for_api_key(self, key: str) -> User | None:
        """The enabled user owning the live key ``key``, or None."""
        query = (
            select(users, api_keys.c.id.label("key_id"))
            .join(api_keys, api_keys.c.user_id == users.c.id)
            .where(api_keys.c.digest == credentials.digest(key), api_keys.c.revoked_at.is_(None))
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(query)).mappings().first()
            if row is None or row["disabled"]:
                return None
            await conn.execute(
                update(api_keys).where(api_keys.c.id == row["key_id"]).values(last_used_at=_now())
            )
        return _user(row)

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

    async def create_web_session(self, user_id: int, ttl: timedelta) -> str:
        """A new browser session; returns the cookie value."""
        secret = credentials.issue(credentials.SESSION_PREFIX)
        now = _now()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(web_sessions).values(
                    user_id=user_id, digest=secret.digest, created_at=now, expires_at=now + ttl
                )
            )
        return secret.value

    async def user_for_web_session(self, token: str) -> User | None:
        query = (
            select(users)
            .join(web_sessions, web_sessions.c.user_id == users.c.id)
            .where(web_sessions.c.digest == credentials.digest(token), web_sessions.c.expires_at > _now())
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None or row["disabled"] else _user(row)

    async def end_web_session(self, token: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                sql_delete(web_sessions).where(web_sessions.c.digest == credentials.digest(token))
            )

    # -- audit -----------------------------------------------------------------------------------

    async def record_mint(self, record: MintRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(mint_audit).values(
                    created_at=record.created_at or _now(),
                    user_id=record.user_id,
                    client_ip=record.client_ip[:64],
                    outcome=record.outcome[:64],
                    status=record.status,
                    ttl=record.ttl,
                    model=record.model,
                )
            )

    async def list_mints(self, limit: int = 100) -> Sequence[MintRecord]:
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
