"""The ``voxgate`` command: serve, and manage users and keys. Settings are built here, once."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import click

from voxgate.adapters.authcache import open_epoch
from voxgate.adapters.sql import AccountStore, Database, LedgerStore
from voxgate.adapters.sql.database import MissingDatabase, sqlite_path
from voxgate.cli_admin import register as register_admin_commands
from voxgate.core import export
from voxgate.core.ledger import CALL_ID_PREFIX, CallDetail, CallSummary
from voxgate.core.prices import format_usd
from voxgate.core.probe import ProbeResult, ProbeRunner, ProbeTarget
from voxgate.errors import NotFound, VoxgateError
from voxgate.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from voxgate.client import RealtimeClient

__all__ = ["main"]

T = TypeVar("T")
BOOTSTRAP_ADMIN = "admin"
WS_MAX_SIZE = 32 * 1024 * 1024


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError lists every bad variable
        raise click.ClickException(f"invalid configuration: {exc}") from None


def _missing_database(settings: Settings) -> click.ClickException:
    where = "VOXGATE_DATABASE_URL" if settings.database_url else settings.effective_database_url
    return click.ClickException(
        f"no voxgate database at {where}: this command does not create one. Run it from the folder "
        "`voxgate serve` runs in (its .env and data/ folder), or set VOXGATE_DATA_DIR (or "
        "VOXGATE_DATABASE_URL) to what the server uses. `voxgate serve` or `voxgate migrate` creates it."
    )


async def _open_database(settings: Settings, *, create: bool) -> Database:
    """The configured database, migrated. Only ``create=True`` (serve, migrate) may start a new one: any
    other command run from the wrong folder would otherwise quietly make an empty database there."""
    db = Database(settings.effective_database_url, create=create)
    try:
        if not create and await db.is_empty():
            raise MissingDatabase("empty database")
        await db.migrate()
    except BaseException:
        await db.aclose()
        raise
    return db


def _run_with_store(
    settings: Settings, work: Callable[[AccountStore], Awaitable[T]], *, create: bool = False
) -> T:
    async def runner() -> T:
        db = await _open_database(settings, create=create)
        # A revocation here must reach the running servers' credential caches at once.
        epoch = open_epoch(settings.redis_url, settings.redis_prefix, sqlite_path(db.url))
        try:
            return await work(AccountStore(db, on_revocation=epoch.bump if epoch else None))
        finally:
            if epoch is not None:
                await epoch.aclose()
            await db.aclose()

    try:
        return asyncio.run(runner())
    except MissingDatabase:
        raise _missing_database(settings) from None
    except VoxgateError as exc:
        raise click.ClickException(exc.message) from None


def public_base_url(settings: Settings, host: str, port: int) -> str:
    """The address people reach this server at, for printed links."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - comparing, not binding
    return f"http://{shown}:{port}"


async def bootstrap(accounts: AccountStore, settings: Settings, base_url: str) -> str | None:
    """On an empty database: create the admin user and return a one-time sign-in URL for it."""
    if await accounts.count_users() > 0:
        return None
    await accounts.create_user(BOOTSTRAP_ADMIN, "admin")
    token = await accounts.create_signin_link(
        BOOTSTRAP_ADMIN, timedelta(minutes=settings.signin_link_minutes)
    )
    return f"{base_url}/signin#link={token}"


@click.group()
@click.version_option(package_name="voxgate")
def main() -> None:
    """voxgate: a safe gateway for OpenAI Realtime voice assistants."""


