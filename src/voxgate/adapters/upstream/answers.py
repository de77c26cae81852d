"""Reading what the upstream answered: validated, bounded and scrubbed before anything else sees it.

Every function here takes the raw answer and a :class:`~voxgate.adapters.upstream.scrub.Scrubber`, and
either returns clean values or raises :class:`~voxgate.errors.UpstreamError` with the code
``upstream_bad_response`` (a 502 the routes audit like every other failure).
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from typing import Any

from voxgate.adapters.upstream.base import ClientSecret
from voxgate.adapters.upstream.bounds import clip
from voxgate.adapters.upstream.scrub import Scrubber
from voxgate.errors import UpstreamError

__all__ = [
    "BAD_RESPONSE",
    "bad_response",
    "call_id_from_location",
    "client_secret",
    "error_detail",
    "retry_after",
    "sdp_answer",
]

BAD_RESPONSE = "upstream_bad_response"
#: Bounds on the ``Retry-After`` voxgate passes on (seconds): an upstream's "wait a year" is not ours.
RETRY_AFTER_MIN, RETRY_AFTER_MAX = 1, 3600
# What an upstream's ids and secrets may look like: no spaces, no markup, not absurdly long.
_TOKEN = re.compile(r"[A-Za-z0-9_\-.~+/=]{8,512}")
_CALL_ID = re.compile(r"[A-Za-z0-9_\-]{1,128}")
# ``param`` names a request field: ``session.audio.input.format``, ``tools[0].name``.
_PARAM = re.compile(r"[A-Za-z0-9_.\[\]\-]{1,128}")


def bad_response(what: str) -> UpstreamError:
    """The 502 for an answer voxgate will not pass on (``what`` is ours, never upstream text)."""
    return UpstreamError(f"The upstream sent an unusable answer: {what}.", code=BAD_RESPONSE)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise bad_response("not valid JSON") from None
    if not isinstance(document, dict):
        raise bad_response("not a JSON object")
    return document


def client_secret(body: bytes, scrubber: Scrubber) -> ClientSecret:
    """The ``{value, expires_at, session}`` of a minted client secret, or a 502."""
    document = _json_object(body)
    value, expires_at, session = document.get("value"), document.get("expires_at"), document.get("session")
    if not isinstance(value, str) or not _TOKEN.fullmatch(value) or scrubber.leaks(value):
        raise bad_response("no usable client secret")
    if not isinstance(expires_at, int) or isinstance(expires_at, bool) or not 0 < expires_at < 2**40:
        raise bad_response("no usable 'expires_at'")
    if session is None:
        session = {}
    if not isinstance(session, dict):
        raise bad_response("'session' is not an object")
    return ClientSecret(value=value, expires_at=expires_at, session=scrubber.tree(session))


def call_id_from_location(location: str | None, scrubber: Scrubber) -> str:
    """The call id at the end of ``Location`` (``/v1/realtime/calls/rtc_…``), as the official clients
    take it, or a 502."""
    call_id = (location or "").split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if not call_id:
        raise bad_response("no call id (no Location header)")
    if not _CALL_ID.fullmatch(call_id) or scrubber.leaks(call_id):
        raise bad_response("a malformed call id")
    return call_id


def sdp_answer(body: bytes, scrubber: Scrubber) -> str:
    """The SDP answer as text, or a 502 when it is not one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_response("an SDP answer that is not UTF-8") from None
    if not text.lstrip().startswith("v=0"):
        raise bad_response("no SDP answer")
    return scrubber.text(text)


def error_detail(body: object, fallback: str, scrubber: Scrubber) -> tuple[str, str | None, str | None]:
    """``(message, param, code)`` of an OpenAI-shaped error body: scrubbed, clipped, and ``param``
    dropped unless it names a field."""
    detail: Any = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(detail, dict):
        detail = {"message": detail} if isinstance(detail, str) else {}
    message = detail.get("message")
    message = clip(scrubber.text(message if isinstance(message, str) and message else fallback, keylike=True))
    param = detail.get("param")
    if not isinstance(param, str) or not _PARAM.fullmatch(param) or scrubber.leaks(param):
        param = None
    code = detail.get("code")
    if not isinstance(code, str) or not _PARAM.fullmatch(code) or scrubber.leaks(code):
        code = None
    return message, param, code


def retry_after(value: str | None, *, now: float | None = None) -> int:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), clamped to 1..3600."""
    seconds: float = RETRY_AFTER_MIN
    text = (value or "").strip()
    if text:
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(text)
                seconds = when.timestamp() - (time.time() if now is None else now)
            except (TypeError, ValueError, IndexError, OverflowError):
                seconds = RETRY_AFTER_MIN
    if not math.isfinite(seconds):
        seconds = RETRY_AFTER_MAX if seconds > 0 else RETRY_AFTER_MIN
    return int(min(RETRY_AFTER_MAX, max(RETRY_AFTER_MIN, math.ceil(seconds))))
