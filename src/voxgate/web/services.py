"""Builds every service from Settings, and closes them in reverse order."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date, timedelta

from limits import RateLimitItem

from voxgate.adapters.authcache import CredentialCache, open_epoch
from voxgate.adapters.identity import JwtVerifier
from voxgate.adapters.leases import open_leases
from voxgate.adapters.ratelimit import RateLimiter, parse_limits
from voxgate.adapters.sql import AccountStore, Database, LedgerStore, TicketStore
from voxgate.adapters.sql.database import sqlite_path
from voxgate.adapters.sql.store import CredentialCheck
from voxgate.adapters.upstream import OpenAIUpstream, UnconfiguredUpstream, Upstream
from voxgate.adapters.upstream.live import LiveUpstream, OpenAILiveUpstream
from voxgate.control.live_policy import LivePolicy
from voxgate.control.live_watcher import LiveWatcher
from voxgate.control.retention import Retention
from voxgate.control.supervisor import Supervisor, SupervisorConfig
from voxgate.core.model_lifecycle import shutdown_warnings
from voxgate.core.policy import SessionPolicy
from voxgate.core.prices import PriceTable, default_prices
from voxgate.settings import OPENAI_API_URL, Settings
from voxgate.web.budget_services import BudgetServices, open_budget_services
from voxgate.web.local_engine import EMBEDDED_PREFIX

__all__ = [
    "Services",
    "build_upstream",
    "calls_url",
    "embedded_engine_url",
    "open_services",
    "policy_from_settings",
    "prices_from_settings",
]

log = logging.getLogger("voxgate")

NO_UPSTREAM = (
    "No realtime upstream is configured: set OPENAI_API_KEY to use OpenAI, or VOXGATE_UPSTREAM_URL "
    "(with OPENAI_API_KEY holding that server's key) to use another server that speaks the GA Realtime API."
)


def policy_from_settings(settings: Settings) -> SessionPolicy:
    """The core's plain policy object from the settings' validated one."""
    return SessionPolicy(**settings.policy.model_dump())


def prices_from_settings(settings: Settings) -> PriceTable:
    """The shipped price table with the configured overrides."""
    return default_prices().with_overrides(settings.prices) if settings.prices else default_prices()


def embedded_engine_url(settings: Settings) -> str:
    """The gateway's own address for its embedded engine (always over loopback)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}{EMBEDDED_PREFIX}/v1"


def calls_url(settings: Settings) -> str | None:
    """Where browsers POST their SDP (relative to this site for the embedded engine), if anywhere."""
    if settings.calls_url:
        return settings.calls_url
    if settings.uses_embedded_engine:
        return f"{EMBEDDED_PREFIX}/v1/realtime/calls"
    url = settings.effective_upstream_url
    return f"{url}/realtime/calls" if url else None


def build_upstream(settings: Settings, engine_key: str | None = None) -> Upstream:
    """OpenAI when a key is set, the configured URL when one is set, the embedded engine when given its
    key, otherwise a stand-in that explains what to configure."""
    if settings.uses_embedded_engine and engine_key:
        return OpenAIUpstream(
            base_url=embedded_engine_url(settings),
            api_key=engine_key,
            timeout=settings.upstream_timeout,
            calls_url=calls_url(settings),
        )
    url = settings.effective_upstream_url
    if url is None:
        return UnconfiguredUpstream(NO_UPSTREAM)
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if key is None and url == OPENAI_API_URL:
        log.error("OPENAI_API_KEY is not set: minting will answer 503 until it is.")
    return OpenAIUpstream(
        base_url=url, api_key=key, timeout=settings.upstream_timeout, calls_url=calls_url(settings)
    )


@dataclass
class Services:
    """Everything the routes use. Built once per app in the lifespan."""

    settings: Settings
    db: Database
    accounts: AccountStore
    limiter: RateLimiter
    upstream: Upstream
    policy: SessionPolicy
    mint_limits: list[RateLimitItem]
    auth_failure_limits: list[RateLimitItem]
    report_limits: list[RateLimitItem]
    call_limits: list[RateLimitItem]
    ledger: LedgerStore
    tickets: TicketStore
    supervisor: Supervisor
    prices: PriceTable
    jwt: JwtVerifier | None = None
    # GPT-Live through the relay (None: no upstream that could speak it is configured).
    live_policy: LivePolicy | None = None
    live_upstream: LiveUpstream | None = None
    #: Admission, budgets, the guard on live calls and their notices (see budget_services).
    budget: BudgetServices | None = None
    #: Proven keys and sessions, forgotten on every replica at each revocation (see authcache).
    credential_cache: CredentialCache[CredentialCheck] | None = None

    @property
    def simulated_cost(self) -> bool:
        """True when calls run on the embedded local engine: their cost is what OpenAI would charge."""
        return self.settings.uses_embedded_engine

    @property
    def cookie_ttl(self) -> timedelta:
        return timedelta(hours=self.settings.session_cookie_hours)