@main.command()
@click.option("--host", default=None, help="Address to bind (default: VOXGATE_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: VOXGATE_PORT or 8000).")
@click.option(
    "--workers",
    default=None,
    type=int,
    help="Worker processes (default: one per core, at most 8, with Redis and an upstream; otherwise 1).",
)
@click.option(
    "--print-link-to",
    "link_file",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the first start's one-time sign-in link to this file (mode 600) instead of stdout, "
    "which log collectors keep.",
)
def serve(host: str | None, port: int | None, workers: int | None, link_file: str | None) -> None:
    """Serve the gateway and the console."""
    import uvicorn

    from voxgate.web.app import create_app
    from voxgate.web.log_format import configure_logging
    from voxgate.web.metrics_dir import prepare_multiprocess_metrics
    from voxgate.web.redaction import install_redactor
    from voxgate.web.server import default_workers, server_options

    settings = _settings()
    host = host or settings.host
    port = port if port is not None else settings.port
    settings = settings.model_copy(update={"host": host, "port": port})
    workers = workers if workers is not None else default_workers(settings)
    if settings.uses_embedded_engine and workers > 1:
        # Calls live in the engine's memory: a hangup must reach the process that holds the call.
        click.echo("voxgate: the embedded engine runs in one process; serving with 1 worker", err=True)
        click.echo(
            "  (set OPENAI_API_KEY, or run `voxgate engine` and VOXGATE_UPSTREAM_URL, to use more)", err=True
        )
        workers = 1
    configure_logging(settings.log_level, settings.log_format)
    if settings.openai_api_key is not None:
        install_redactor([settings.openai_api_key.get_secret_value()])
    if workers > 1:
        prepare_multiprocess_metrics(settings.data_dir)
    base_url = public_base_url(settings, host, port)

    async def first_start(accounts: AccountStore) -> tuple[str | None, bool]:
        return await bootstrap(accounts, settings, base_url), await accounts.admin_signed_in()

    link, signed_in = _run_with_store(settings, first_start, create=True)
    if link:
        click.echo(f"voxgate: created the admin user '{BOOTSTRAP_ADMIN}'.")
        if link_file:
            _write_private(link_file, link + "\n")
            click.echo(f"  Its one-time sign-in link is in {link_file} (it works once).")
        else:
            click.echo("  Sign in once (the link works one time):")
            click.echo(f"  {link}")
    elif not signed_in:
        click.echo(
            "voxgate: no administrator has signed in yet. Get a new one-time sign-in link with "
            f"`voxgate users link {BOOTSTRAP_ADMIN}` (run where this server runs).",
            err=True,
        )
    upstream = (
        "the embedded local engine" if settings.uses_embedded_engine else settings.effective_upstream_url
    )
    click.echo(f"voxgate: serving on {base_url} (upstream: {upstream or 'none configured'})", err=True)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        # The embedded engine's WebSocket takes appends of up to 15 MiB of audio (~20 MiB as base64).
        "ws_max_size": WS_MAX_SIZE,
        # Header read time, keep-alive and header size are bounded (request bodies: BodyLimits).
        **server_options(),
        # voxgate reads X-Forwarded-For itself, from VOXGATE_FORWARDED_ALLOW_IPS only; uvicorn would
        # otherwise rewrite the client address for any proxy on 127.0.0.1 first.
        "proxy_headers": False,
        # voxgate logs one line per request itself, with its request id (voxgate.web.request_log).
        "access_log": False,
    }
    if settings.log_format != "text":
        options["log_config"] = None  # uvicorn's own lines go through voxgate's structured handler
    if workers > 1:
        uvicorn.run("voxgate.cli:create_app_from_env", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings, freeze_heap=True, probe=_probe_runner(settings)), **options)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8100, show_default=True, type=int, help="Port.")
def engine(host: str, port: int) -> None:
    """Serve the local realtime engine alone, on OpenAI's paths (/v1/realtime/...)."""
    import secrets

    import uvicorn

    from voxgate.engine.server.http import create_engine_app
    from voxgate.engine.speech.tts import create_synthesizer
    from voxgate.web.local_engine import build_responder, build_voice, engine_config

    settings = _settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    extra_keys: list[str] = []
    if not settings.engine.api_keys:
        extra_keys.append("sk-local-" + secrets.token_urlsafe(24))
        click.echo("voxgate engine: VOXGATE_ENGINE__API_KEYS is not set; this run accepts the key:")
        click.echo(f"  {extra_keys[0]}")
    app = create_engine_app(
        engine_config(settings, extra_keys),
        responder=build_responder(settings),
        synthesizer=create_synthesizer(settings.engine.tts),
        observer_factory=build_voice(settings),
    )
    click.echo(f"voxgate engine: serving http://{host}:{port}/v1", err=True)
    gc.collect()  # the models stay for the process's life: no full collection needs to walk them
    gc.freeze()  # (see create_app's freeze_heap)
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), ws_max_size=WS_MAX_SIZE)


