"""Response headers for every page and API answer: CSP, nosniff, referrer and framing policy."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders", "content_security_policy"]


def content_security_policy(connect_origins: list[str], *, inline_styles: bool = False) -> str:
    """A strict CSP: only our own scripts; network only to us and the realtime upstream."""
    connect = " ".join(["'self'", *connect_origins])
    style = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    return (
        "default-src 'self'; script-src 'self'; "
        f"style-src {style}; img-src 'self' data:; media-src 'self' blob:; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


class SecurityHeaders:
    """Pure ASGI middleware (no response buffering) adding the security headers."""

    def __init__(self, app: ASGIApp, *, connect_origins: list[str]) -> None:
        self.app = app
        self.csp = content_security_policy(connect_origins).encode()
        # Swagger UI sets inline styles; its page alone may use them.
        self.docs_csp = content_security_policy(connect_origins, inline_styles=True).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = self.docs_csp if scope["path"].startswith("/docs") else self.csp

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", csp),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"permissions-policy", b"microphone=(self), camera=(), geolocation=()"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
