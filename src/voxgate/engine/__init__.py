"""The local realtime engine: an offline server speaking OpenAI's GA Realtime and GPT-Live protocols.

The engine never imports the web layer, the SQL adapter or Settings; it is given plain config objects and
small interfaces (speech recognizer, synthesizer, voice activity detector, responder). A gateway imports
it only when it embeds it.

Layout (imports point down; import-linter enforces the layers and that no siblings form a cycle)::

    server/      the OpenAI-compatible face: HTTP routes, the WebSocket, keys, request bodies, Engine
    rtc/         WebRTC media: offers, the aiortc peer, the oai-events channel, paced playback, ICE pacing
    voice/       frames -> processors -> decisions: VAD, turn detection, barge-in, transcription; it
                 drives either protocol's session through ports.VoiceSession and imports neither
    realtime/    the GA session state machine, sans-I/O: typed settings, client events, server events,
                 conversation, input/output buffers, audio output per transport, responses, captions
    live/        the GPT-Live session, sans-I/O: strict startup config, channels and permissions, the
                 input-driven timeline and usage, standby, replies (shares voice, speech, assistants)
    assistants/  what answers: the echo assistant, Chat Completions (the Responder protocol is a port)
    speech/      Silero, Whisper, piper, espeak (the heavy imports live only here)
    ports.py     the small Protocols the rest depends on     audio.py  PCM, resampling
    config.py    EngineConfig                                 ids.py, tasks.py, turns.py  shared leaves

Entry points (imported from their modules, so importing this package stays cheap):

* :func:`voxgate.engine.server.http.create_engine_app` — the Starlette app (``/v1/realtime/...``,
  ``/v1/live/sessions...``, ``/v1/models``)
* :class:`voxgate.engine.server.engine.Engine` — owner of keys, calls and sessions, for apps that mount
  the engine
* :class:`voxgate.engine.config.EngineConfig` — its configuration
* :mod:`voxgate.engine.assistants.responder` — the built-in ``EchoResponder``
* :mod:`voxgate.engine.ports` — the seams: output playback, input observers, the voice pipeline's
  ``VoiceSession``, a call's ``CallSession``, the ``Responder``
* :mod:`voxgate.testing` — helpers for users' tests (an in-process engine server, a WebRTC caller)
"""
