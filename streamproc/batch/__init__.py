"""``streamproc batch``: a collection of files through one task, on this machine or a Ray cluster.

The pieces, one job each: :mod:`.discovery` turns folders, globs and list files into
(input, output) pairs mirroring the input tree; :mod:`.manifest` keeps the JSONL record under
the output folder that makes a batch resumable, and the lock that keeps two batches apart;
:mod:`.work` is what a worker does with one file (models loaded once per worker);
:mod:`.local` and :mod:`.ray_pool` run workers as local processes or as Ray actors;
:mod:`.runner` hands out the files, survives dying workers and reports progress.
"""
from __future__ import annotations

from .runner import BatchSummary, run_batch

__all__ = ["BatchSummary", "run_batch"]