def _write_private(path: str, text: str) -> None:
    """Write ``text`` to a new file only its owner can read."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


@main.command()
def migrate() -> None:
    """Bring the database schema up to date, creating it if needed (serve does this by itself)."""
    _run_with_store(_settings(), lambda accounts: accounts.count_users(), create=True)
    click.echo("database is up to date")


@main.group()
def users() -> None:
    """Add, list and disable users."""


@users.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--link", is_flag=True, help="Also print a one-time sign-in link.")
def users_add(name: str, admin: bool, link: bool) -> None:
    """Add a user."""
    settings = _settings()

    async def work(accounts: AccountStore) -> str | None:
        await accounts.create_user(name, "admin" if admin else "user")
        if link:
            return await accounts.create_signin_link(name, timedelta(minutes=settings.signin_link_minutes))
        return None

    token = _run_with_store(settings, work)
    click.echo(f"added user {name}")
    if token:
        click.echo(f"{public_base_url(settings, settings.host, settings.port)}/signin#link={token}")
        _public_url_hint(settings)


def _public_url_hint(settings: Settings) -> None:
    if not settings.public_url:
        click.echo(
            "(the link assumes VOXGATE_HOST/VOXGATE_PORT; set VOXGATE_PUBLIC_URL to the address people "
            "reach the server at)",
            err=True,
        )


@users.command("list")
def users_list() -> None:
    """List users."""
    for user in _run_with_store(_settings(), lambda accounts: accounts.list_users()):
        state = "disabled" if user.disabled else "active"
        click.echo(f"{user.id}\t{user.name}\t{user.role}\t{state}\t{user.created_at:%Y-%m-%d %H:%M}")


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable a user: their keys and sessions stop working at once."""
    _run_with_store(_settings(), lambda accounts: accounts.set_disabled(name, True))
    click.echo(f"disabled user {name}")


@users.command("enable")
@click.argument("name")
def users_enable(name: str) -> None:
    """Enable a disabled user again."""
    _run_with_store(_settings(), lambda accounts: accounts.set_disabled(name, False))
    click.echo(f"enabled user {name}")


@users.command("link")
@click.argument("name")
def users_link(name: str) -> None:
    """Print a new one-time sign-in link for a user."""
    settings = _settings()
    ttl = timedelta(minutes=settings.signin_link_minutes)
    token = _run_with_store(settings, lambda accounts: accounts.create_signin_link(name, ttl))
    click.echo(f"{public_base_url(settings, settings.host, settings.port)}/signin#link={token}")
    _public_url_hint(settings)


@main.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.argument("user")
@click.option("--name", "key_name", default="default", show_default=True, help="A label for the key.")
def keys_create(user: str, key_name: str) -> None:
    """Create an API key for USER. The key is shown this once and never stored."""
    info, key = _run_with_store(_settings(), lambda accounts: accounts.create_api_key(user, key_name))
    click.echo(key)
    click.echo(f"key id {info.id} for {info.user_name}: store it now, it will not be shown again", err=True)


@keys.command("list")
@click.option("--user", default=None, help="Only this user's keys.")
def keys_list(user: str | None) -> None:
    """List API keys (their hints, never the keys)."""
    for key in _run_with_store(_settings(), lambda accounts: accounts.list_api_keys(user)):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(f"{key.id}\t{key.user_name}\t{key.name}\t{key.hint}…\t{state}\tlast used {used}")


@keys.command("revoke")
@click.argument("key_id", type=int)
def keys_revoke(key_id: int) -> None:
    """Revoke an API key by id."""
    _run_with_store(_settings(), lambda accounts: accounts.revoke_api_key(key_id))
    click.echo(f"revoked key {key_id}")


