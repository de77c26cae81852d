"""Reading a WebRTC offer with aiortc's own SDP parser, once, before anything is built on it.

An offer the engine cannot answer is refused here with a clear 400 (``invalid_offer``, param ``sdp``)
instead of failing later inside aiortc's tasks: no media at all, a media section without a DTLS
fingerprint or ICE credentials (the DTLS handshake or ICE would fail after the answer went out), or
neither an audio section nor the data channel (nothing to talk over). A data-channel-only offer is
answered, without audio, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc.sdp import SessionDescription

from voxgate.errors import InvalidRequest

__all__ = ["Offer", "read_offer"]


@dataclass(frozen=True, slots=True)
class Offer:
    """A parsed offer: its text and what it asks for."""

    sdp: str
    audio: bool  # it has an audio section
    receives_audio: bool  # the caller will play audio (its audio section is sendrecv or recvonly)
    data_channel: bool  # it has an application (SCTP) section


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid SDP offer: {message}", code="invalid_offer", param="sdp")


def read_offer(sdp: str) -> Offer:
    """Parse ``sdp``; raises :class:`InvalidRequest` (400 ``invalid_offer``, param ``sdp``) if unusable."""
    if not sdp.lstrip().startswith("v=0"):
        raise _invalid("expected an SDP starting with 'v=0'.")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises many kinds (ValueError, KeyError, IndexError…)
        raise _invalid(f"{exc or type(exc).__name__}.") from None
    if not description.media:
        raise _invalid("expected at least one media section.")
    for media in description.media:
        if media.dtls is None or not media.dtls.fingerprints:
            raise _invalid(f"the {media.kind} section has no DTLS fingerprint (a=fingerprint).")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise _invalid(f"the {media.kind} section has no ICE credentials (a=ice-ufrag, a=ice-pwd).")
    audio = next((media for media in description.media if media.kind == "audio"), None)
    data_channel = any(media.kind == "application" for media in description.media)
    if audio is None and not data_channel:
        raise _invalid("expected an audio section or the data channel (m=audio or m=application).")
    return Offer(
        sdp=sdp,
        audio=audio is not None,
        receives_audio=audio is not None and (audio.direction or "sendrecv") in ("sendrecv", "recvonly"),
        data_channel=data_channel,
    )
