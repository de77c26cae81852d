"""GPT-Live (``/v1/live/sessions``): the second protocol of the engine, beside GA Realtime. Sans-I/O.

* :mod:`~voxgate.engine.live.settings` — the startup config, parsed strictly, and the session resource
* :mod:`~voxgate.engine.live.events` — server event builders (Live's error shape, raw audio events)
* :mod:`~voxgate.engine.live.permissions` — ``client.data_channel`` allow-lists
* :mod:`~voxgate.engine.live.timeline` — the session clock (advanced by input audio) and its usage
* :mod:`~voxgate.engine.live.input_tape` — recent input audio, for the spans a turn commits
* :mod:`~voxgate.engine.live.output` — reply audio per transport: a continuous stream or the call's track
* :mod:`~voxgate.engine.live.reply` — the replies: responder text → sentences → speech, one at a time
* :mod:`~voxgate.engine.live.client_events` — client events parsed with the SDK's Live unions
* :mod:`~voxgate.engine.live.commands` — what each client event does
* :mod:`~voxgate.engine.live.channels` — the primary and the sidebands, in order
* :mod:`~voxgate.engine.live.conversation` — the history, transcript placement
* :mod:`~voxgate.engine.live.voice_link` — the session as the voice pipeline's ``VoiceSession``
* :mod:`~voxgate.engine.live.codec` — the session's audio format as a conversion seam
* :mod:`~voxgate.engine.live.live_session` — the session: channels, input, mute, standby, usage, close

The model's turn-taking is played by the engine's voice pipeline (:mod:`voxgate.engine.voice`), which
drives a Live session through the ``VoiceSession`` port
(:class:`~voxgate.engine.live.voice_link.LiveVoice`) as it drives a GA session. The HTTP and WebSocket
routes are in :mod:`voxgate.engine.server`.
"""