# ---- call history ------------------------------------------------------------------------------


def _run_with_ledger(settings: Settings, work: Callable[[AccountStore, LedgerStore], Awaitable[T]]) -> T:
    async def runner() -> T:
        db = await _open_database(settings, create=False)
        try:
            return await work(AccountStore(db), LedgerStore(db))
        finally:
            await db.aclose()

    try:
        return asyncio.run(runner())
    except MissingDatabase:
        raise _missing_database(settings) from None
    except VoxgateError as exc:
        raise click.ClickException(exc.message) from None


async def _find_call(ledger: LedgerStore, call_id: str) -> CallDetail:
    """A call's detail by voxgate id (vgc_…) or upstream id (rtc_…)."""
    record = await (
        ledger.get_call(call_id)
        if call_id.startswith(CALL_ID_PREFIX)
        else ledger.get_call_by_upstream(call_id)
    )
    detail = await ledger.call_detail(record.id) if record is not None else None
    if detail is None:
        raise NotFound(f"No call '{call_id}'.", code="call_not_found")
    return detail


@main.group()
def history() -> None:
    """List, show, export and prune recorded calls."""


@history.command("list")
@click.option("--user", "user_name", default=None, help="Only this user's calls (default: everyone's).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000), help="How many.")
def history_list(user_name: str | None, limit: int) -> None:
    """List calls, newest first: id, start, duration, user, model, cost, first words."""

    async def work(accounts: AccountStore, ledger: LedgerStore) -> Sequence[CallSummary]:
        user_id = (await accounts.get_user(user_name)).id if user_name else None
        return await ledger.list_calls(user_id=user_id, limit=limit)

    for summary in _run_with_ledger(_settings(), work):
        call = summary.call
        duration = "live" if summary.duration_s is None else f"{summary.duration_s:.0f}s"
        cost = format_usd(summary.cost_usd if summary.cost_known else None)
        words = (summary.first_words or "").replace("\t", " ").replace("\n", " ")
        click.echo(
            f"{call.id}\t{call.started_at:%Y-%m-%d %H:%M}\t{duration}\t{summary.user_name or '-'}\t"
            f"{call.model or '-'}\t{cost}\t{words}"
        )


@history.command("show")
@click.argument("call_id")
def history_show(call_id: str) -> None:
    """Print a call's transcript, with its date, duration, model, voice and cost (vgc_… or rtc_… id)."""
    settings = _settings()
    detail = _run_with_ledger(settings, lambda _, ledger: _find_call(ledger, call_id))
    click.echo(export.render_markdown(detail, simulated=settings.uses_embedded_engine), nl=False)


@history.command("export")
@click.argument("call_id")
@click.option("--format", "fmt", type=click.Choice(["json", "md"]), default="json", show_default=True)
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True), default=None, help="File (default: stdout)."
)
def history_export(call_id: str, fmt: str, output: str | None) -> None:
    """Export a call as JSON (what the API serves) or a Markdown transcript."""
    settings = _settings()
    detail = _run_with_ledger(settings, lambda _, ledger: _find_call(ledger, call_id))
    simulated = settings.uses_embedded_engine
    text = (
        export.render_json(detail, simulated=simulated)
        if fmt == "json"
        else export.render_markdown(detail, simulated=simulated)
    )
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as file:
        file.write(text)
    click.echo(f"wrote {output}", err=True)


@history.command("prune")
@click.option(
    "--days",
    type=click.FloatRange(min=0),
    default=None,
    help="Keep this many days (default: VOXGATE_HISTORY__RETENTION_DAYS).",
)
def history_prune(days: float | None) -> None:
    """Blank the transcripts of calls that ended more than DAYS ago; their usage and cost stay."""
    settings = _settings()
    days = settings.history.retention_days if days is None else days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    pruned = _run_with_ledger(settings, lambda _, ledger: ledger.prune_transcripts(cutoff))
    click.echo(f"pruned the transcripts of {pruned} call(s) that ended before {cutoff:%Y-%m-%d %H:%M} UTC")


# ---- realtime client commands: transcribe, talk ----------------------------------------------------

