"""Keep secrets out of every log line, whoever logs them (defence in depth: nothing should try).

Each record's final message is scrubbed with the same :class:`~voxgate.adapters.upstream.scrub.Scrubber`
the upstream adapter uses: the secret itself, any part of it (``MIN_PART`` characters or more, so the
key without its ``sk-`` prefix too) and masked forms that show its head or tail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from voxgate.adapters.upstream.scrub import Scrubber

__all__ = ["SecretRedactor", "install_redactor", "scrub_secrets"]

# Every secret any app in this process asked to hide; the record factory (process-wide) hides them all.
# Bounded: an app built per test adds a fresh engine key each time; the oldest ones go first.
_MAX_SECRETS = 32
_process_secrets: list[str] = []
_process_scrubber = Scrubber([])


class SecretRedactor(logging.Filter):
    """Replaces each known secret (and its parts) in a record's final message with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.scrubber = Scrubber(self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub_record(record, self.scrubber)
        return True


def _scrub_record(record: logging.LogRecord, scrubber: Scrubber) -> None:
    if not scrubber:
        return
    message = record.getMessage()
    clean = scrubber.text(message)
    if clean != message:
        record.msg, record.args = clean, None
    # A traceback is formatted later from exc_info; format and scrub it now.
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = scrubber.text(record.exc_text)
    if record.stack_info:
        record.stack_info = scrubber.text(record.stack_info)


def scrub_secrets(text: str) -> str:
    """``text`` without any secret (or part of one) an app in this process was given: the last line of
    defence for what voxgate itself renders, such as error bodies."""
    return _process_scrubber.text(text)


def _remember(secrets: Iterable[str]) -> None:
    global _process_scrubber
    added = False
    for secret in secrets:
        if secret in _process_secrets:
            _process_secrets.remove(secret)
        else:
            added = True
        _process_secrets.append(secret)
    del _process_secrets[:-_MAX_SECRETS]
    if added:
        _process_scrubber = Scrubber(_process_secrets)


def install_redactor(secrets: Iterable[str]) -> SecretRedactor:
    """Attach a redactor to every handler of the root logger and to new records at the source."""
    redactor = SecretRedactor(secrets)
    _remember(redactor.secrets)
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(redactor)
    # Handlers added later (pytest's caplog, uvicorn's) see records already cleaned by this factory.
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub_record(record, _process_scrubber)
        return record

    if not getattr(previous, "_voxgate_redactor", False):
        factory._voxgate_redactor = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
    return redactor
