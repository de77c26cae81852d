"""The published OpenAPI document, made to match what the API answers.

FastAPI documents a 422 ``HTTPValidationError`` on every operation that takes input, but voxgate answers
invalid input with 400 in OpenAI's error shape, and every error any operation can give is that shape. This
rewrites the generated document once: no 422, the error statuses each operation can return (declared on
the route, or common to its kind of route) with the ``Error`` schema, and 2xx answers as generated.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["ERROR_SCHEMA", "install_openapi"]

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error, in OpenAI's shape.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message", "param"],
            "properties": {
                "type": {"type": "string"},
                "code": {"type": ["string", "null"]},
                "message": {"type": "string"},
                "param": {"type": ["string", "null"]},
            },
        }
    },
}

_DESCRIPTIONS = {
    400: "Invalid request: `param` names the parameter.",
    401: "No, bad, revoked or expired credentials (or a disabled user).",
    403: "Not allowed: a cookie request from another origin, or not yours.",
    404: "No such resource (or not yours).",
    408: "The request body did not arrive in time.",
    413: "The request body is too large for this route.",
    415: "Unsupported Content-Type.",
    429: "Rate limited or locked out: see `Retry-After`.",
    502: "The upstream failed or refused.",
    503: "Unavailable for now (upstream, rate limiter or database): see `Retry-After`.",
    504: "The upstream did not answer in time.",
}

# What every API route can answer whatever it does: bad input or body, failed credentials, a cookie from
# another origin, a lockout, a dependency down.
_API_ERRORS = (400, 401, 403, 408, 413, 429, 503)
# Routes without credentials can still get a bad or oversized body, a slow one, or find a dependency down.
_PUBLIC_ERRORS = (400, 408, 413, 503)


def _errors_for(path: str, operation: dict[str, Any]) -> set[int]:
    declared = {int(code) for code in operation.get("responses", {}) if code.isdigit() and int(code) >= 400}
    declared.discard(422)
    if path.startswith("/api/auth/signin"):
        common = {*_PUBLIC_ERRORS, 401, 403, 429}
    elif path.startswith("/api/"):
        common = set(_API_ERRORS)
    else:
        common = set()
    if "{" in path:
        common.add(404)
    return declared | common


def rewrite(schema: dict[str, Any]) -> dict[str, Any]:
    """The generated document with voxgate's error responses (in place; returns it)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Error"] = ERROR_SCHEMA
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            responses.pop("422", None)
            for status in sorted(_errors_for(path, operation)):
                entry = responses.get(str(status)) or {}
                # A bare ``{status: {}}`` on a route comes out with the status's reason phrase and no
                # content: that is one of our errors. A route's own description (like /readyz's 503 with
                # its checks) keeps its answer, generic JSON.
                generic = {"", "Additional Response", HTTPStatus(status).phrase}
                if "content" not in entry and entry.get("description", "") in generic:
                    entry = {"description": _DESCRIPTIONS.get(status, "Error."), "content": error_content}
                elif "content" not in entry:
                    entry["content"] = {"application/json": {"schema": {}}}
                responses[str(status)] = entry
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve the rewritten document at ``/openapi.json`` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = rewrite(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
