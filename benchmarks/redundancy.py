"""Redundancy replay benchmark: adaptive labelling driven by ``advise_redundancy`` vs fixed k-redundancy.

    python benchmarks/redundancy.py [--data ../shared/datasets] [--datasets snow_rte ...]
                                    [--targets 0.9 0.95 ... 0.99999] [--start 2]
                                    [--reveal one|advice] [--experts crowd|keep]
                                    [--calibrations per_item model auto] [--gold-share 0.1]
                                    [--order-seeds 0 1 2] [--batches 1 2 4 8]
                                    [--carry labels priors] [--committee mv|wawa|onecoin|mace]
                                    [--stability B [--stability-agree Q]]
                                    [--out benchmarks/results]

For every dataset folder under ``--data`` with ``judgments.csv`` and ``gold.csv``
and at least 5 judgments per item on average, each item's real judgments are put
in a fixed random order (seeded by each of ``--order-seeds``).

* **Fixed k** (k = 1 .. the most any item has): Dawid-Skene on each item's first
  k judgments (all of them where it has fewer); accuracy on the gold items and
  labels used.
* **All**: Dawid-Skene on every judgment (the reference accuracy).
* **Adaptive** (per ``--calibrations`` x ``--targets``): reveal each item's first
  ``--start`` judgments; then repeat: fit Dawid-Skene on what is revealed, ask
  ``advise_redundancy(model, target=T, max_labels=<judgments the item has>,
  calibration=C)``, and reveal the next judgment (``--reveal one``) or the next
  ``extra_labels`` (``--reveal advice``) of every ``label_more`` item; stop when
  no such item has judgments left. Items the advice sends to ``expert_review``
  keep getting one crowd label per round while any is left (``--experts crowd``:
  the replay has no expert, so the stopping rule alone is measured), or stop
  with their crowd label (``keep``).
* **Known reliability** (a reference, not something a buyer can run): the
  same stopping rule (reveal while the top posterior is below the target) with
  the item posteriors computed from the confusion matrices and class prior of
  Dawid-Skene on *all* judgments, i.e. as if every annotator's reliability were
  known exactly before labelling. The gap between it and the adaptive run is
  what estimating reliability from the revealed labels costs.
* **Sequential batches** (``--batches N`` with N > 1, per ``--carry``, each
  calibration and target): the items are split into N seeded random batches
  of equal size (sizes differ by at most one; the same permutation for every
  N, so the batches of 2N nest in those of N) labelled one after another, as
  a buyer's deliveries. Batch b is replayed adaptively exactly as above (its
  items start with ``--start`` judgments, rounds until none of them is asked
  for more), and its finished items get nothing more. ``--carry labels``:
  every fit of batch b also includes all judgments revealed in batches
  0..b-1 (the earlier items are in the fit, so their labels inform the
  annotators' confusion matrices). ``--carry priors``: the fits of batch b
  see only batch b's judgments, with ``DawidSkene(worker_priors=...)`` set to
  the confusion matrices of Dawid-Skene on the judgments revealed in batches
  0..b-1 (for every annotator with a judgment there; worth
  ``--prior-strength`` judgments per true class). Either way, every item is
  scored once, by Dawid-Skene on all judgments revealed in all batches, and
  the labels used are counted over all batches. N = 1 is the adaptive
  replay above.
* ``--committee M`` (a probe, not the advice): each round also reveals the next
  judgment of every item whose label model ``M`` (fitted on the same revealed
  judgments) disputes: query by committee, for items whose label rests on the
  Dawid-Skene model's assumptions.
* ``--stability B`` (a probe, not the advice): each round also reveals the
  next judgment of every item whose label fewer than a share
  ``--stability-agree`` (default 1.0: all) of B Dawid-Skene refits on
  annotator-resampled data agree with (the annotators are drawn with
  replacement, a drawn twice annotator counts as two; an item none of the
  drawn annotators labelled does not count): an item is accepted only once
  its label does not depend on which annotators are in the pool, which the
  item posterior alone does not see (it treats the fitted reliability as
  exact).
* ``--gold-share S``: a seeded random share S of the gold items is the buyer's
  own gold, labelled with all their judgments (counted in the labels used):
  every fit gets it (clamped, ``calibration="gold"``, and the advice's ``rho``
  is fitted on it); those items are not scored.

Reported per dataset: accuracy on the scored gold items, agreement with the
labels of Dawid-Skene on all judgments, mean posterior confidence, fitted
``rho``, and labels used (total and share of all judgments) for every scheme;
for the adaptive runs the fixed-k accuracy at the same budget (linear
interpolation between the neighbouring k), rounds and expert items. The
operating curve: per dataset, the smallest label share at which adaptive (and
fixed k) gets within 0.5 points of Dawid-Skene on all labels, and at how many
targets adaptive beats fixed k at equal budget. The goal: within 0.5 points
with at most 50% of the labels, and above fixed redundancy at equal budget.
With several ``--order-seeds`` every scheme is replayed once per reveal order
and the operating curve has one row per dataset and order. With ``--batches``,
a batches table gives the same smallest share per carry and N next to the
adaptive (N = 1) and known-reliability figures.
Writes ``redundancy.md`` and ``redundancy.json`` to ``--out`` (after every
dataset) and prints the tables, wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from consensus import DawidSkene, Judgments, advise_redundancy, read_judgments  # noqa: E402
from consensus.methods import make_model  # noqa: E402

MIN_MEAN_LABELS = 5.0


# -- data ---------------------------------------------------------------------------------------

def eligible(data_dir: Path) -> list[str]:
    names = []
    for folder in sorted(data_dir.iterdir()):
        if (folder / "judgments.csv").exists() and (folder / "gold.csv").exists():
            items = pl.read_csv(folder / "judgments.csv", infer_schema=False, columns=["item"])
            if items.height / items["item"].n_unique() >= MIN_MEAN_LABELS:
                names.append(folder.name)
    return names


def load(folder: Path) -> tuple[Judgments, np.ndarray]:
    """Judgments (no gold attached: the fits must not see it) and gold class codes per item (-1 = none)."""
    judgments = read_judgments(folder / "judgments.csv")
    gold = pl.read_csv(folder / "gold.csv", infer_schema=False)
    item_col = next(c for c in gold.columns if c.lower() in ("item", "task", "id"))
    label_col = next(c for c in gold.columns if c != item_col)
    codes = {name: k for k, name in enumerate(judgments.classes)}
    by_item = dict(zip(gold[item_col].to_list(), gold[label_col].to_list(), strict=True))
    truth = np.array([codes.get(by_item.get(str(i)), -1) for i in judgments.item_ids.cast(pl.String).to_list()],
                     dtype=np.int32)
    return judgments, truth


def order_ranks(judgments: Judgments, seed: int) -> np.ndarray:
    """Position of every judgment in its item's fixed random order (0 = revealed first)."""
    rng = np.random.default_rng(seed)
    key = rng.random(judgments.n_judgments)
    order = np.lexsort((key, judgments.item))
    rank = np.empty(judgments.n_judgments, dtype=np.int64)
    starts = judgments.item_offsets[judgments.item[order]]
    rank[order] = np.arange(judgments.n_judgments) - starts
    return rank


