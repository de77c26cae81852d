"""Realtime upstreams behind one interface: OpenAI, or anything that speaks its GA API (the local engine)."""

from voxgate.adapters.upstream.base import ClientSecret, CreatedCall, Sideband, UnconfiguredUpstream, Upstream
from voxgate.adapters.upstream.openai import OpenAIUpstream

__all__ = ["ClientSecret", "CreatedCall", "OpenAIUpstream", "Sideband", "UnconfiguredUpstream", "Upstream"]
