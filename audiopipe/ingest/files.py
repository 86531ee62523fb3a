"""Finding the evidence: the media files under an evidence folder (``walk``), what is skipped
and why (``Skipped``), each file's size checked and SHA-256 streamed (``sha256_file``).
Originals are only ever opened for reading; nothing is written inside the evidence folder.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..config import IngestConfig
from ..errors import EmptyFile, FileTooLarge, UnreadableFile
from ..records import MediaFile

HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Skipped:
    """A path under the evidence folder that is not analysed, and why."""

    path: str
    reason: str


def printable(path: str) -> str:
    """A path as text that can always be written (undecodable bytes become ``\\xNN``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def walk(root: str | Path, cfg: IngestConfig) -> tuple[list[MediaFile], list[Skipped]]:
    """Every candidate media file under ``root``, recursively, in a stable order.

    Symlinks are followed only when they point inside ``root``; folders that cannot be
    read and files with other extensions are returned as ``Skipped`` with the reason.
    """
    root = os.path.realpath(os.fspath(root))
    if not os.path.isdir(root):
        raise UnreadableFile(f"evidence folder not found or not a folder: {printable(root)}")
    found: list[MediaFile] = []
    skipped: list[Skipped] = []

    def rel(p: str) -> str:
        return printable(os.path.relpath(p, root))

    def on_error(err: OSError) -> None:
        skipped.append(Skipped(rel(err.filename or root), f"folder cannot be read: {err.strerror}"))

    for folder, dirs, files in os.walk(root, onerror=on_error, followlinks=False):
        dirs.sort()
        for name in list(dirs):
            full = os.path.join(folder, name)
            if os.path.islink(full):
                dirs.remove(name)
                skipped.append(Skipped(rel(full), "symlinked folder not followed"))
        for name in sorted(files):
            full = os.path.join(folder, name)
            if os.path.islink(full):
                target = os.path.realpath(full)
                if os.path.commonpath([root, target]) != root:
                    skipped.append(Skipped(rel(full), "symlink pointing outside the evidence folder"))
                    continue
                # a link inside the folder: its target is walked itself; list the name only
                skipped.append(Skipped(rel(full), f"symlink to {rel(target)} (analysed there)"))
                continue
            if not name.lower().endswith(cfg.extensions):
                skipped.append(Skipped(rel(full), "not a media file extension"))
                continue
            try:
                st = os.stat(full)
            except OSError as exc:
                skipped.append(Skipped(rel(full), f"cannot stat: {exc.strerror}"))
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append(Skipped(rel(full), "not a regular file"))
                continue
            found.append(MediaFile(path=rel(full), abs_path=full, size_bytes=st.st_size))
    return found, skipped


def sha256_file(path: str) -> str:
    """SHA-256 of a file, streamed in 1 MiB chunks (never read whole into memory)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(HASH_CHUNK_BYTES):
                h.update(chunk)
    except PermissionError as exc:
        raise UnreadableFile(f"permission denied reading {printable(path)}") from exc
    except OSError as exc:
        raise UnreadableFile(f"cannot read {printable(path)}: {exc.strerror}") from exc
    return h.hexdigest()


def check_size(media: MediaFile, cfg: IngestConfig) -> None:
    if media.size_bytes == 0:
        raise EmptyFile(f"zero-length file: {media.path}")
    if media.size_bytes > cfg.max_file_bytes:
        raise FileTooLarge(
            f"{media.path} is {media.size_bytes / 1024**3:.1f} GiB, above ingest.max_file_bytes "
            f"({cfg.max_file_bytes / 1024**3:.1f} GiB); raise it in the config to analyse it")


