"""Random clickers: answers no better than chance at matching the crowd.

Each class answer is compared with the leave-one-out consensus of its item
(the most probable class under the Dawid-Skene posterior without the worker's
own answer; items nobody else answered are skipped). ``chance`` is the
agreement the worker would reach with the same answer frequencies shuffled
over the same items, and kappa ``= (agreement - chance) / (1 - chance)`` is the
chance-corrected agreement (0 = random, 1 = always the consensus).

``random_clicking`` is an exact binomial test of ``kappa < min_kappa``: the
p-value is ``P(X <= agreements)`` for ``X ~ Binomial(n, chance + min_kappa *
(1 - chance))``. It flags uniform random clickers and straight-liners alike
(their kappa is 0). The evidence columns add the one-sided exact p-value of
"better than chance" (``random_p_above_chance``) and the spammer score of the
worker's Dawid-Skene confusion matrix (Raykar & Yu 2012: 1 = answers
independent of the truth).
"""

from __future__ import annotations

import numpy as np

from consensus import reliability
from consensus.fraud import _stats
from consensus.fraud._base import Context, DetectorOutput, TestResult, full


def run(ctx: Context) -> DetectorOutput:
    j = ctx.judgments
    config = ctx.config
    out = DetectorOutput()
    if j.n_classes < 2:
        return out
    _, _, n, agree, chance = ctx.agreement
    tau = config.min_kappa
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, agree / np.maximum(n, 1), np.nan)
        kappa = np.where(chance < 1.0, (rate - chance) / (1.0 - chance), np.nan)
    alternative = chance + tau * (1.0 - chance)
    p = _stats.binom_lower(agree, n, np.nan_to_num(alternative, nan=1.0))
    p = np.where((n >= config.min_judgments) & np.isfinite(kappa), p, np.nan)
    effect = np.nan_to_num(kappa, nan=2.0) < tau
    out.tests.append(TestResult("random_clicking", n.astype(np.int64), kappa, full(j.n_workers, tau), p, effect))
    out.columns["consensus_agreement"] = rate
    out.columns["chance_agreement"] = chance
    out.columns["random_p_above_chance"] = _stats.binom_upper(agree, n, np.nan_to_num(chance, nan=0.0))
    out.columns["spammer_score"] = reliability.spammer_score(ctx.model.confusion_)
    return out
