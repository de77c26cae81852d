"""The local realtime engine: an offline server speaking OpenAI's GA Realtime protocol.

The engine never imports the web layer, the SQL adapter or Settings; it is given plain config objects and
small interfaces (speech recognizer, synthesizer, voice activity detector, responder). A gateway imports
it only when it embeds it.

Layout (imports point down; import-linter enforces the layers and that no siblings form a cycle)::

    server/      the OpenAI-compatible face: HTTP routes, the WebSocket, keys, request bodies, Engine
    rtc/         WebRTC media: offers, the aiortc peer, the oai-events channel, paced playback, ICE pacing
    voice/       frames -> processors -> decisions: VAD, turn detection, barge-in, transcription
    realtime/    the GA session state machine, sans-I/O: typed settings, client events, server events,
                 conversation, input/output buffers, audio output per transport, responses, captions
    assistants/  what answers: the Responder protocol, the echo assistant, Chat Completions
    speech/      Silero, Whisper, piper, espeak (the heavy imports live only here)
    ports.py     the small Protocols the rest depends on     audio.py  PCM, resampling
    config.py    EngineConfig

Entry points (imported from their modules, so importing this package stays cheap):

* :func:`voxgate.engine.server.http.create_engine_app` — the Starlette app (``/v1/realtime/...``,
  ``/v1/models``)
* :class:`voxgate.engine.server.engine.Engine` — owner of keys, calls and sessions, for apps that mount
  the engine
* :class:`voxgate.engine.config.EngineConfig` — its configuration
* :mod:`voxgate.engine.assistants.responder` — the ``Responder`` protocol and the built-in ``EchoResponder``
* :mod:`voxgate.engine.ports` — where speech plugs in (output playback, input audio observers)
* :mod:`voxgate.testing` — helpers for users' tests (an in-process engine server, a WebRTC caller)
"""