async def open_services(settings: Settings, stack: AsyncExitStack, engine_key: str | None = None) -> Services:
    """Open every resource, registering each close on ``stack`` (closed in reverse order)."""
    db = Database(settings.effective_database_url)
    stack.push_async_callback(db.aclose)
    await db.migrate()
    limiter = RateLimiter(settings.redis_url, key_prefix=settings.redis_prefix)
    stack.push_async_callback(limiter.aclose)
    epoch = open_epoch(settings.redis_url, settings.redis_prefix, sqlite_path(db.url))
    credential_cache: CredentialCache[CredentialCheck] = CredentialCache(epoch)
    stack.push_async_callback(credential_cache.aclose)  # closes the epoch the budget cache shares
    upstream = build_upstream(settings, engine_key)
    stack.push_async_callback(upstream.aclose)
    if isinstance(upstream, UnconfiguredUpstream):
        log.error(NO_UPSTREAM)
    policy = policy_from_settings(settings)
    transcription = settings.policy.transcription_model
    for warning in shutdown_warnings([policy.model], [transcription] if transcription else [], date.today()):
        log.warning("%s", warning)
    prices = prices_from_settings(settings)
    ledger = LedgerStore(db)
    leases = open_leases(settings.redis_url, db, settings.redis_prefix)
    stack.push_async_callback(leases.aclose)
    # GPT-Live rides on the same client as Realtime (OpenAI, another server, or the embedded engine).
    live_upstream = OpenAILiveUpstream(upstream) if isinstance(upstream, OpenAIUpstream) else None
    supervisor = Supervisor(
        watchers={"live": LiveWatcher(live_upstream, prices)} if live_upstream else None,
        ledger=ledger,
        leases=leases,
        upstream=upstream,
        prices=prices,
        config=SupervisorConfig(
            attach_timeout_s=settings.supervisor.attach_timeout_s,
            lease_ttl_s=settings.supervisor.lease_ttl_s,
            heartbeat_s=settings.supervisor.heartbeat_s,
            scan_interval_s=settings.supervisor.scan_interval_s,
            transcription_model=transcription,
        ),
    )
    budget = await open_budget_services(
        settings, stack, db=db, ledger=ledger, prices=prices, supervisor=supervisor, epoch=epoch
    )
    # Closed before the upstream and the leases it uses (the stack unwinds in reverse).
    stack.push_async_callback(supervisor.aclose)
    await supervisor.start()
    tickets = TicketStore(db)
    retention = Retention(
        ledger,
        keep=timedelta(days=settings.history.retention_days),
        interval_s=settings.history.prune_interval_s,
        purge_tickets=tickets.purge_expired,
    )
    stack.push_async_callback(retention.aclose)
    retention.start()
    accounts = AccountStore(db, on_revocation=credential_cache.revoked)
    stack.push_async_callback(accounts.flush_audit)  # before the database closes
    return Services(
        settings=settings,
        db=db,
        accounts=accounts,
        limiter=limiter,
        upstream=upstream,
        policy=policy,
        mint_limits=parse_limits(settings.limits.mint_per_user),
        auth_failure_limits=parse_limits(settings.limits.auth_failures_per_ip),
        report_limits=parse_limits(settings.limits.client_reports_per_user),
        call_limits=parse_limits(settings.limits.calls_per_user),
        ledger=ledger,
        tickets=tickets,
        supervisor=supervisor,
        prices=prices,
        jwt=_jwt_verifier(settings),
        live_policy=LivePolicy(**settings.live.model_dump()),
        live_upstream=live_upstream,
        budget=budget,
        credential_cache=credential_cache,
    )


def _jwt_verifier(settings: Settings) -> JwtVerifier | None:
    if not (settings.jwt_issuer and settings.jwt_jwks_url):
        return None
    return JwtVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        jwks_url=settings.jwt_jwks_url,
        algorithms=settings.jwt_algorithms,
    )
