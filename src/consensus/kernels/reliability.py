"""Per-annotator evidence: expected confusion counts under item posteriors."""

from __future__ import annotations

import numpy as np

from consensus._jit import parallel_kernel, prange


@parallel_kernel
def expected_confusion_counts(worker_offsets, item_by_worker, label_by_worker, posterior):
    """Expected number of (true, given) pairs per worker.

    Parameters
    ----------
    worker_offsets : int64 (n_workers + 1,)
    item_by_worker, label_by_worker : int32 (n_judgments,)
        Judgments grouped by worker; negative labels (abstentions) are skipped.
    posterior : float64 (n_items, K)
        Probability of each true class per item (one-hot for hard labels;
        all-zero rows contribute nothing).

    Returns
    -------
    counts : float64 (n_workers, K, K), indexed ``[w, true, given]``.
    """
    n_workers = worker_offsets.size - 1
    n_classes = posterior.shape[1]
    counts = np.zeros((n_workers, n_classes, n_classes), dtype=np.float64)
    for w in prange(n_workers):
        for j in range(worker_offsets[w], worker_offsets[w + 1]):
            given = label_by_worker[j]
            if given < 0:
                continue
            item_posterior = posterior[item_by_worker[j]]
            for k in range(n_classes):
                counts[w, k, given] += item_posterior[k]
    return counts
