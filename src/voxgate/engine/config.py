"""The engine's configuration: plain values handed in by whoever builds the engine (never Settings).

The defaults reproduce what the real GA server reports (reference §3.1, §7): 60-minute sessions,
600-second client secrets bounded to 10–7200 s, server VAD with a 200 ms silence, voice ``alloy``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_INSTRUCTIONS", "EngineConfig", "IceServer"]

# What the real server answers in session.created when a client sets no instructions (S3/S7). The
# engine keeps OpenAI's text so clients that compare it see no difference.
DEFAULT_INSTRUCTIONS = (
    "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI. Act like a human, but "
    "remember that you aren't a human and that you can't do human things in the real world. Your voice "
    "and personality should be warm and engaging, with a lively and playful tone."
)


class IceServer(BaseModel):
    """One STUN/TURN server handed to aiortc (``RTCIceServer``)."""

    model_config = ConfigDict(frozen=True)

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class EngineConfig(BaseModel):
    """Everything the engine needs to know; build it at the edge and pass it to ``create_engine_app``."""

    model_config = ConfigDict(frozen=True)

    # Standard (non-ephemeral) API keys the engine accepts, like ``sk-…`` keys at OpenAI.
    api_keys: frozenset[str] = frozenset()
    # The model name reported by ``GET /v1/models`` and used when a session names none.
    model: str = "gpt-realtime"
    # Explicit ICE servers; the empty default keeps aiortc off the public STUN server it would pick.
    ice_servers: tuple[IceServer, ...] = ()
    # Maximum life of one realtime session; then ``error{code:"session_expired"}`` and the end.
    session_max_duration_s: float = Field(default=3600.0, gt=0)
    # GPT-Live (``/v1/live/sessions``): the models served, the longest session (then ``session.closed``
    # with reason ``expired``) and how much session time passes between ``session.usage.updated`` events.
    live_models: tuple[str, ...] = ("gpt-live-1", "gpt-live-1.1")
    live_max_duration_s: float = Field(default=7200.0, gt=0)
    live_usage_interval_s: float = Field(default=15.0, gt=0)
    # Client secret expiry: default and bounds of ``expires_after.seconds``.
    key_default_ttl_s: int = 600
    key_min_ttl_s: int = 10
    key_max_ttl_s: int = 7200
    # Overrides applied on top of the GA defaults for every new session (a partial GA session object,
    # e.g. ``{"instructions": "...", "audio": {"output": {"voice": "marin"}}}``).
    default_session: dict[str, Any] = Field(default_factory=dict)
    # Largest decoded ``input_audio_buffer.append`` payload (the real limit is 15 MiB per event).
    max_append_bytes: int = 15 * 1024 * 1024
    # Cap of the uncommitted input buffer; the oldest audio is dropped past it (WebRTC mic audio
    # flows in continuously, so without a cap a call with no turn detection would grow forever).
    max_input_buffer_bytes: int = 64 * 1024 * 1024
    # What ``rate_limits.updated`` reports: a per-minute token budget (informational, not enforced).
    rate_limit_tokens_per_minute: int = 40_000
    # A call whose peer never connects is closed after this long (until then it counts against the caps).
    call_connect_timeout_s: float = Field(default=30.0, gt=0)
    # Caps on what is live at once (see voxgate.engine.server.caps): WebRTC calls per key (a client
    # secret counts against the key that minted it), WebSocket sessions per key, calls in this process,
    # and calls plus WebSocket sessions in this process. Past them: 429 (the key's) or 503 (the process's).
    max_calls_per_key: int = Field(default=4, ge=1)
    max_sessions_per_key: int = Field(default=4, ge=1)
    max_calls: int = Field(default=16, ge=1)
    max_live_total: int = Field(default=32, ge=1)
    # Gateways' standard keys (the embedded gateway's own): their per-key caps apply per end user, as named
    # by the OpenAI-Safety-Identifier header they send (not at all without one). Listed here or in api_keys.
    trusted_keys: frozenset[str] = frozenset()
    # The most text one response may produce, whatever max_output_tokens says (each character is about
    # 65 ms of speech, 3 kB of audio held in the conversation): about four minutes of speech.
    max_output_chars: int = Field(default=4000, ge=1)
    # CORS for browsers posting SDP or minting keys cross-origin (reference §2.7).
    cors_allow_origins: tuple[str, ...] = ("*",)
    cors_allow_headers: tuple[str, ...] = (
        "Authorization",
        "Content-Type",
        "X-OpenAI-Agents-SDK",
        "OpenAI-Safety-Identifier",
    )
