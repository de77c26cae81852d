"""The console's fixtures (``voxgate serve`` on its embedded engine, Chromium) for the budget pages."""

from tests.console.conftest import (
    artifacts,
    loopback_ice,
    playwright,
    quiet_browser,
    wavs,
)

__all__ = ["artifacts", "loopback_ice", "playwright", "quiet_browser", "wavs"]
