"""How log lines look: text, JSON or logfmt, one line per record, each with its request's id.

The structured formats are built from a fixed set of fields (time, level, logger, request id, message,
traceback), never from a record's arbitrary attributes, and the finished line passes through
:func:`~voxgate.web.redaction.scrub_secrets` once more: a secret cannot reach a log line through an
``extra=`` nobody thought about. :func:`configure_logging` is called at the edge (``voxgate serve``, or
each worker's app factory).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Literal

from voxgate.web.redaction import scrub_secrets
from voxgate.web.request_log import RequestIdFilter

__all__ = ["JsonFormatter", "LogfmtFormatter", "configure_logging", "formatter_for"]

LogFormat = Literal["text", "json", "logfmt"]
TEXT_FORMAT = "%(levelname)s %(name)s [%(request_id)s]: %(message)s"
CHATTY_LIBRARIES = ("aioice", "aiortc", "httpx", "httpx2", "websockets")


def _fields(record: logging.LogRecord, formatter: logging.Formatter) -> dict[str, str]:
    fields = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "request_id": str(getattr(record, "request_id", "-")),
        "message": record.getMessage(),
    }
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    if record.exc_text:
        fields["exception"] = record.exc_text
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub_secrets(json.dumps(_fields(record, self), ensure_ascii=False))


def _logfmt_value(value: str) -> str:
    if value and not any(c in value for c in ' "=\\\n\t'):
        return value
    return json.dumps(value, ensure_ascii=False)


class LogfmtFormatter(logging.Formatter):
    """``key=value`` pairs, values quoted when they need it (newlines escaped: one record, one line)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record, self)
        return scrub_secrets(" ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items()))


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub_secrets(super().format(record))


def formatter_for(fmt: LogFormat) -> logging.Formatter:
    """The formatter for a ``VOXGATE_LOG_FORMAT`` value."""
    if fmt == "json":
        return JsonFormatter()
    if fmt == "logfmt":
        return LogfmtFormatter()
    return _TextFormatter(TEXT_FORMAT)


def configure_logging(level: str, fmt: LogFormat, stream: IO[str] | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one that writes ``fmt`` lines to ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter_for(fmt))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that log every ICE check and every HTTP request at INFO speak up only when it matters,
    # unless DEBUG is asked for.
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING)
    return handler
