"""The local realtime engine: an offline server speaking OpenAI's GA Realtime protocol.

The engine never imports the web layer, the SQL adapter or Settings; it is given plain config objects and
small interfaces (speech recognizer, synthesizer, voice activity detector, responder).

Entry points (imported from their modules, so importing this package stays cheap):

* :func:`voxgate.engine.server.http.create_engine_app` — the Starlette app (``/v1/realtime/...``,
  ``/v1/models``)
* :class:`voxgate.engine.server.engine.Engine` — owner of keys, calls and sessions, for apps that mount
  the engine
* :class:`voxgate.engine.config.EngineConfig` — its configuration
* :mod:`voxgate.engine.assistants.responder` — the ``Responder`` protocol and the built-in ``EchoResponder``
* :mod:`voxgate.engine.ports` — where speech plugs in (output playback, input audio observers)
"""