_TARGET_HELP = """
Where the call goes: --url CALLS_URL with --key KEY (OpenAI: --url
https://api.openai.com/v1/realtime/calls --key $OPENAI_API_KEY), or --gateway URL with a voxgate key
(vg_…), which mints an ek_ key at {gateway}/api/realtime-token and uses the calls_url it returns.
With neither, the call goes to `voxgate engine` on its default port
(http://127.0.0.1:8100/v1/realtime/calls). Without --key, OpenAI's URL uses OPENAI_API_KEY and any
other URL the first of VOXGATE_ENGINE__API_KEYS. Environment: VOXGATE_CLIENT_URL,
VOXGATE_CLIENT_GATEWAY, VOXGATE_CLIENT_KEY.
"""


def _target_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every client command shares (see _TARGET_HELP)."""
    options = [
        click.option("--url", envvar="VOXGATE_CLIENT_URL", help="Calls URL to POST the SDP offer to."),
        click.option("--gateway", envvar="VOXGATE_CLIENT_GATEWAY", help="voxgate gateway to mint at."),
        click.option("--key", envvar="VOXGATE_CLIENT_KEY", help="API key: sk-…, ek_… or (gateway) vg_…."),
        click.option(
            "--model", default=None, help="Session model (standard keys; OpenAI: gpt-realtime-2.1)."
        ),
        click.option(
            "--ice", "ice", multiple=True, help="A STUN server URL for ICE (repeatable; none by default)."
        ),
        click.option("--timeout", default=15.0, show_default=True, type=float, help="Connect timeout, s."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


async def _connect(
    options: dict[str, Any], settings: Settings | None, *, jitter_ms: float = 0.0
) -> RealtimeClient:
    """Resolve the target and connect a RealtimeClient (the caller hangs up)."""
    import httpx

    from voxgate.client import Microphone, RealtimeClient
    from voxgate.client.target import resolve_target

    openai_key = engine_key = None
    if settings is not None:
        openai_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        engine_key = settings.engine.api_keys[0] if settings.engine.api_keys else None
    async with httpx.AsyncClient(timeout=options["timeout"]) as http:
        target = await resolve_target(
            http,
            url=options["url"],
            gateway=options["gateway"],
            key=options["key"],
            model=options["model"],
            openai_key=openai_key,
            engine_key=engine_key,
        )
    client = RealtimeClient(
        target.calls_url,
        target.key,
        session=target.session,
        ice_servers=list(options["ice"]),
        microphone=Microphone(jitter_ms=jitter_ms),
        connect_timeout=options["timeout"],
    )
    await client.connect()  # closes the client itself when it fails
    timings = client.timings
    click.echo(
        f"voxgate: connected to {target.calls_url} (call {client.call_id}, "
        f"{timings.total_ms if timings else 0.0:.0f} ms)",
        err=True,
    )
    return client


def _run_client(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a client coroutine; the client's own errors become one-line CLI errors."""
    from voxgate.client import RealtimeClientError

    try:
        return asyncio.run(work())
    except RealtimeClientError as exc:
        raise click.ClickException(str(exc)) from None


def _optional_settings() -> Settings | None:
    """Settings for key fallbacks only; a broken configuration must not stop a client command."""
    try:
        return Settings()
    except Exception:
        return None


