"""The default conversation of a session: an ordered list of GA items plus the audio they hold. Sans-I/O.

Items are kept as the JSON the server shows (``{id, type, status, role, content}``); the audio of an item
(committed user audio, client-supplied ``input_audio``, synthesized assistant audio) is kept aside as
bytes, so ``added``/``done`` events stay small and only ``conversation.item.retrieved`` carries it, base64.
"""

from __future__ import annotations

import base64
import binascii
import copy
from typing import Any

from voxgate.engine.ids import new_id
from voxgate.errors import InvalidRequest

__all__ = ["PCM16_24K_BYTES_PER_MS", "Conversation"]

PCM16_24K_BYTES_PER_MS = 48  # 24 000 samples/s * 2 bytes / 1000
#: Audio a conversation keeps, all items together: about 11 minutes of 24 kHz PCM16. Past it the oldest
#: items lose their audio bytes (not their text or their place in usage), so a client that appends and
#: commits for an hour cannot grow a session's memory without bound.
MAX_AUDIO_BYTES = 32 * 1024 * 1024


class Conversation:
    """Items in order, with insert-after, retrieve, truncate and delete as the protocol defines them."""

    def __init__(self, *, max_audio_bytes: int = MAX_AUDIO_BYTES) -> None:
        self.id = new_id("conv")
        self._items: list[dict[str, Any]] = []
        # item id -> (audio bytes, bytes per millisecond of that audio's format), oldest first
        self._audio: dict[str, tuple[bytes, int]] = {}
        # item id -> milliseconds of audio it held, kept when its bytes are dropped (usage counts it)
        self._audio_ms: dict[str, int] = {}
        self._audio_bytes = 0
        self._max_audio_bytes = max_audio_bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return any(item["id"] == item_id for item in self._items)

    def items(self) -> list[dict[str, Any]]:
        """A deep copy of the items in order (what a responder sees)."""
        return copy.deepcopy(self._items)

    def last_id(self) -> str | None:
        """The id of the last item, i.e. the ``previous_item_id`` of an item appended now."""
        return self._items[-1]["id"] if self._items else None

    def insert(
        self, item: dict[str, Any], previous_item_id: str | None = None, *, audio_bytes_per_ms: int = 48
    ) -> str | None:
        """Add ``item`` after ``previous_item_id`` (``"root"`` = first, ``None`` = last).

        Fills in ``id`` and ``status``; moves any base64 ``audio`` out of the content. Returns the id of the
        item now before it (``None`` at the start).
        """
        item = copy.deepcopy(item)
        item_id = item.setdefault("id", new_id("item"))
        if any(existing["id"] == item_id for existing in self._items):
            raise InvalidRequest(
                f"Item with id '{item_id}' already exists.", code="item_already_exists", param="item.id"
            )
        item.setdefault("status", "completed")
        self._take_audio(item, audio_bytes_per_ms)
        if previous_item_id is None:
            index = len(self._items)
        elif previous_item_id == "root":
            index = 0
        else:
            index = self._index(previous_item_id, param="previous_item_id") + 1
        self._items.insert(index, item)
        return self._items[index - 1]["id"] if index > 0 else None

    def _take_audio(self, item: dict[str, Any], bytes_per_ms: int) -> None:
        for part in item.get("content") or []:
            if part.get("type") == "input_audio":
                part.setdefault("transcript", None)
            encoded = part.pop("audio", None)
            if encoded:
                try:
                    audio = base64.b64decode(encoded, validate=True)
                except (binascii.Error, ValueError):
                    raise InvalidRequest(
                        "Invalid 'item.content.audio': expected base64-encoded audio.", param="item.content"
                    ) from None
                self._keep_audio(item["id"], audio, bytes_per_ms)

    def set_audio(self, item_id: str, audio: bytes, bytes_per_ms: int = PCM16_24K_BYTES_PER_MS) -> None:
        """Attach audio to an item (committed user audio or synthesized assistant audio)."""
        self._index(item_id)
        self._keep_audio(item_id, audio, bytes_per_ms)

    def _keep_audio(self, item_id: str, audio: bytes, bytes_per_ms: int) -> None:
        self._drop_audio(item_id)
        self._audio[item_id] = (audio, bytes_per_ms)
        self._audio_ms[item_id] = len(audio) // bytes_per_ms
        self._audio_bytes += len(audio)
        for oldest in list(self._audio):
            if self._audio_bytes <= self._max_audio_bytes:
                break
            if oldest != item_id:
                self._drop_audio(oldest)

    def _drop_audio(self, item_id: str) -> None:
        held = self._audio.pop(item_id, None)
        if held is not None:
            self._audio_bytes -= len(held[0])

    @property
    def audio_bytes(self) -> int:
        """Bytes of audio held now, all items together (at most the budget, or one item's worth)."""
        return self._audio_bytes

    def audio_ms(self, item_id: str) -> int:
        """Milliseconds of audio the item holds or held (0 if none): what its input tokens count."""
        return self._audio_ms.get(item_id, 0)

    def previous_id(self, item_id: str) -> str | None:
        """The id of the item just before ``item_id`` (``None`` if it is first)."""
        index = self._index(item_id)
        return self._items[index - 1]["id"] if index > 0 else None

    def get(self, item_id: str) -> dict[str, Any]:
        """The item with its audio included (base64), for ``conversation.item.retrieved``."""
        item = copy.deepcopy(self._items[self._index(item_id)])
        audio = self._audio.get(item_id)
        if audio is not None:
            for part in item.get("content") or []:
                if part.get("type") in ("input_audio", "output_audio"):
                    part["audio"] = base64.b64encode(audio[0]).decode("ascii")
                    break
        return item

    def replace(self, item: dict[str, Any]) -> None:
        """Store the final form of an item that is already in the conversation (a response's output)."""
        self._items[self._index(item["id"])] = copy.deepcopy(item)

    def delete(self, item_id: str) -> None:
        """Remove an item and its audio."""
        del self._items[self._index(item_id)]
        self._drop_audio(item_id)
        self._audio_ms.pop(item_id, None)

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Cut an assistant audio item's audio at ``audio_end_ms`` and drop its transcript.

        The transcript goes because it may hold words the user never heard (the SDK's documented rule).
        """
        item = self._items[self._index(item_id)]
        content = item.get("content") or []
        if item.get("role") != "assistant" or not 0 <= content_index < len(content):
            raise InvalidRequest(
                "Only assistant messages with audio content can be truncated.", param="content_index"
            )
        part = content[content_index]
        if part.get("type") != "output_audio":
            raise InvalidRequest("Only audio content can be truncated.", param="content_index")
        if audio_end_ms < 0:
            raise InvalidRequest("'audio_end_ms' must not be negative.", param="audio_end_ms")
        have_ms = self.audio_ms(item_id)
        if audio_end_ms > have_ms:
            raise InvalidRequest(
                f"Audio content of {have_ms}ms is already shorter than {audio_end_ms}ms",
                param="audio_end_ms",
            )
        self._cut_audio(item_id, audio_end_ms)
        part["transcript"] = ""

    def keep_audio(self, item_id: str, audio_end_ms: int) -> None:
        """Keep only the first ``audio_end_ms`` of an item's audio (what was played of it); the
        transcript stays, as it already holds only what began to play."""
        if item_id in self._audio_ms:
            self._cut_audio(item_id, max(audio_end_ms, 0))

    def _cut_audio(self, item_id: str, audio_end_ms: int) -> None:
        ms = min(audio_end_ms, self._audio_ms.get(item_id, 0))
        held = self._audio.get(item_id)
        if held is not None:
            audio, per_ms = held
            self._keep_audio(item_id, audio[: ms * per_ms], per_ms)
        self._audio_ms[item_id] = ms  # also for an item whose bytes the budget already dropped

    def _index(self, item_id: str, *, param: str = "item_id") -> int:
        for index, item in enumerate(self._items):
            if item["id"] == item_id:
                return index
        raise InvalidRequest(f"Item with item_id not found: {item_id}", code="item_not_found", param=param)
