"""What a batch leaves in each file's result folder to resume by: ``result.json`` (written
last, atomically: a file with one is done) and, while a file is analysed by the local
executor, ``.begun.json``, the runs that began it with this resume key and ended before its
result was written (a crash, a kill)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import provenance

RESULT_NAME = "result.json"
BEGUN_NAME = ".begun.json"


def load_result(folder: Path) -> dict[str, Any] | None:
    """A file's stored result, or None when there is none or it cannot be read."""
    path = folder / RESULT_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a damaged result is redone, never trusted


def begun(folder: Path, key: str) -> int:
    """How many runs began analysing this file with this resume key and ended before its result
    was written."""
    try:
        mark = json.loads((folder / BEGUN_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return int(mark.get("times", 0)) if mark.get("resume_key") == key else 0


def mark_begun(folder: Path, key: str, times: int) -> None:
    """Say that ``times`` runs have now begun this file (this one included)."""
    folder.mkdir(parents=True, exist_ok=True)
    provenance.atomic_write_json(folder / BEGUN_NAME, {"resume_key": key, "times": times})


def let_go(folder: Path) -> None:
    """The run did not end in this file: forget that it began."""
    (folder / BEGUN_NAME).unlink(missing_ok=True)
