"""Plain records for users, keys and audit entries, as the rest of voxgate sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["ApiKeyInfo", "ClientReport", "MintRecord", "Role", "User"]

Role = Literal["admin", "user"]


@dataclass(frozen=True, slots=True)
class User:
    """A person or program allowed to use voxgate."""

    id: int
    name: str
    role: Role
    disabled: bool
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A key as listed: never the key itself, only its hint."""

    id: int
    user_name: str
    name: str
    hint: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class MintRecord:
    """One attempt to mint a client secret, whatever its outcome."""

    user_id: int | None
    client_ip: str
    outcome: str  # "ok", or the error code
    status: int
    ttl: int | None
    model: str | None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ClientReport:
    """What a browser console reports about one connect attempt (or the end of a call)."""

    user_id: int
    event: str  # "connect", "reconnect", "renew", "end"
    outcome: str  # "ok", or what failed
    error_code: str | None
    call_id: str | None
    attempt: int
    steps: dict[str, float]
    created_at: datetime | None = None
