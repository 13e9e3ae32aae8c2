"""Inter-annotator agreement: Krippendorff's alpha, Fleiss' kappa, pairwise Cohen's kappa,
per-item agreement and entropy.

``consensus.agreement(data)`` reads (or takes) judgments, runs the kernels of
:mod:`consensus.kernels.agreement` and returns an :class:`AgreementReport`
whose tables carry the original item and annotator ids. Abstentions
("can't tell") are ignored by every metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from consensus.errors import InputError, check_param

if TYPE_CHECKING:
    import polars as pl

    from consensus.data import Judgments
    from consensus.io.readers import Source

#: Default least number of co-labelled items for an annotator pair to get a Cohen's kappa.
MIN_OVERLAP = 10

#: Keys of :attr:`AgreementReport.summary`, in print order.
SUMMARY_KEYS = (
    "krippendorff_alpha", "fleiss_kappa", "mean_item_agreement", "n_items_used", "n_items",
    "n_class_answers", "n_pairable_answers", "mean_cohen_kappa", "n_annotator_pairs", "min_overlap",
)


@dataclass(frozen=True)
class AgreementReport:
    """Agreement figures of one set of judgments.

    Attributes
    ----------
    summary : dict
        ``krippendorff_alpha`` (nominal), ``fleiss_kappa`` (Gwet's
        generalisation to varying answers per item; Fleiss 1971 when every item
        has the same number), ``mean_item_agreement`` (mean of the per-item
        agreement over the items used), ``n_items_used`` (items with at least
        two class answers: the only ones alpha and agreement can use),
        ``n_items``, ``n_class_answers`` (judgments that are not abstentions),
        ``n_pairable_answers`` (class answers on the items used: alpha's ``n``),
        ``mean_cohen_kappa`` (unweighted mean over the pairs in :attr:`pairs`
        whose kappa is defined), ``n_annotator_pairs`` (rows of
        :attr:`pairs`) and ``min_overlap``. Undefined figures are ``None``.
    items : polars.DataFrame
        One row per item: ``item``, ``n_labels`` (class answers), ``n_na``
        (abstentions), ``agreement`` (share of pairs of the item's answers that
        agree; null with fewer than two answers) and ``entropy`` (of the
        answer shares, natural log; null without answers).
    pairs : polars.DataFrame
        One row per annotator pair with at least ``min_overlap`` co-labelled
        items (both gave a class answer): ``worker_a``, ``worker_b``,
        ``n_items``, ``agreement`` (observed share of agreeing answers) and
        ``kappa`` (Cohen's kappa on those items; null when both annotators
        gave a single class only).
    coincidence : ndarray of float64, shape (n_classes, n_classes)
        Krippendorff's coincidence matrix, rows and columns in ``classes`` order.
    classes : list of str
    """

    summary: dict[str, Any]
    items: pl.DataFrame
    pairs: pl.DataFrame
    coincidence: np.ndarray = field(repr=False)
    classes: list[str]

    def summary_lines(self) -> list[str]:
        """The summary as the CLI prints it, one figure per line."""
        s = self.summary
        return [
            f"krippendorff_alpha   {_fmt(s['krippendorff_alpha'])}  (nominal)",
            f"fleiss_kappa         {_fmt(s['fleiss_kappa'])}",
            f"mean_item_agreement  {_fmt(s['mean_item_agreement'])}",
            f"items used           {s['n_items_used']} of {s['n_items']} (with >= 2 class answers; "
            f"{s['n_pairable_answers']} of {s['n_class_answers']} class answers)",
            f"annotator pairs      {s['n_annotator_pairs']} with >= {s['min_overlap']} co-labelled "
            f"items; mean Cohen's kappa {_fmt(s['mean_cohen_kappa'])}",
        ]


def agreement(data: Judgments | Source, *, min_overlap: int = MIN_OVERLAP) -> AgreementReport:
    """Inter-annotator agreement of a delivery.

    Parameters
    ----------
    data : Judgments, path, glob, list of paths, polars or pandas DataFrame
        Judgments, or anything :func:`consensus.read_judgments` reads.
    min_overlap : int, default 10
        Least number of co-labelled items for an annotator pair to be listed
        in :attr:`AgreementReport.pairs`.

    Returns
    -------
    AgreementReport

    Raises
    ------
    ParameterError
        ``min_overlap`` is not a positive integer.
    InputError
        The input cannot be read, or (for :class:`Judgments` built from codes)
        one annotator gave two class answers to the same item.

    Examples
    --------
    >>> import polars as pl, consensus
    >>> frame = pl.DataFrame({"item": ["a", "a", "b", "b"], "worker": ["x", "y", "x", "y"],
    ...                       "label": ["cat", "cat", "dog", "dog"]})
    >>> consensus.agreement(frame).summary["krippendorff_alpha"]
    1.0
    """
    check_param("agreement", "min_overlap", min_overlap,
                isinstance(min_overlap, (int, np.integer)) and not isinstance(min_overlap, bool)
                and min_overlap >= 1, "an int in the range [1, inf)")
    judgments = _as_judgments(data)
    _check_single_answers(judgments)

    from consensus.kernels import agreement as kernels

    offsets = judgments.item_offsets
    label = judgments.label
    n_classes = judgments.n_classes
    n_labels, item_agree, entropy = kernels.item_agreement(offsets, label, n_classes)
    coincidence = kernels.coincidence_matrix(offsets, label, n_classes)
    alpha, _, _ = kernels.nominal_alpha(coincidence)
    kappa, p_a, _ = kernels.fleiss_kappa(offsets, label, n_classes)
    pair_a, pair_b, pair_n, pair_observed, pair_kappa = pair_table_codes(judgments, min_overlap)

    items = _items_frame(judgments, n_labels, item_agree, entropy)
    pairs = _pairs_frame(judgments, pair_a, pair_b, pair_n, pair_observed, pair_kappa)
    defined = pair_kappa[~np.isnan(pair_kappa)]
    summary = {
        "krippendorff_alpha": _num(alpha),
        "fleiss_kappa": _num(kappa),
        "mean_item_agreement": _num(p_a),
        "n_items_used": int((n_labels >= 2).sum()),
        "n_items": judgments.n_items,
        "n_class_answers": int(n_labels.sum()),
        "n_pairable_answers": int(n_labels[n_labels >= 2].sum()),
        "mean_cohen_kappa": _num(defined.mean()) if defined.size else None,
        "n_annotator_pairs": int(pair_a.size),
        "min_overlap": int(min_overlap),
    }
    return AgreementReport(summary=summary, items=items, pairs=pairs, coincidence=coincidence,
                           classes=list(judgments.classes))


def pair_table_codes(judgments: Judgments, min_overlap: int = MIN_OVERLAP):  # noqa: ANN201
    """Cohen's kappa for annotator pairs with at least ``min_overlap`` co-labelled items.

    Pairs are emitted per item from its list of annotators (so the work is the
    number of co-labelled (item, pair) rows, never all pairs of annotators),
    sorted by pair key and reduced per pair.

    Returns
    -------
    worker_a, worker_b : int32 arrays
        Worker codes, ``worker_a < worker_b``, sorted by ``(worker_a, worker_b)``.
    n_items : int64 array
    observed, kappa : float64 arrays (NaN where undefined)
    """
    from consensus.kernels import agreement as kernels

    offsets = judgments.item_offsets
    per_item = kernels.pair_counts(offsets, judgments.worker, judgments.label)
    pair_offsets = np.zeros(per_item.size + 1, dtype=np.int64)
    np.cumsum(per_item, out=pair_offsets[1:])
    key, label_a, label_b = kernels.emit_pairs(offsets, judgments.worker, judgments.label,
                                               pair_offsets, judgments.n_workers)
    order = np.argsort(key, kind="stable")
    key = key[order]
    label_a = np.ascontiguousarray(label_a[order])
    label_b = np.ascontiguousarray(label_b[order])
    starts = np.flatnonzero(np.diff(key)) + 1 if key.size else np.zeros(0, dtype=np.int64)
    group_offsets = np.concatenate(([0], starts, [key.size])).astype(np.int64) if key.size \
        else np.zeros(1, dtype=np.int64)
    n_items, observed, kappa = kernels.reduce_pairs(group_offsets, label_a, label_b,
                                                    judgments.n_classes)
    group_key = key[group_offsets[:-1]]
    keep = n_items >= min_overlap
    group_key = group_key[keep]
    n_workers = max(judgments.n_workers, 1)
    return ((group_key // n_workers).astype(np.int32), (group_key % n_workers).astype(np.int32),
            n_items[keep], observed[keep], kappa[keep])


# -- helpers ----------------------------------------------------------------------------
def _as_judgments(data: Judgments | Source) -> Judgments:
    from consensus.data import Judgments
    from consensus.io.judgments import read_judgments

    return data if isinstance(data, Judgments) else read_judgments(data)


def _check_single_answers(judgments: Judgments) -> None:
    """Cohen's kappa needs one class answer per (item, annotator); loaders guarantee it."""
    answered = judgments.label >= 0
    item = judgments.item[answered]
    worker = judgments.worker[answered]
    repeated = (item[1:] == item[:-1]) & (worker[1:] == worker[:-1])
    if repeated.any():
        first = int(np.flatnonzero(repeated)[0]) + 1
        raise InputError(
            f"{int(repeated.sum())} repeated class answers of one annotator to one item (the first: "
            f"item {judgments.item_ids[int(item[first])]!r}, annotator "
            f"{judgments.worker_ids[int(worker[first])]!r}); agreement needs one answer per "
            "annotator and item: read the delivery with consensus.read_judgments "
            "(duplicates='first' or 'last') or drop the repeats",
            source=judgments.source)


def _items_frame(judgments: Judgments, n_labels: np.ndarray, item_agree: np.ndarray,
                 entropy: np.ndarray) -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame({
        "item": judgments.item_ids,
        "n_labels": pl.Series(n_labels, dtype=pl.Int64),
        "n_na": pl.Series(judgments.n_na_per_item, dtype=pl.Int64),
        "agreement": pl.Series(item_agree, dtype=pl.Float64).fill_nan(None),
        "entropy": pl.Series(entropy, dtype=pl.Float64).fill_nan(None),
    })


def _pairs_frame(judgments: Judgments, worker_a: np.ndarray, worker_b: np.ndarray,
                 n_items: np.ndarray, observed: np.ndarray, kappa: np.ndarray) -> pl.DataFrame:
    import polars as pl

    ids = judgments.worker_ids
    return pl.DataFrame({
        "worker_a": ids.gather(worker_a.astype(np.int64)).alias("worker_a"),
        "worker_b": ids.gather(worker_b.astype(np.int64)).alias("worker_b"),
        "n_items": pl.Series(n_items, dtype=pl.Int64),
        "agreement": pl.Series(observed, dtype=pl.Float64).fill_nan(None),
        "kappa": pl.Series(kappa, dtype=pl.Float64).fill_nan(None),
    })


def _num(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