@main.command(epilog=_TARGET_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_target_options
@click.option("--language", default=None, help="Language of the audio (ISO-639-1, e.g. en).")
@click.option("--transcription-model", default="gpt-4o-mini-transcribe", show_default=True)
@click.option(
    "--turn-detection/--no-turn-detection",
    default=True,
    show_default=True,
    help="Server VAD splits turns; without it the whole file is committed once.",
)
@click.option("--tail", default=1.0, show_default=True, type=float, help="Silence after the file, s.")
@click.option(
    "--wait", default=30.0, show_default=True, type=float, help="How long to wait for transcripts, s."
)
def transcribe(
    file: str,
    language: str | None,
    transcription_model: str,
    turn_detection: bool,
    tail: float,
    wait: float,
    **options: Any,
) -> None:
    """Transcribe FILE (a WAV file) by playing it into a realtime call; prints one line per turn.

    Turns on input transcription with session.update (and server VAD without responses), plays the
    file as the microphone, then a little silence, commits what is left and prints every
    conversation.item.input_audio_transcription.completed transcript.
    """
    import wave

    from voxgate.client import read_wav
    from voxgate.client.transcribe import transcribe_file

    try:
        read_wav(file)  # refuse a bad file before calling anyone
    except (wave.Error, EOFError, ValueError) as exc:
        raise click.ClickException(f"{file}: not a PCM WAV file ({exc})") from None

    async def work() -> list[str]:
        client = await _connect(options, _optional_settings())
        try:
            return await transcribe_file(
                client,
                file,
                model=transcription_model,
                language=language,
                turn_detection=turn_detection,
                tail_s=tail,
                wait_s=wait,
                on_transcript=lambda text: click.echo(text.strip()),
            )
        finally:
            await client.hangup()

    _run_client(work)


@main.command(epilog=_TARGET_HELP)
@_target_options
@click.option("--language", default=None, help="Language you speak (ISO-639-1), for the transcripts.")
@click.option("--transcription-model", default="gpt-4o-mini-transcribe", show_default=True)
def talk(language: str | None, transcription_model: str, **options: Any) -> None:
    """Talk with the assistant through the microphone and speakers; transcripts are printed live.

    Needs the sounddevice package and a sound input and output device (use headphones: there is no
    echo cancellation). Ctrl-C ends the call.
    """
    from voxgate.client.talk import CAPTURE_JITTER_MS, NoSoundDevice, converse, load_sounddevice

    try:
        sounddevice = load_sounddevice()
    except NoSoundDevice as exc:
        raise click.ClickException(str(exc)) from None

    async def work() -> None:
        client = await _connect(options, _optional_settings(), jitter_ms=CAPTURE_JITTER_MS)
        try:
            click.echo("voxgate: talk now; Ctrl-C to hang up", err=True)
            await converse(
                client,
                sounddevice,
                on_line=click.echo,
                language=language,
                transcription_model=transcription_model,
            )
        finally:
            await client.hangup()

    try:
        _run_client(work)
    except KeyboardInterrupt:
        click.echo("voxgate: hung up", err=True)


# Budgets, roles, live calls and the audit log: the admin console's actions (voxgate.cli_admin).
register_admin_commands(main)

# ---- the synthetic probe ---------------------------------------------------------------------------


def _probe_runner(settings: Settings, voice: str = "auto") -> ProbeRunner | None:
    """The probe runner ``voxgate serve`` hands its app (None when the probe is off: nothing loaded)."""
    from voxgate.client.probe import SpokenProbe
    from voxgate.engine.speech.tts import create_synthesizer
    from voxgate.web.probe_schedule import probe_enabled

    if not probe_enabled(settings):
        return None
    model = settings.monitoring.probe_transcription_model
    return SpokenProbe(lambda: create_synthesizer(voice), transcription_model=model)


def create_app_from_env() -> FastAPI:
    """uvicorn's app factory for ``voxgate serve --workers N``: settings from the environment, logging
    configured in each worker, and the probe runner (which the web layer cannot build: it never imports
    the client)."""
    from voxgate.web.app import create_app
    from voxgate.web.log_format import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, freeze_heap=True, probe=_probe_runner(settings))


def _save_probe(settings: Settings, result: ProbeResult) -> None:
    """Store ``result`` in the configured database (which must exist: `voxgate serve` made it)."""
    from voxgate.adapters.sql.probes import ProbeStore

    async def store() -> None:
        db = await _open_database(settings, create=False)
        try:
            await ProbeStore(db).record(result)
        finally:
            await db.aclose()

    try:
        asyncio.run(store())
    except MissingDatabase:
        raise _missing_database(settings) from None


