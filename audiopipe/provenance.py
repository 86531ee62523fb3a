"""Provenance: atomic writes, resume keys, ``manifest.json`` and ``SHA256SUMS``.

Everything a reviewer may cite must be reproducible: the manifest holds the software
versions, the models and their hashes, the whole resolved config and one entry per input;
``SHA256SUMS`` (``sha256sum -c`` format) lists every output written into the case folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .config import REPO_ROOT
from .version import __version__

LIBRARIES = ("numpy", "scipy", "av", "librosa", "soundfile", "pandas", "openpyxl", "torch",
             "ctranslate2", "faster-whisper", "openai-whisper", "pyannote.audio",
             "fasttext-predict", "matplotlib")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so that a crash leaves either the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are shared like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=1, allow_nan=False) + "\n")


def resume_key(input_sha256: str, config_hash: str, model_hashes: dict[str, dict[str, str]]) -> str:
    """The identity of one file's result: same input, same config, same models."""
    blob = json.dumps({"input": input_sha256, "config": config_hash, "models": model_hashes},
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def software_versions() -> dict[str, Any]:
    versions: dict[str, Any] = {"audiopipe": __version__, "audiopipe_git_commit": git_commit(),
                                "python": sys.version.split()[0], "platform": platform.platform()}
    for lib in LIBRARIES:
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            versions[lib] = None
    return versions


#: not listed in SHA256SUMS: the list itself, and the log, which every later run appends to
UNHASHED = ("SHA256SUMS", "audiopipe.log")


def write_sha256sums(case_dir: Path) -> Path:
    """Hash every output under the case folder (``sha256sum -c`` format)."""
    lines = []
    for p in sorted(case_dir.rglob("*")):
        if not p.is_file() or p.name in UNHASHED or p.name.startswith("."):
            continue
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        lines.append(f"{h.hexdigest()}  {p.relative_to(case_dir).as_posix()}")
    target = case_dir / "SHA256SUMS"
    atomic_write_text(target, "\n".join(lines) + "\n")
    return target
