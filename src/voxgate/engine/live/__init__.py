"""GPT-Live (``/v1/live/sessions``): the second protocol of the engine, beside GA Realtime. Sans-I/O.

* :mod:`~voxgate.engine.live.settings` — the startup config, parsed strictly, and the session resource
* :mod:`~voxgate.engine.live.events` — server event builders (Live's error shape, raw audio events)
* :mod:`~voxgate.engine.live.permissions` — ``client.data_channel`` allow-lists
* :mod:`~voxgate.engine.live.timeline` — the session clock (advanced by input audio) and its usage
* :mod:`~voxgate.engine.live.input_tape` — recent input audio, for the spans a turn commits
* :mod:`~voxgate.engine.live.output` — reply audio per transport: a continuous stream or the call's track
* :mod:`~voxgate.engine.live.reply` — one spoken reply: responder text → sentences → speech
* :mod:`~voxgate.engine.live.client_events` — client events parsed with the SDK's Live unions
* :mod:`~voxgate.engine.live.live_session` — the session: channels, turns, mute, pause, usage, close

The model's turn-taking is played by the engine's voice pipeline (:mod:`voxgate.engine.voice`), which
drives a :class:`~voxgate.engine.live.live_session.LiveSession` through the ``VoiceSession`` port like it
drives a GA session. The HTTP and WebSocket routes are in :mod:`voxgate.engine.server`.
"""
