"""Keep secrets out of every log line, whoever logs them (defence in depth: nothing should try)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

__all__ = ["SecretRedactor", "install_redactor"]


class SecretRedactor(logging.Filter):
    """Replaces each known secret in a record's final message with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        clean = message
        for secret in self.secrets:
            clean = clean.replace(secret, "[redacted]")
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_redactor(secrets: Iterable[str]) -> SecretRedactor:
    """Attach a redactor to every handler of the root logger and to new records at the source."""
    redactor = SecretRedactor(secrets)
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(redactor)
    # Handlers added later (pytest's caplog, uvicorn's) see records already cleaned by this factory.
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redactor.filter(record)
        return record

    if not getattr(previous, "_voxgate_redactor", False):
        factory._voxgate_redactor = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
    return redactor
