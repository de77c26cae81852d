"""Scrub the server's own keys out of everything an upstream sends back.

An upstream can quote the key it was sent: OpenAI's 401 does, masked (``sk-proj-****…CDEF``), and a
misbehaving or hostile upstream can put it anywhere: an error's ``message``, ``param`` or ``code``, a 200
body, an SDP answer, a sideband event. A pattern ("looks like ``sk-…``") misses the key without its prefix
or cut in two, so the scrubber works from the key's actual value: it redacts

* every run of ``MIN_PART`` or more characters that also occurs in the key's secret part (so the whole
  key, the key without its ``sk-``/``sk-proj-`` prefix, and any half of it), and
* masked forms that give away the key's head or tail (``sk-pr****CDEF``, ``sk-proj-...CDEF``).

Everything upstream-derived goes through one :class:`Scrubber` before it is stored, logged or answered;
the log redactor (:mod:`voxgate.web.redaction`) uses the same one as a last line of defence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["MIN_PART", "REDACTED", "Scrubber"]

REDACTED = "[redacted]"
#: The shortest run of a key's characters treated as a part of it. Shorter runs occur by chance.
MIN_PART = 8
# Prefixes that name a key's kind, not its secret: a run inside them alone is no leak.
_PUBLIC_PREFIX = re.compile(r"^(?:sk|rk|ek)[-_](?:proj-|svcacct-|admin-|voxgate-internal-)?")
# Anything shaped like an OpenAI key, for upstream error text (which quotes keys, even other ones).
_KEYLIKE = re.compile(r"(?<![\w-])(?:sk|rk)-[\w*.\-]{6,}|(?<![\w-])sk_[\w*.\-]{6,}")
# A masked key: some visible characters, a mask (``****``, ``...``, ``…``, ``••``), some more.
_MASKED = re.compile(r"(?<![\w-])(?P<head>[\w-]*)(?:\*{2,}|\.{3,}|…+|•{2,})+(?P<tail>[\w-]*)")
# The characters of a "word" a key part sits in (a key is one word of them).
_WORD = re.compile(r"[A-Za-z0-9_\-]*")
# A masked form gives the key away only if it shows at least this much of its head or tail.
_MASK_REVEAL = 3


class Scrubber:
    """Redacts the given secrets, and their parts, from text and JSON values."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        parts: set[str] = set()
        for secret in self.secrets:
            parts.update(_parts(secret))
        # Matches need not overlap: each is widened to the whole word around it, and a key is one word.
        alternatives = "|".join(re.escape(p) for p in sorted(parts, key=len, reverse=True))
        self._parts = re.compile(alternatives) if alternatives else None

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def text(self, value: str, *, keylike: bool = False) -> str:
        """``value`` with every secret, part of one and masked form of one replaced by ``[redacted]``.

        ``keylike`` also redacts anything shaped like an OpenAI key (for upstream error messages).
        """
        if self._parts is not None and value:
            spans = [m.span() for m in self._parts.finditer(value)]
            if spans:
                value = _redact_spans(value, spans)
            if any(mark in value for mark in ("**", "...", "…", "••")):
                value = _MASKED.sub(self._masked, value)
        if keylike:
            value = _KEYLIKE.sub(REDACTED, value)
        return value

    def leaks(self, value: str) -> bool:
        """True if ``value`` carries a secret or a part of one (what :meth:`text` would change)."""
        return self.text(value) != value

    def tree(self, value: Any) -> Any:
        """A JSON value (dicts, lists, strings…) with every string in it, keys included, scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.tree(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.tree(v) for v in value]
        return value

    def json_bytes(self, raw: bytes) -> bytes:
        """A raw JSON document (a sideband event) with its secrets scrubbed; unchanged when clean.

        JSON may spell a character as ``\\uXXXX``, which hides it from a scan of the raw text: such a
        document is parsed, scrubbed and serialised again.
        """
        if not self:
            return raw
        text = raw.decode("utf-8", "replace")
        if "\\u" not in text:
            clean = self.text(text)
            return raw if clean == text else clean.encode()
        try:
            document = json.loads(text)
        except ValueError:
            return self.text(text).encode()
        clean_document = self.tree(document)
        if clean_document == document:
            return raw
        return json.dumps(clean_document, ensure_ascii=False, separators=(",", ":")).encode()

    def _masked(self, match: re.Match[str]) -> str:
        head, tail = match.group("head"), match.group("tail")
        for secret in self.secrets:
            if (len(head) >= _MASK_REVEAL and secret.startswith(head)) or (
                len(tail) >= _MASK_REVEAL and secret.endswith(tail)
            ):
                return REDACTED
        return match.group(0)


def _parts(secret: str) -> set[str]:
    """Every ``MIN_PART``-long run of ``secret`` that is not inside its public prefix (or the whole
    secret, when it is too short to have parts)."""
    if len(secret) <= MIN_PART:
        return {secret}
    prefix = _PUBLIC_PREFIX.match(secret)
    start = max(0, (prefix.end() if prefix else 0) - MIN_PART + 1)
    return {secret[i : i + MIN_PART] for i in range(start, len(secret) - MIN_PART + 1)}


def _redact_spans(value: str, spans: list[tuple[int, int]]) -> str:
    """Replace each maximal union of overlapping ``spans`` (sorted by start), widened to the whole
    word it sits in (``sk-proj-`` before a part goes with it), with one marker. Linear in ``value``."""
    pieces: list[str] = []
    cursor = 0
    current: list[int] | None = None
    for start, end in spans:
        if current is not None and start <= current[1]:
            if end > current[1]:
                current[1] = _word_end(value, end)
            continue
        if current is not None:
            pieces += [value[cursor : current[0]], REDACTED]
            cursor = current[1]
        current = [_word_start(value, start, cursor), _word_end(value, end)]
    assert current is not None
    pieces += [value[cursor : current[0]], REDACTED, value[current[1] :]]
    return "".join(pieces)


def _word_start(value: str, start: int, floor: int) -> int:
    while start > floor and _is_word(value[start - 1]):
        start -= 1
    return start


def _word_end(value: str, end: int) -> int:
    match = _WORD.match(value, end)
    return match.end() if match else end


def _is_word(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in "_-")
