"""The aggregation methods by the names the CLI and the pipelines use (``--method``).

Importing this module is cheap (no model, no Numba): command-line parsers list
:data:`METHODS` before anything is fitted.
"""

from __future__ import annotations

from typing import Any

#: Method name -> estimator class name in :mod:`consensus.models`, in the order the CLI lists them.
ESTIMATOR_NAMES = {
    "auto": "Auto", "mv": "MajorityVote", "wawa": "Wawa", "ds": "DawidSkene",
    "onecoin": "OneCoinDawidSkene", "glad": "GLAD", "mace": "MACE",
}
METHODS = tuple(ESTIMATOR_NAMES)
#: Methods whose confidences are vote shares: they take no ``calibration``.
VOTE_METHODS = ("mv", "wawa")


def make_model(method: str, *, calibration: str | None = None, **params: Any) -> Any:
    """An unfitted estimator for ``method`` with ``params`` (an :class:`~consensus.models.base.Aggregator`).

    ``calibration`` goes to the models that have one (``auto`` and the EM
    models) and is ignored by the vote methods; ``None`` keeps each model's
    default. Raises ``KeyError`` for an unknown method (callers check names
    against :data:`METHODS` first).
    """
    from consensus import models

    if calibration is not None and method not in VOTE_METHODS:
        params["calibration"] = calibration
    return getattr(models, ESTIMATOR_NAMES[method])(**params)
