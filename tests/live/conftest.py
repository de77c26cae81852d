"""GPT-Live tests run the local engine as the upstream: its fixtures (loopback-only ICE, engine servers)."""

from tests.engine.conftest import loopback_ice, make_server

__all__ = ["loopback_ice", "make_server"]
