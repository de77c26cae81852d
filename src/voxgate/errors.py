"""One small error hierarchy, rendered in OpenAI's error shape only at the edges.

    VoxgateError                      500 server_error
    ├── InvalidRequest                400 invalid_request_error (param names the culprit)
    │   └── UnsupportedMediaType      415
    ├── AuthenticationFailed          401
    ├── PermissionDenied              403
    ├── NotFound                      404
    ├── RateLimited                   429 (retry_after)
    └── UpstreamError                 502 upstream_error
        ├── UpstreamNotConfigured     503
        ├── UpstreamAuthFailed        502 (the server's own key was refused)
        ├── UpstreamBusy              503 (upstream said 429; retry_after)
        ├── UpstreamTimeout           504
        ├── UpstreamUnreachable       502
        └── UpstreamRejected          502 (upstream validation error, its message carried)

The web layer turns these into ``{"error": {type, code, message, param}}`` bodies; the engine turns them
into ``error`` events. Nothing below the edges knows about HTTP responses.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationFailed",
    "InvalidRequest",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "UnsupportedMediaType",
    "UpstreamAuthFailed",
    "UpstreamBusy",
    "UpstreamError",
    "UpstreamNotConfigured",
    "UpstreamQuotaExhausted",
    "UpstreamRejected",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "VoxgateError",
]


class VoxgateError(Exception):
    """Base of every error voxgate reports to a client."""

    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI-shaped error object (the value under ``"error"``)."""
        return {"type": self.error_type, "code": self.code, "message": self.message, "param": self.param}


class InvalidRequest(VoxgateError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_value"


class UnsupportedMediaType(InvalidRequest):
    status_code = 415
    default_code = "unsupported_media_type"


class AuthenticationFailed(VoxgateError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDenied(VoxgateError):
    status_code = 403
    error_type = "invalid_request_error"
    default_code = "forbidden"


class NotFound(VoxgateError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class RateLimited(VoxgateError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamError(VoxgateError):
    status_code = 502
    error_type = "upstream_error"
    default_code = "upstream_error"


class UpstreamNotConfigured(UpstreamError):
    status_code = 503
    default_code = "upstream_not_configured"


class UpstreamAuthFailed(UpstreamError):
    default_code = "upstream_auth_failed"


class UpstreamBusy(UpstreamError):
    status_code = 503
    default_code = "upstream_rate_limited"


class UpstreamQuotaExhausted(UpstreamError):
    """The OpenAI account behind voxgate has no quota left (OpenAI's 429 ``insufficient_quota``):
    unlike a rate limit, waiting a few seconds will not help."""

    status_code = 503
    default_code = "upstream_quota_exhausted"


class UpstreamTimeout(UpstreamError):
    status_code = 504
    default_code = "upstream_timeout"


class UpstreamUnreachable(UpstreamError):
    default_code = "upstream_unreachable"


class UpstreamRejected(UpstreamError):
    default_code = "upstream_rejected"
