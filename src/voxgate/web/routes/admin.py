"""The admin API for people and money: users (add, disable/enable, role, sign-in link), API keys (create,
shown once; revoke), and budgets per user with what is left. Admins only: anyone else signed in gets 403.

The admin console (``/admin``) is a page of ES modules over this API and ``admin_calls``; every action
here is also a ``voxgate`` CLI command.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from voxgate.adapters.sql.admin import AdminStore
from voxgate.core.accounts import User
from voxgate.errors import PermissionDenied
from voxgate.web.auth import authenticate, services_of
from voxgate.web.budget_services import BudgetServices
from voxgate.web.pages import STATIC_DIR
from voxgate.web.routes.token import public_url
from voxgate.web.services import Services

router = APIRouter(prefix="/api/admin", tags=["admin"])
pages = APIRouter(include_in_schema=False)

UserName = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Amount = Annotated[Decimal | None, Field(ge=0, max_digits=20, decimal_places=10)]


async def admin_services(request: Request) -> tuple[Services, User]:
    """The services, for an admin; 401 for no credential, 403 for anyone else."""
    user = (await authenticate(request)).user
    if not user.is_admin:
        raise PermissionDenied("Only admins may do this.", code="admin_required")
    return services_of(request), user


def budget_of(services: Services) -> BudgetServices:
    """The budget services (always built by the app's lifespan)."""
    assert services.budget is not None
    return services.budget


def _user_out(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat().replace("+00:00", "Z"),
    }


async def budget_out(services: Services, user: User) -> dict[str, Any]:
    """A user's limits (defaults with their overrides), which are their own, and what is left of each."""
    budget = budget_of(services)
    limits = await budget.admission.limits(user.id)
    overrides = await budget.budgets.overrides(user.id)
    standing = await budget.admission.standing(user.id)
    return {
        "user": user.name,
        "limits": limits.to_dict(),
        "overridden": sorted(overrides),
        "global_usd_per_day": _text(budget.admission.config.global_usd_per_day),
        "standing": [{**s.to_dict(), "words": s.words} for s in standing],
    }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# -- users -------------------------------------------------------------------------------------------


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    admin: bool = False


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["admin", "user"]


@router.get("/users")
async def list_users(request: Request) -> dict[str, Any]:
    """Every user, with their budgets and what is left."""
    services, _ = await admin_services(request)
    users = await services.accounts.list_users()
    return {"data": [{**_user_out(u), "budget": await budget_out(services, u)} for u in users]}


@router.post("/users", status_code=201)
async def add_user(body: NewUser, request: Request) -> dict[str, Any]:
    """Add a user (or an admin)."""
    services, _ = await admin_services(request)
    return _user_out(await services.accounts.create_user(body.name, "admin" if body.admin else "user"))


@router.post("/users/{name}/disable")
async def disable_user(name: UserName, request: Request) -> dict[str, Any]:
    """Disable a user: keys, sessions and tickets stop at once, live calls end within 2 s."""
    services, _ = await admin_services(request)
    return _user_out(await services.accounts.set_disabled(name, True))


@router.post("/users/{name}/enable")
async def enable_user(name: UserName, request: Request) -> dict[str, Any]:
    """Enable a disabled user again."""
    services, _ = await admin_services(request)
    return _user_out(await services.accounts.set_disabled(name, False))


@router.post("/users/{name}/role")
async def set_role(name: UserName, body: RoleChange, request: Request) -> dict[str, Any]:
    """Make a user an admin, or a plain user."""
    services, _ = await admin_services(request)
    await AdminStore(services.db).set_role(name, body.role)
    if services.credential_cache is not None:
        await services.credential_cache.revoked()  # a cached credential must not keep the old role
    return _user_out(await services.accounts.get_user(name))


@router.post("/users/{name}/signin-link")
async def signin_link(name: UserName, request: Request) -> dict[str, Any]:
    """A new one-time sign-in link for the user (shown once)."""
    services, _ = await admin_services(request)
    ttl = timedelta(minutes=services.settings.signin_link_minutes)
    token = await services.accounts.create_signin_link(name, ttl)
    return {"url": public_url(services, f"/signin#link={token}"), "expires_in": int(ttl.total_seconds())}


# -- keys --------------------------------------------------------------------------------------------


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(min_length=1, max_length=200)
    name: str = Field(default="default", min_length=1, max_length=200)


@router.get("/keys")
async def list_keys(request: Request, user: str | None = None) -> dict[str, Any]:
    """API keys (their hints, never the keys)."""
    services, _ = await admin_services(request)
    keys = await services.accounts.list_api_keys(user)
    return {
        "data": [
            {
                "id": k.id,
                "user": k.user_name,
                "name": k.name,
                "hint": k.hint,
                "created_at": k.created_at.isoformat().replace("+00:00", "Z"),
                "last_used_at": k.last_used_at.isoformat().replace("+00:00", "Z") if k.last_used_at else None,
                "revoked": k.revoked_at is not None,
            }
            for k in keys
        ]
    }


@router.post("/keys", status_code=201)
async def create_key(body: NewKey, request: Request) -> dict[str, Any]:
    """Create a key: the key is in this answer only, never stored or shown again."""
    services, _ = await admin_services(request)
    info, key = await services.accounts.create_api_key(body.user, body.name)
    return {"id": info.id, "user": info.user_name, "name": info.name, "key": key}


@router.post("/keys/{key_id}/revoke", status_code=204)
async def revoke_key(key_id: int, request: Request) -> Response:
    """Revoke a key: its sessions and tickets stop at once, calls made with it end within 2 s."""
    services, _ = await admin_services(request)
    await services.accounts.revoke_api_key(key_id)
    return Response(status_code=204)


# -- budgets -----------------------------------------------------------------------------------------


class BudgetChange(BaseModel):
    """Fields present are set (null lifts that limit for the user); fields absent stay as they are."""

    model_config = ConfigDict(extra="forbid")
    usd_per_day: Amount = None
    usd_per_month: Amount = None
    minutes_per_day: Amount = None


@router.get("/budgets/{name}")
async def get_budget(name: UserName, request: Request) -> dict[str, Any]:
    """A user's limits and what is left of each."""
    services, _ = await admin_services(request)
    return await budget_out(services, await services.accounts.get_user(name))


@router.put("/budgets/{name}")
async def set_budget(name: UserName, body: BudgetChange, request: Request) -> dict[str, Any]:
    """Override a user's limits."""
    services, _ = await admin_services(request)
    user = await services.accounts.get_user(name)
    await budget_of(services).budgets.set_overrides(user.id, body.model_dump(exclude_unset=True))
    return await budget_out(services, user)


@router.delete("/budgets/{name}")
async def reset_budget(name: UserName, request: Request) -> dict[str, Any]:
    """Back to the defaults."""
    services, _ = await admin_services(request)
    user = await services.accounts.get_user(name)
    await budget_of(services).budgets.clear_overrides(user.id)
    return await budget_out(services, user)


# -- the page ----------------------------------------------------------------------------------------


#: The console's sections, each at /admin/<section> (the dashboard has a page of its own).
SECTIONS = ("users", "keys", "budgets", "calls", "audit")


@pages.get("/admin")
async def admin_page() -> FileResponse:
    """The admin console (it checks who is signed in itself; the API refuses non-admins)."""
    return FileResponse(STATIC_DIR / "admin" / "index.html", headers={"Cache-Control": "no-cache"})


for _section in SECTIONS:
    pages.add_api_route(f"/admin/{_section}", admin_page, methods=["GET"])
