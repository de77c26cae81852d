"""The console's fixtures (``voxgate serve`` on its embedded engine, Chromium) for the Live console tests,
in a package of their own: the browser's event loop ends with it, before the async tests of tests/live."""

from tests.console.conftest import (
    artifacts,
    loopback_ice,
    open_page,
    playwright,
    quiet_browser,
    speech_browser,
    wavs,
)

__all__ = ["artifacts", "loopback_ice", "open_page", "playwright", "quiet_browser", "speech_browser", "wavs"]
