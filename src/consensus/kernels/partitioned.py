"""Per-partition partial sums for the partitioned (distributed) engines.

A partition holds every judgment of its items (items never span partitions)
with *local* worker codes ``0 .. n_local - 1`` (the partition's workers, in
global-code order). Each kernel returns per-local-worker partial sums that the
driver adds, in partition order, into the global per-worker arrays
(:meth:`consensus.backends.base.Backend.reduce_by_worker`); the M-step then
runs on the driver exactly as in the in-memory models. Layouts follow
:mod:`consensus.kernels.dawid_skene` (``[w, given, true]``).
"""

from __future__ import annotations

import numpy as np

from consensus._jit import parallel_kernel, prange
# re-exported for the partitioned engine: the additive sums of the fraud agreement statistic and
# of MACE's M-step live with the code that uses them in memory
from consensus.kernels.fraud_labels import agreement_stats  # noqa: F401
from consensus.kernels.mace import mace_spam_stats  # noqa: F401


@parallel_kernel
def worker_answer_stats(worker_offsets, item_by_worker, label_by_worker, posterior):
    """Expected answer counts per worker under the item posteriors.

    Parameters
    ----------
    worker_offsets : int64 (n_workers + 1,)
    item_by_worker, label_by_worker : int32 (n_judgments,)
        Judgments grouped by worker; abstentions (negative labels) are skipped.
    posterior : float64 (n_items, K)

    Returns
    -------
    counts : float64 (n_workers, K, K)
        ``sum posterior[i, true]`` over the worker's answers ``given``, indexed
        ``[w, given, true]`` (Dawid-Skene's expected counts without pseudo-counts).
    correct : float64 (n_workers,)
        ``sum posterior[i, given]`` over the worker's class answers (one-coin
        M-step, expected accuracy).
    n_answers : int64 (n_workers,)
        Class answers per worker.
    """
    n_workers = worker_offsets.size - 1
    n_classes = posterior.shape[1]
    counts = np.zeros((n_workers, n_classes, n_classes), dtype=np.float64)
    correct = np.zeros(n_workers, dtype=np.float64)
    n_answers = np.zeros(n_workers, dtype=np.int64)
    for w in prange(n_workers):
        right = 0.0
        n = 0
        for j in range(worker_offsets[w], worker_offsets[w + 1]):
            given = label_by_worker[j]
            if given < 0:
                continue
            row = posterior[item_by_worker[j]]
            for k in range(n_classes):
                counts[w, given, k] += row[k]
            right += row[given]
            n += 1
        correct[w] = right
        n_answers[w] = n
    return counts, correct, n_answers
