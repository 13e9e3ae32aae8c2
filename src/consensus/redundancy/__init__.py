"""Per-item redundancy advice: accept, label more (and how many), or send to an expert.

Entry point: :func:`advise_redundancy`. The model and every output column are
described in :mod:`consensus.redundancy.advice`; the optional inputs (machine
probabilities, row importance) in :mod:`consensus.redundancy.inputs`.
"""

from consensus.redundancy.advice import (ACTIONS, RedundancyAdvice, advise_redundancy, fit_rho, item_temperature,
                                        pool_confusion)
from consensus.redundancy.inputs import (IMPORTANCE_CATEGORIES, ModelProbs, importance_from_column,
                                         importance_per_item, read_model_probs)

__all__ = ["ACTIONS", "IMPORTANCE_CATEGORIES", "ModelProbs", "RedundancyAdvice", "advise_redundancy",
           "fit_rho", "importance_from_column", "item_temperature", "importance_per_item", "pool_confusion", "read_model_probs"]
