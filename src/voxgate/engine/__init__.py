"""The local realtime engine: an offline server speaking OpenAI's GA Realtime protocol.

The engine never imports the web layer, the SQL adapter or Settings; it is given plain config objects and
small interfaces (speech recognizer, synthesizer, voice activity detector, responder).
"""
