"""The local executor: the files analysed one after the other in this process, on the
driver's ``Analyzer`` (models loaded once).

A crash in native code (a decoder, a model) or a kill for memory ends the whole process,
and a resumed run would begin the same file again and end the same way: each file is marked
as begun in its result folder first (``marks``), and a file during which the run ended
``1 + run.max_retries`` times gets an error row instead (``worker_lost``, as a Ray worker that
dies on every try), and the batch goes on past it. Stopping the run with Ctrl-C does not count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ...pipeline import Analyzer, FileOutcome, Job, analyse_file, failed
from .. import marks

log = logging.getLogger("audiopipe")


def analyse(jobs: list[Job], analyzer: Analyzer, finish: Callable[[Job, FileOutcome], None]) -> None:
    for job in jobs:
        outcome = _analyse_here(analyzer, job, analyzer.cfg.run.max_retries)
        finish(job, outcome)
        if outcome.worker != "lost":  # the run did not end in it; a skipped file keeps its count
            marks.let_go(job.folder)


def _analyse_here(analyzer: Analyzer, job: Job, max_retries: int) -> FileOutcome:
    """One file, marked as begun in its result folder first (see the module docstring)."""
    times = marks.begun(job.folder, job.key)
    if times > max_retries:
        return failed(job, "worker_lost",
                      f"the run ended while analysing {job.media.path} {times} time(s) (a crash in a decoder "
                      f"or model, or killed for lack of memory?); the rest of the batch went on. To try it "
                      f"again, delete {job.folder / marks.BEGUN_NAME} and run the same command")
    if times:
        log.warning(f"{job.progress} {job.media.path}: the run ended while analysing it {times} time(s) "
                    f"before; trying again (try {times + 1} of {max_retries + 1}, then it is skipped)")
    try:
        marks.mark_begun(job.folder, job.key, times + 1)
    except OSError:
        pass  # no room for the mark: the result will not be written either, and says why
    try:
        return analyse_file(analyzer, job)
    except KeyboardInterrupt:
        marks.let_go(job.folder)  # the user stopped the run: not the file's doing
        raise
