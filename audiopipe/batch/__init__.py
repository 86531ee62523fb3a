"""The batch: every media file of an evidence folder through the per-file analysis
(``audiopipe.pipeline``), resumable, into one case folder. One module per job:

- ``loop``: the batch loop (find, hash, probe, resume, dispatch, write) (``run``, ``RunSummary``);
- ``marks``: what each result folder holds to resume by;
- ``logs``: logging and progress;
- ``executors``: where files are analysed (``local``, ``ray``), peers above the per-file
  analysis; adding one is adding a module there.
"""

from .loop import RunSummary, run

__all__ = ["RunSummary", "run"]