def _write_probe_metrics(path: str, result: ProbeResult) -> None:
    """The result in Prometheus' text format (for node_exporter's textfile collector), written whole."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    values = {
        "voxgate_probe_ok": ("1 when the last probe call worked.", 1.0 if result.ok else 0.0),
        "voxgate_probe_wer": ("Word error rate of the last probe.", result.wer),
        "voxgate_probe_connect_seconds": ("Connect time of the last probe.", result.connect_ms),
        "voxgate_probe_first_audio_seconds": ("Time to first reply audio.", result.first_audio_ms),
    }
    for name, (doc, value) in values.items():
        if value is None:
            continue
        scale = 1000.0 if name.endswith("_seconds") else 1.0
        Gauge(name, doc, ["target"], registry=registry).labels(result.target).set(value / scale)
    write_to_textfile(path, registry)


@main.command(epilog=_TARGET_HELP)
@_target_options
@click.option(
    "--voice",
    type=click.Choice(["auto", "piper", "espeak"]),
    default="auto",
    show_default=True,
    help="Who speaks the sentences (auto: piper when installed, else espeak-ng).",
)
@click.option(
    "--transcription-model", default=None, help="Default: VOXGATE_MONITORING__PROBE_TRANSCRIPTION_MODEL."
)
@click.option("--language", default="en", show_default=True, help="Language of the sentences.")
@click.option("--save", is_flag=True, help="Store the result in voxgate's database (the dashboard's chart).")
@click.option(
    "--metrics-file", type=click.Path(dir_okay=False), help="Write the results there (Prometheus text)."
)
def probe(
    voice: str,
    transcription_model: str | None,
    language: str,
    save: bool,
    metrics_file: str | None,
    **options: Any,
) -> None:
    """Place a synthetic call: speak known sentences, measure the word error rate of their input
    transcription, the connect time and the time to the first reply audio. Exits 1 unless it worked.

    With no --url or --gateway it calls the configured upstream (OPENAI_API_KEY / VOXGATE_UPSTREAM_URL),
    else `voxgate engine` on its default port. Against OpenAI a probe costs a few cents.
    """
    import httpx

    from voxgate.client.probe import SpokenProbe
    from voxgate.client.target import resolve_target
    from voxgate.engine.speech.tts import create_synthesizer

    settings = _optional_settings()
    model = transcription_model or (
        settings.monitoring.probe_transcription_model if settings else "gpt-realtime-whisper"
    )
    url = options["url"]
    if url is None and options["gateway"] is None and settings and settings.effective_upstream_url:
        url = f"{settings.effective_upstream_url}/realtime/calls"

    async def work() -> ProbeResult:
        openai_key = engine_key = None
        if settings is not None:
            openai_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
            engine_key = settings.engine.api_keys[0] if settings.engine.api_keys else openai_key
        async with httpx.AsyncClient(timeout=options["timeout"]) as http:
            target = await resolve_target(
                http, url=url, gateway=options["gateway"], key=options["key"], model=options["model"],
                openai_key=openai_key, engine_key=engine_key,
            )  # fmt: skip
        label = httpx.URL(target.calls_url).host or "upstream"
        session_model = (target.session or {}).get("model")
        runner = SpokenProbe(
            lambda: create_synthesizer(voice), transcription_model=model, language=language,
            connect_timeout=options["timeout"],
        )  # fmt: skip
        return await runner(ProbeTarget(target.calls_url, target.key, label, session_model))

    result = _run_client(work)
    click.echo(f"target       {result.target}")
    click.echo(f"outcome      {result.outcome}" + (f" ({result.error})" if result.error else ""))
    if result.connect_ms is not None:
        click.echo(f"connect      {result.connect_ms:.0f} ms")
    if result.first_audio_ms is not None:
        click.echo(f"first audio  {result.first_audio_ms:.0f} ms")
    if result.wer is not None:
        click.echo(f"WER          {result.wer * 100:.1f} %")
        click.echo(f"said         {result.expected}")
        click.echo(f"heard        {result.heard}")
    if metrics_file:
        _write_probe_metrics(metrics_file, result)
    if save:
        _save_probe(settings or _settings(), result)
    if not result.ok:
        raise SystemExit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
