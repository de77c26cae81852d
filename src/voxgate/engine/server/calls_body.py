"""Reading the body of ``POST /v1/realtime/calls`` in each shape the official clients send.

* ``application/sdp``: the raw offer (browsers with an ``ek_`` key; openai-python when only ``sdp`` is
  given);
* ``multipart/form-data``: part ``sdp`` plus optional part ``session`` (GA session JSON), as openai-python
  3.x and OpenAI's server-side docs example send it; parts may be plain strings or files;
* ``application/json`` ``{sdp, session}``: what openai-python 2.x sent, tolerated (reference §2.2).

Anything else is 415; a missing offer is 400 ``missing_required_parameter``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from voxgate.engine.realtime.session_config import parse_session_request
from voxgate.errors import InvalidRequest, UnsupportedMediaType

__all__ = ["MAX_SDP_BYTES", "read_call_request"]

# Real offers are a few KiB; anything far larger is not an SDP offer.
MAX_SDP_BYTES = 256 * 1024
_FIELDS = ("sdp", "session")


async def read_call_request(request: Request) -> tuple[str, dict[str, Any] | None]:
    """``(offer_sdp, session_fields or None)`` from the request; raises OpenAI-shaped errors."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/sdp":
        return _text(await _body(request), "sdp"), None
    if media_type == "multipart/form-data":
        values: dict[str, Any] = {}
        async with request.form(max_part_size=MAX_SDP_BYTES) as form:
            for name, value in form.multi_items():
                if name not in _FIELDS:
                    raise InvalidRequest(
                        f"Unknown parameter: '{name}'.", code="unknown_parameter", param=name
                    )
                values[name] = await value.read() if isinstance(value, UploadFile) else value
        sdp = _text(values.get("sdp"), "sdp")
        session = values.get("session")
        return sdp, _session(json_text=session) if session is not None else None
    if media_type == "application/json":
        try:
            data = json.loads(await _body(request))
        except ValueError:
            raise InvalidRequest(
                "We could not parse the JSON body of your request.", code="invalid_json"
            ) from None
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.", code="invalid_type")
        for name in data:
            if name not in _FIELDS:
                raise InvalidRequest(f"Unknown parameter: '{name}'.", code="unknown_parameter", param=name)
        sdp = _text(data.get("sdp"), "sdp")
        session = data.get("session")
        return sdp, parse_session_request(session) if session is not None else None
    raise UnsupportedMediaType(
        f"Unsupported content type: '{media_type or 'none'}'. Send the SDP offer as application/sdp or "
        "multipart/form-data (fields 'sdp' and 'session')."
    )


async def _body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SDP_BYTES:
            raise InvalidRequest("The request body is too large for an SDP offer.", param="sdp")
    return bytes(body)


def _text(value: Any, param: str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(
            f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
        )
    return value


def _session(*, json_text: Any) -> dict[str, Any]:
    text = json_text.decode("utf-8", errors="replace") if isinstance(json_text, bytes) else str(json_text)
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidRequest("Invalid 'session': expected a JSON object.", param="session") from None
    return parse_session_request(data)
