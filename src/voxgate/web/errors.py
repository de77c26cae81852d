"""Every error leaves as ``{"error": {type, code, message, param}}``, whatever raised it."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from voxgate.adapters import metrics
from voxgate.errors import RateLimited, VoxgateError
from voxgate.web.redaction import scrub_secrets

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger("voxgate.web")


def error_response(
    status: int, error_type: str, code: str | None, message: str, param: str | None = None, **headers: str
) -> JSONResponse:
    """An OpenAI-shaped error response. Its text is scrubbed of the server's secrets (and their parts)
    whatever produced it: defence in depth behind the upstream adapter's own scrubbing."""
    message, param = scrub_secrets(message), scrub_secrets(param) if param else param
    body = {"error": {"type": error_type, "code": code, "message": message, "param": param}}
    metrics.error_answered(status, code)
    return JSONResponse(body, status_code=status, headers=headers or None)


def _extra_headers(request: Request) -> dict[str, str]:
    headers: dict[str, str] = getattr(request.state, "ratelimit_headers", None) or {}
    return dict(headers)


async def _voxgate_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VoxgateError)
    headers = _extra_headers(request)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, RateLimited):
        metrics.rate_limited(getattr(request.scope.get("route"), "path", "other"))
    if exc.status_code >= 500:
        log.warning("%s %s -> %s %s", request.method, request.url.path, exc.status_code, exc.code)
    response = error_response(exc.status_code, exc.error_type, exc.code, exc.message, exc.param, **headers)
    # Fields an error adds to OpenAI's four (a budget's limit and resets_at).
    extra = {k: v for k, v in exc.to_dict().items() if k not in ("type", "code", "message", "param")}
    if not extra:
        return response
    body = json.loads(bytes(response.body))
    body["error"].update(extra)
    return JSONResponse(body, status_code=exc.status_code, headers=headers or None)


def _param(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    param = _param(tuple(first.get("loc", ())))
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        hint = " Use 'expires_after.seconds' (GA) instead." if param == "ttl_seconds" else ""
        return error_response(
            400, "invalid_request_error", "unknown_parameter", f"Unknown parameter: '{param}'.{hint}", param
        )
    if kind == "missing" and param is None:
        return error_response(
            400, "invalid_request_error", "missing_required_parameter", "The request body is missing."
        )
    if kind == "missing":
        return error_response(
            400,
            "invalid_request_error",
            "missing_required_parameter",
            f"Missing required parameter: '{param}'.",
            param,
        )
    if kind in {"json_invalid", "model_attributes_type", "dict_type"} and param in {None, "0"}:
        return error_response(
            400, "invalid_request_error", "invalid_json", "The request body must be a JSON object."
        )
    message = (
        f"Invalid value for '{param}': {first.get('msg', 'invalid')}." if param else str(first.get("msg"))
    )
    return error_response(400, "invalid_request_error", "invalid_value", message, param)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "invalid_api_key", 413: "payload_too_large"}
    error_type = "invalid_request_error" if exc.status_code < 500 else "server_error"
    return error_response(
        exc.status_code,
        error_type,
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        None,
        **(exc.headers or {}),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc
    )
    return error_response(500, "server_error", "internal_error", "Internal server error.")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every failure in OpenAI's error shape."""
    app.add_exception_handler(VoxgateError, _voxgate_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
