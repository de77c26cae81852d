"""WebRTC media for a call: the aiortc peer, the ``oai-events`` data channel, paced playback, ICE pacing."""
