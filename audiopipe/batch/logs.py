"""Logging and progress for a batch: the case's text log, the console (above the progress
bars, or JSON lines), control characters escaped so that one record is one line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tqdm import tqdm

from .. import provenance

log = logging.getLogger("audiopipe")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": provenance.utc_now(), "level": record.levelname.lower(), "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, ensure_ascii=False)


# control characters as escapes (a file may be named with a newline in it): one record, one line
_ESCAPES = {c: ascii(chr(c))[1:-1] for c in (*range(32), 127)}


class _LineFormatter(logging.Formatter):
    """Text log lines whose message has its control characters escaped, so that a file name
    cannot split a line or forge another one (the JSON log escapes them already)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = record.message.translate(_ESCAPES)
        return super().formatMessage(record)


class _TqdmHandler(logging.StreamHandler):
    """Log lines printed above the progress bars instead of through them."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging must never end the batch
            self.handleError(record)


def setup_logging(case_dir: Path, quiet: bool, json_log: bool) -> list[logging.Handler]:
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    file_handler = logging.FileHandler(case_dir / "audiopipe.log", encoding="utf-8")
    file_handler.setFormatter(_LineFormatter("%(asctime)s %(levelname)s %(message)s"))
    console = _TqdmHandler()
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    console.setFormatter(_JsonFormatter() if json_log else _LineFormatter("%(message)s"))
    for h in (file_handler, console):
        log.addHandler(h)
    return [file_handler, console]
