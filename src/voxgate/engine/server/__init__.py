"""The engine's OpenAI-compatible face: HTTP routes, the WebSocket, keys and request bodies, and the
:class:`~voxgate.engine.server.engine.Engine` that owns calls and sessions. No protocol logic here."""
