"""Identifiers in OpenAI's shapes: ``event_…``, ``item_…``, ``resp_…``, ``sess_…``, ``rtc_…``, ``ek_…``.

The real API uses opaque prefixed ids; clients only rely on the prefix (the Agents SDK checks ``ek_``,
callers split ``Location`` on ``/`` to get ``rtc_…``), so random hex after the prefix is enough.
"""

from __future__ import annotations

import secrets

__all__ = ["new_id"]


def new_id(prefix: str, nbytes: int = 12) -> str:
    """A fresh random id such as ``item_5f1c…``; ``nbytes`` of entropy, hex-encoded."""
    return f"{prefix}_{secrets.token_hex(nbytes)}"
