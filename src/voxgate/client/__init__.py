"""A Python client for Realtime calls over WebRTC: OpenAI's API, a voxgate gateway, or the local engine.

Programs and tests use :class:`RealtimeClient`; :func:`mint_from_gateway` turns a voxgate key into an
``ek_`` key and the calls URL to use; :func:`transcribe_file` is ``voxgate transcribe`` as a function.
``voxgate.client.talk`` (sound card) and ``voxgate.client.target`` (CLI destination rules) are
imported on their own. This package sits at the top of the layers (beside the CLI): it
may use the engine's sans-I/O audio helpers and never imports the web app.
"""

from voxgate.client.connection import EVENTS_CHANNEL, ConnectTimings, RealtimeClient
from voxgate.client.errors import CallRejected, ConnectionClosed, ConnectTimeout, RealtimeClientError
from voxgate.client.media import Microphone, RemoteAudio, WavRecorder, read_wav
from voxgate.client.signaling import GatewayToken, is_ephemeral_key, mint_from_gateway
from voxgate.client.transcribe import TranscriptionFailed, transcribe_file

__all__ = [
    "EVENTS_CHANNEL",
    "CallRejected",
    "ConnectTimeout",
    "ConnectTimings",
    "ConnectionClosed",
    "GatewayToken",
    "Microphone",
    "RealtimeClient",
    "RealtimeClientError",
    "RemoteAudio",
    "TranscriptionFailed",
    "WavRecorder",
    "is_ephemeral_key",
    "mint_from_gateway",
    "read_wav",
    "transcribe_file",
]
