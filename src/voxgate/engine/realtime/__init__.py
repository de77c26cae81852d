"""The GA Realtime session state machine, sans-I/O (no aiortc, av, numpy or starlette: a contract).

Typed session config, client-event dispatch, server-event builders, the conversation, input and
output audio buffers, responses, captions and usage. Transports feed it messages and audio and give it
where audio goes (:mod:`voxgate.engine.ports`)."""