def subset(judgments: Judgments, keep: np.ndarray, gold: np.ndarray | None = None) -> Judgments:
    """The revealed judgments, with the same item/worker/class code books (and the buyer's gold, if any)."""
    return Judgments(judgments.item[keep], judgments.worker[keep], judgments.label[keep],
                     judgments.item_ids, judgments.worker_ids, judgments.classes, gold=gold,
                     source=judgments.source)


def buyer_gold(truth: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A seeded random ``share`` of the gold items as the buyer's own gold (-1 elsewhere)."""
    gold = np.full(truth.size, -1, dtype=np.int32)
    if share <= 0:
        return gold
    known = np.flatnonzero(truth >= 0)
    chosen = np.random.default_rng(seed + 1).choice(known, size=max(1, int(round(share * known.size))),
                                                    replace=False)
    gold[chosen] = truth[chosen]
    return gold


def accuracy(model: DawidSkene, truth: np.ndarray, scored: np.ndarray | None = None) -> float:
    known = (truth >= 0) if scored is None else scored
    return float((model.labels_[known] == truth[known]).mean())


# -- schemes ------------------------------------------------------------------------------------

def ds(gold: np.ndarray, **params: object) -> DawidSkene:
    """Dawid-Skene as the buyer fits it: calibrated on their gold when they have some, else gold-free."""
    return DawidSkene(calibration="gold" if (gold >= 0).any() else "loo", **params)


def batch_of(n_items: int, n_batches: int, seed: int) -> np.ndarray:
    """Batch (0 .. n_batches - 1) of every item: a seeded permutation cut into equal parts.

    The permutation depends on ``seed`` only, so the batches of 2N are halves of those of N.
    """
    perm = np.random.default_rng([seed, 2]).permutation(n_items)
    batch = np.empty(n_items, dtype=np.int64)
    batch[perm] = np.arange(n_items, dtype=np.int64) * n_batches // n_items
    return batch


def restrict(judgments: Judgments, keep: np.ndarray, members: np.ndarray, gold: np.ndarray) -> Judgments:
    """The kept judgments of the ``members`` items only (item codes renumbered in order; same workers, classes)."""
    code = np.cumsum(members) - 1
    keep = keep & members[judgments.item]
    return Judgments(code[judgments.item[keep]], judgments.worker[keep], judgments.label[keep],
                     judgments.item_ids.filter(pl.Series(members)), judgments.worker_ids, judgments.classes,
                     gold=gold[members], source=judgments.source)


def fixed(judgments: Judgments, truth: np.ndarray, rank: np.ndarray, gold: np.ndarray, scored: np.ndarray,
          reference: np.ndarray) -> list[dict]:
    rows = []
    top = int(np.diff(judgments.item_offsets).max())
    for k in range(1, top + 1):
        keep = rank < k
        model = ds(gold).fit(subset(judgments, keep, gold))
        rows.append({"scheme": f"fixed k={k}", "k": k, "labels": int(keep.sum()),
                     "accuracy": accuracy(model, truth, scored),
                     "agreement_with_all": float((model.labels_[scored] == reference[scored]).mean())})
    return rows


def adaptive(judgments: Judgments, truth: np.ndarray, rank: np.ndarray, target: float, start: int,
             reveal: str, experts_mode: str = "keep", max_rounds: int = 200, calibration: str = "auto",
             gold: np.ndarray | None = None, scored: np.ndarray | None = None,
             reference: np.ndarray | None = None, committee: str | None = None,
             stability: int = 0, stability_agree: float = 1.0) -> dict:
    available = np.diff(judgments.item_offsets)
    gold = np.full(judgments.n_items, -1, dtype=np.int32) if gold is None else gold
    scored = truth >= 0 if scored is None else scored
    revealed = np.minimum(start, available)
    revealed = np.where(gold >= 0, available, revealed)  # the buyer's gold items are fully labelled (counted)
    rounds = 0
    experts = np.zeros(judgments.n_items, dtype=bool)
    while rounds < max_rounds:
        keep = rank < revealed[judgments.item]
        revealed_judgments = subset(judgments, keep, gold)
        model = ds(gold).fit(revealed_judgments)
        advice = advise_redundancy(model, target=target, max_labels=available.astype(np.int64),
                                   calibration=calibration)
        action = advice.items["action"].to_numpy()
        experts = action == "expert_review"
        asked = (action == "label_more") | (experts if experts_mode == "crowd" else False)
        if committee is not None:  # query by committee: items whose label another model disputes get more
            other = make_model(committee, calibration="none", tie_break="random", random_state=0).fit(revealed_judgments)
            asked |= np.asarray(other.labels_) != np.asarray(model.labels_)
        if stability:  # annotator bootstrap: items whose label depends on who is in the pool get more
            asked |= bootstrap_agreement(revealed_judgments, np.asarray(model.labels_), stability,
                                         seed=rounds) < stability_agree
        more = asked & (revealed < available)
        if not more.any():
            break
        step = advice.items["extra_labels"].to_numpy() if reveal == "advice" else np.ones(judgments.n_items, int)
        step = np.where(experts, 1, step)  # --experts crowd: one more crowd label per round instead of the expert
        revealed = np.where(more, np.minimum(revealed + np.maximum(step, 1), available), revealed)
        rounds += 1
    keep = rank < revealed[judgments.item]
    counts = {a: int((action == a).sum()) for a in ("accept", "label_more", "expert_review")}
    expert_known = experts & scored
    confidence = advice.items["confidence"].to_numpy()
    return {
        "scheme": f"adaptive target={target}", "target": target, "labels": int(keep.sum()),
        "accuracy": accuracy(model, truth, scored), "rounds": rounds, "final_actions": counts,
        "agreement_with_all": None if reference is None else float((model.labels_[scored] == reference[scored]).mean()),
        "mean_confidence": float(np.nanmean(confidence[scored])),
        "expert_items": int(experts.sum()),
        "expert_accuracy": float((model.labels_[expert_known] == truth[expert_known]).mean())
        if expert_known.any() else None,
        "temperature": float(model.temperature_), "rho": advice.params["rho"],
        "rho_source": advice.params["rho_source"],
    }


def annotator_bootstrap(judgments: Judgments, rng: np.random.Generator) -> Judgments:
    """The judgments of ``n_workers`` annotators drawn with replacement (a twice-drawn one counts as two)."""
    by_worker = np.argsort(judgments.worker, kind="stable")
    starts = np.searchsorted(judgments.worker[by_worker], np.arange(judgments.n_workers + 1))
    drawn = rng.integers(0, judgments.n_workers, judgments.n_workers)
    rows = np.concatenate([by_worker[starts[w]:starts[w + 1]] for w in drawn])
    new_worker = np.repeat(np.arange(judgments.n_workers), starts[drawn + 1] - starts[drawn])
    order = np.argsort(judgments.item[rows], kind="stable")
    return Judgments(judgments.item[rows][order], new_worker[order].astype(judgments.worker.dtype),
                     judgments.label[rows][order], judgments.item_ids,
                     pl.Series("worker", [str(w) for w in range(judgments.n_workers)]), judgments.classes)


def bootstrap_agreement(judgments: Judgments, labels: np.ndarray, refits: int, seed: int) -> np.ndarray:
    """Per item, the share of ``refits`` Dawid-Skene refits on annotator-resampled data giving ``labels``.

    float64 (n_items,); a refit in which no drawn annotator labelled the item does not count (1.0 when
    none does).
    """
    rng = np.random.default_rng([seed, 3])
    agree = np.zeros(judgments.n_items)
    seen = np.zeros(judgments.n_items)
    for _ in range(refits):
        sample = annotator_bootstrap(judgments, rng)
        refit = DawidSkene(calibration="none").fit(sample)
        has = np.diff(sample.item_offsets) > 0
        seen += has
        agree += has & (np.asarray(refit.labels_) == labels)
    return np.where(seen > 0, agree / np.maximum(seen, 1), 1.0)


def batched(judgments: Judgments, truth: np.ndarray, rank: np.ndarray, target: float, start: int, reveal: str,
            n_batches: int, carry: str, seed: int, experts_mode: str = "keep", max_rounds: int = 200,
            calibration: str = "auto", gold: np.ndarray | None = None, scored: np.ndarray | None = None,
            reference: np.ndarray | None = None, prior_strength: float = 4.0) -> dict:
    """The adaptive replay over ``n_batches`` sequential batches, reliability carried by ``carry`` (labels|priors).

    ``max_rounds`` caps the rounds of each batch; ``rounds`` in the result is their sum over the batches.
    """
    available = np.diff(judgments.item_offsets)
    gold = np.full(judgments.n_items, -1, dtype=np.int32) if gold is None else gold
    scored = truth >= 0 if scored is None else scored
    batch = batch_of(judgments.n_items, n_batches, seed)
    revealed = np.where(gold >= 0, available, 0)  # the buyer's gold items: fully labelled, in every fit
    experts = np.zeros(judgments.n_items, dtype=bool)
    rounds = 0
    for b in range(n_batches):
        current = (batch == b) & (gold < 0)
        revealed = np.where(current, np.minimum(start, available), revealed)
        if carry == "labels":
            members, model_params = (batch <= b) | (gold >= 0), {}
        else:
            members, model_params = current | (gold >= 0), {"prior_strength": prior_strength}
            if b > 0:
                earlier = (batch < b) | (gold >= 0)
                seen = rank < revealed[judgments.item]
                before = ds(gold).fit(restrict(judgments, seen, earlier, gold))
                workers = np.flatnonzero(np.bincount(judgments.worker[seen & earlier[judgments.item]],
                                                     minlength=judgments.n_workers))
                ids = judgments.worker_ids.to_list()
                confusion = np.asarray(before.confusion_)
                model_params["worker_priors"] = {ids[w]: confusion[w] for w in workers}
        cap = available[members].astype(np.int64)
        batch_rounds = 0
        while True:
            keep = rank < revealed[judgments.item]
            model = ds(gold, **model_params).fit(restrict(judgments, keep, members, gold))
            advice = advise_redundancy(model, target=target, max_labels=cap, calibration=calibration)
            action = np.full(judgments.n_items, "accept", dtype=object)
            action[members] = advice.items["action"].to_numpy()
            batch_experts = (action == "expert_review") & current
            asked = ((action == "label_more") | (batch_experts if experts_mode == "crowd" else False)) & current
            more = asked & (revealed < available)
            if not more.any() or batch_rounds >= max_rounds:
                break
            step = np.ones(judgments.n_items, dtype=np.int64)
            if reveal == "advice":
                step[members] = advice.items["extra_labels"].to_numpy()
            step = np.where(batch_experts, 1, step)
            revealed = np.where(more, np.minimum(revealed + np.maximum(step, 1), available), revealed)
            batch_rounds += 1
        rounds += batch_rounds
        experts |= batch_experts
    keep = rank < revealed[judgments.item]
    model = ds(gold).fit(subset(judgments, keep, gold))  # every item scored once, on everything revealed
    advice = advise_redundancy(model, target=target, max_labels=available.astype(np.int64), calibration=calibration)
    expert_known = experts & scored
    confidence = advice.items["confidence"].to_numpy()
    return {
        "scheme": f"batches={n_batches} carry={carry} target={target}", "n_batches": n_batches, "carry": carry,
        "target": target, "labels": int(keep.sum()), "accuracy": accuracy(model, truth, scored), "rounds": rounds,
        "agreement_with_all": None if reference is None else float((model.labels_[scored] == reference[scored]).mean()),
        "mean_confidence": float(np.nanmean(confidence[scored])), "expert_items": int(experts.sum()),
        "expert_accuracy": float((model.labels_[expert_known] == truth[expert_known]).mean())
        if expert_known.any() else None,
    }


def known_reliability(judgments: Judgments, truth: np.ndarray, rank: np.ndarray, everything: DawidSkene,
                      target: float, start: int, scored: np.ndarray) -> dict:
    """The stopping rule with reliability known exactly: posteriors from DS-on-all-labels' parameters.

    Labels are revealed per item in ``rank`` order (``start`` first) while the
    item's top posterior, from ``everything.confusion_`` (shape
    ``(n_workers, K, K)``, ``[w, true, given]``) and ``everything.priors_``, is
    below ``target``; the label is that posterior's argmax.
    """
    log_confusion = np.log(np.clip(np.asarray(everything.confusion_), 1e-300, None))
    log_prior = np.log(np.clip(np.asarray(everything.priors_), 1e-300, None))
    order = np.lexsort((rank, judgments.item))
    worker, label = judgments.worker[order], judgments.label[order]
    offsets = judgments.item_offsets
    threshold = np.log(target)
    used = 0
    labels = np.empty(judgments.n_items, dtype=np.int64)
    for i in range(judgments.n_items):
        score = log_prior.copy()
        n = 0
        for t in range(offsets[i], offsets[i + 1]):
            if label[t] >= 0:
                score = score + log_confusion[worker[t], :, label[t]]
            n += 1
            top = score.max()
            if n >= start and top - (top + np.log(np.exp(score - top).sum())) >= threshold:
                break
        used += n
        labels[i] = int(score.argmax())
    return {"scheme": f"known reliability target={target}", "target": target, "labels": used,
            "accuracy": float((labels[scored] == truth[scored]).mean())}


def at_budget(fixed_rows: list[dict], labels: float) -> float:
    """Fixed-k accuracy interpolated linearly in labels used."""
    xs = np.array([r["labels"] for r in fixed_rows], dtype=float)
    ys = np.array([r["accuracy"] for r in fixed_rows])
    return float(np.interp(labels, xs, ys))


def run_dataset(folder: Path, targets: list[float], start: int, reveal: str, seed: int,
                experts_mode: str = "keep", calibrations: tuple[str, ...] = ("auto",),
                gold_share: float = 0.0, batches: tuple[int, ...] = (1,), carries: tuple[str, ...] = ("labels",),
                prior_strength: float = 4.0, committee: str | None = None, stability: int = 0,
                stability_agree: float = 1.0) -> dict:
    t0 = time.perf_counter()
    judgments, truth = load(folder)
    rank = order_ranks(judgments, seed)
    gold = buyer_gold(truth, gold_share, seed)
    scored = (truth >= 0) & (gold < 0)  # the buyer's gold items are not scored
    everything = ds(gold).fit(subset(judgments, np.ones(judgments.n_judgments, dtype=bool), gold))
    reference = np.asarray(everything.labels_)
    all_row = {"scheme": "all labels", "labels": judgments.n_judgments,
               "accuracy": accuracy(everything, truth, scored)}
    fixed_rows = fixed(judgments, truth, rank, gold, scored, reference)
    adaptive_rows = []
    for calibration in calibrations:
        for target in targets:
            row = adaptive(judgments, truth, rank, target, start, reveal, experts_mode, calibration=calibration,
                           gold=gold, scored=scored, reference=reference, committee=committee,
                           stability=stability, stability_agree=stability_agree)
            row["calibration"] = calibration
            row["fixed_at_budget"] = at_budget(fixed_rows, row["labels"])
            row["label_share"] = row["labels"] / judgments.n_judgments
            row["gap_to_all_points"] = 100 * (all_row["accuracy"] - row["accuracy"])
            row["goal_met"] = bool(row["gap_to_all_points"] <= 0.5 and row["label_share"] <= 0.5)
            row["beats_fixed"] = bool(row["accuracy"] > row["fixed_at_budget"])
            adaptive_rows.append(row)
    batch_rows = []
    for n_batches in (n for n in batches if n > 1):
        for carry in carries:
            for calibration in calibrations:
                for target in targets:
                    row = batched(judgments, truth, rank, target, start, reveal, n_batches, carry, seed, experts_mode,
                                  calibration=calibration, gold=gold, scored=scored, reference=reference,
                                  prior_strength=prior_strength)
                    row["calibration"] = calibration
                    row["label_share"] = row["labels"] / judgments.n_judgments
                    row["gap_to_all_points"] = 100 * (all_row["accuracy"] - row["accuracy"])
                    row["goal_met"] = bool(row["gap_to_all_points"] <= 0.5 and row["label_share"] <= 0.5)
                    batch_rows.append(row)
    known_rows = []
    for target in targets:
        row = known_reliability(judgments, truth, rank, everything, target, start, scored)
        row["label_share"] = row["labels"] / judgments.n_judgments
        row["gap_to_all_points"] = 100 * (all_row["accuracy"] - row["accuracy"])
        known_rows.append(row)
    within_known = [r["label_share"] for r in known_rows if r["gap_to_all_points"] <= 0.5]
    return {"dataset": folder.name, "order_seed": seed, "items": judgments.n_items, "gold_items": int((truth >= 0).sum()),
            "scored_items": int(scored.sum()), "buyer_gold_items": int((gold >= 0).sum()),
            "classes": judgments.n_classes, "judgments": judgments.n_judgments, "all": all_row,
            "fixed": fixed_rows, "adaptive": adaptive_rows, "known_reliability": known_rows, "batched": batch_rows,
            "curve": curve(all_row, fixed_rows, adaptive_rows, judgments.n_judgments)
            | {"known_min_share_within_half_point": min(within_known) if within_known else None},
            "batch_curve": batch_curve(batch_rows),
            "seconds": time.perf_counter() - t0}


def curve(all_row: dict, fixed_rows: list[dict], adaptive_rows: list[dict], n: int) -> dict:
    """Per calibration: the smallest label share within 0.5 points of DS-all, and wins over fixed k at equal budget."""
    out: dict = {}
    within_fixed = [r["labels"] / n for r in fixed_rows if 100 * (all_row["accuracy"] - r["accuracy"]) <= 0.5]
    for calibration in dict.fromkeys(r["calibration"] for r in adaptive_rows):
        rows = [r for r in adaptive_rows if r["calibration"] == calibration]
        within = [r["label_share"] for r in rows if r["gap_to_all_points"] <= 0.5]
        out[calibration] = {"min_share_within_half_point": min(within) if within else None,
                            "beats_fixed": sum(r["beats_fixed"] for r in rows),
                            "ties_fixed": sum(r["accuracy"] == r["fixed_at_budget"] for r in rows),
                            "points": len(rows)}
    out["fixed_min_share_within_half_point"] = min(within_fixed) if within_fixed else None
    return out


def batch_curve(rows: list[dict]) -> dict:
    """Per ``calibration/carry/N``: the smallest label share within 0.5 points of DS-all (None: never)."""
    out: dict = {}
    for key in dict.fromkeys((r["calibration"], r["carry"], r["n_batches"]) for r in rows):
        within = [r["label_share"] for r in rows if (r["calibration"], r["carry"], r["n_batches"]) == key
                  and r["gap_to_all_points"] <= 0.5]
        out["/".join(map(str, key))] = min(within) if within else None
    return out


# -- report -------------------------------------------------------------------------------------

def table(result: dict) -> list[str]:
    n = result["judgments"]
    lines = [f"### {result['dataset']}, order seed {result['order_seed']} ({result['items']} items, {result['gold_items']} with gold, "
             f"{result['scored_items']} scored, {result['classes']} classes, {n} judgments)", "",
             "| scheme | labels | share of all | accuracy | agrees with DS-all | mean confidence | rho | "
             "fixed k at same budget | rounds | expert items |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    all_row = result["all"]
    lines.append(f"| DS, all labels | {all_row['labels']} | 100% | {all_row['accuracy']:.4f} | | | | | | |")
    for r in result["adaptive"]:
        mark = " (goal met)" if r["goal_met"] else ""
        rho = "" if r["rho"] is None else f"{r['rho']:.2f}"
        lines.append(f"| **{r['scheme']} ({r['calibration']})**{mark} | {r['labels']} | {r['labels'] / n:.1%} | "
                     f"{r['accuracy']:.4f} | {r['agreement_with_all']:.4f} | {r['mean_confidence']:.4f} | {rho} | "
                     f"{r['fixed_at_budget']:.4f} | {r['rounds']} | {r['expert_items']} |")
    for r in result.get("batched", []):
        mark = " (goal met)" if r["goal_met"] else ""
        lines.append(f"| **{r['scheme']} ({r['calibration']})**{mark} | {r['labels']} | {r['labels'] / n:.1%} | "
                     f"{r['accuracy']:.4f} | {r['agreement_with_all']:.4f} | {r['mean_confidence']:.4f} | | | "
                     f"{r['rounds']} | {r['expert_items']} |")
    for r in result["known_reliability"]:
        lines.append(f"| {r['scheme']} (reference) | {r['labels']} | {r['labels'] / n:.1%} | {r['accuracy']:.4f} | "
                     "| | | | | |")
    for r in result["fixed"]:
        lines.append(f"| {r['scheme']} | {r['labels']} | {r['labels'] / n:.1%} | {r['accuracy']:.4f} | "
                     f"{r['agreement_with_all']:.4f} | | | | | |")
    return lines + [""]


def summary(results: list[dict]) -> list[str]:
    lines = ["| dataset | order seed | calibration | target | DS all | adaptive | gap (points) | labels used | fixed at budget | "
             "goal (<=0.5 pt, <=50%) | beats fixed |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for res in results:
        for r in res["adaptive"]:
            lines.append(f"| {res['dataset']} | {res['order_seed']} | {r['calibration']} | {r['target']} | {res['all']['accuracy']:.4f} | "
                         f"{r['accuracy']:.4f} | {r['gap_to_all_points']:+.2f} | {r['label_share']:.1%} | "
                         f"{r['fixed_at_budget']:.4f} | {'yes' if r['goal_met'] else 'no'} | "
                         f"{'yes' if r['beats_fixed'] else 'no'} |")
    return lines


def curve_summary(results: list[dict]) -> list[str]:
    """One line per dataset: smallest share within 0.5 points (adaptive per calibration, fixed k), wins."""
    calibrations = list(dict.fromkeys(r["calibration"] for res in results for r in res["adaptive"]))
    head = "| dataset | order seed | DS all | fixed k: smallest share within 0.5 pt | " + " | ".join(
        f"{c}: smallest share within 0.5 pt | {c}: beats fixed (of targets)" for c in calibrations) + \
        " | known reliability (reference): smallest share within 0.5 pt |"
    lines = [head, "|---|---:|---:|---:|" + "---:|---:|" * len(calibrations) + "---:|"]

    def share(x: float | None) -> str:
        return "never" if x is None else f"{x:.1%}"

    for res in results:
        c = res["curve"]
        cells = [f"{share(c[k]['min_share_within_half_point'])} | {c[k]['beats_fixed']}/{c[k]['points']}"
                 for k in calibrations]
        lines.append(f"| {res['dataset']} | {res['order_seed']} | {res['all']['accuracy']:.4f} | "
                     f"{share(c['fixed_min_share_within_half_point'])} | " + " | ".join(cells) +
                     f" | {share(c['known_min_share_within_half_point'])} |")
    return lines


def batch_summary(results: list[dict]) -> list[str]:
    """One line per dataset and order: smallest share within 0.5 points per calibration/carry/N, beside N = 1."""
    keys = list(dict.fromkeys(k for res in results for k in res.get("batch_curve", {})))
    if not keys:
        return []
    calibrations = list(dict.fromkeys(k.split("/")[0] for k in keys))

    def share(x: float | None) -> str:
        return "never" if x is None else f"{x:.1%}"

    head = ("| dataset | order seed | DS all | " + " | ".join(f"adaptive N=1 ({c})" for c in calibrations) + " | "
            + " | ".join(f"{k.split('/')[1]} N={k.split('/')[2]} ({k.split('/')[0]})" for k in keys)
            + " | known reliability (reference) |")
    lines = ["Smallest share of the labels at which accuracy is within 0.5 points of DS on all labels "
             "(`never`: no target gets there).", "", head,
             "|---|---:|---:|" + "---:|" * (len(calibrations) + len(keys) + 1)]
    for res in results:
        c = res["curve"]
        lines.append(f"| {res['dataset']} | {res['order_seed']} | {res['all']['accuracy']:.4f} | "
                     + " | ".join(share(c[k]["min_share_within_half_point"]) for k in calibrations) + " | "
                     + " | ".join(share(res["batch_curve"].get(k)) for k in keys)
                     + f" | {share(c['known_min_share_within_half_point'])} |")
    return lines


def shown(value: object) -> str:
    """A path relative to the repository (``../shared/...`` for the shared data), anything else as text."""
    if isinstance(value, Path):
        try:
            return os.path.relpath(value.resolve(), ROOT)
        except ValueError:
            return str(value)
    return str(value)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batches_note(args: argparse.Namespace) -> str:
    if not any(n > 1 for n in args.batches):
        return ""
    return (f", sequential batches N = {' '.join(map(str, args.batches))} carrying {' and '.join(args.carry)}"
            + (f" (prior strength {args.prior_strength:g})" if "priors" in args.carry else ""))


def write(args: argparse.Namespace, argv: list[str] | None, results: list[dict], t0: float) -> None:
    command = "python benchmarks/redundancy.py " + " ".join(argv if argv is not None else sys.argv[1:])
    head = [f"# Redundancy replay ({platform.python_version()}, {platform.machine()})", "",
            f"`{command.strip()}`: start {args.start} label(s) per item, reveal {args.reveal}, "
            f"expert items {args.experts}, buyer's gold {args.gold_share:.0%} of the gold items, "
            f"order seeds {' '.join(map(str, args.order_seeds))}{batches_note(args)}; wall {time.perf_counter() - t0:.0f} s, peak RSS {peak_rss_mb():.0f} MB",
            "", "A target is the stopping threshold on the model's posterior (an item is accepted once its top "
            "class reaches it); it is the accuracy of the accepted items only as far as that posterior is "
            "calibrated: compare the mean confidence with the accuracy and the agreement with DS on all labels.", ""]
    batches = batch_summary(results)
    text = head + (["## Sequential batches", ""] + batches + [""] if batches else []) + \
        ["## Operating curve", ""] + curve_summary(results) + ["", "## Summary", ""] + summary(results) + \
        ["", "## Per dataset", ""] + [line for res in results for line in table(res)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "redundancy.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    (args.out / "redundancy.json").write_text(json.dumps({"args": {k: shown(v) for k, v in vars(args).items()},
                                                          "results": results}, indent=1), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--datasets", nargs="*", help="folder names (default: every eligible one)")
    parser.add_argument("--targets", nargs="+", type=float,
                        default=[0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 0.9999, 0.99999])
    parser.add_argument("--calibrations", nargs="+", choices=("auto", "per_item", "model"),
                        default=["per_item"], help="advise_redundancy calibration(s) to replay")
    parser.add_argument("--gold-share", type=float, default=0.0,
                        help="share of the gold items given to the buyer as their own gold (fitted with "
                        "calibration='gold', not scored)")
    parser.add_argument("--start", type=int, default=2, help="judgments revealed per item before the first fit")
    parser.add_argument("--reveal", choices=("advice", "one"), default="one",
                        help="reveal extra_labels per round (advice) or one (one)")
    parser.add_argument("--experts", choices=("keep", "crowd"), default="crowd",
                        help="expert_review items: keep their crowd label and stop (keep; the replay has no "
                        "expert), or keep revealing their crowd labels one per round (crowd)")
    parser.add_argument("--order-seeds", nargs="+", type=int, default=[0],
                        help="one replay per reveal order (seed of each item's random judgment order)")
    parser.add_argument("--batches", nargs="+", type=int, default=[1],
                        help="numbers of sequential item batches to replay (1 = all items at once, the default; "
                        "every N > 1 adds a batched replay per --carry)")
    parser.add_argument("--carry", nargs="+", choices=("labels", "priors"), default=["labels"],
                        help="how a batch learns from the earlier ones: their revealed judgments in every fit "
                        "(labels), or their Dawid-Skene confusion matrices as worker_priors (priors)")
    parser.add_argument("--prior-strength", type=float, default=4.0,
                        help="DawidSkene prior_strength of the fits with --carry priors (judgments per true class "
                        "an earlier batch's confusion matrix is worth)")
    parser.add_argument("--committee", choices=("mv", "wawa", "onecoin", "mace"), default=None,
                        help="also reveal a label for every item whose label this model (fitted on the same "
                        "revealed judgments) disputes: query by committee, a probe (not the advice)")
    parser.add_argument("--stability", type=int, default=0, metavar="B",
                        help="also reveal a label for every item whose label fewer than --stability-agree of B "
                        "refits on annotator-resampled data agree with: a probe (not the advice)")
    parser.add_argument("--stability-agree", type=float, default=1.0, metavar="Q",
                        help="share of the --stability refits that must agree with an item's label (default 1.0)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.batches):
        parser.error("--batches must be >= 1")
    if args.stability < 0 or not 0.0 < args.stability_agree <= 1.0:
        parser.error("--stability must be >= 0 and --stability-agree in (0, 1]")
    names = args.datasets or eligible(args.data)
    t0 = time.perf_counter()
    results = []
    for name in names:
        for seed in args.order_seeds:
            res = run_dataset(args.data / name, args.targets, args.start, args.reveal, seed, args.experts,
                              tuple(args.calibrations), args.gold_share, tuple(args.batches), tuple(args.carry),
                              args.prior_strength, args.committee, args.stability, args.stability_agree)
            results.append(res)
            print("\n".join(table(res)), flush=True)
            write(args, argv, results, t0)  # after every dataset, so a long run leaves its figures so far
    print("\n".join(["## Summary", ""] + summary(results) + ["", "## Operating curve", ""] + curve_summary(results)
                    + ["", "## Sequential batches", ""] + batch_summary(results)))
    print(f"wall {time.perf_counter() - t0:.0f} s, peak RSS {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
