"""Fraud and speed-trap detection: per-annotator flags with evidence and statistical confidence.

One module per detector (``speed``, ``straight``, ``clicking``, ``collusion``,
``honeypot``), each a thin layer over Numba kernels in ``consensus.kernels.fraud_*``;
``detect`` runs them, controls the false discovery rate across annotators and
builds the tables. Entry point: :func:`detect_fraud`.
"""

from consensus.fraud.config import DETECTORS, TESTS, FraudConfig
from consensus.fraud.detect import FraudReport, detect_fraud, run_detectors
from consensus.fraud.exclude import Exclusion, exclude_flagged, without_workers

__all__ = ["DETECTORS", "TESTS", "Exclusion", "FraudConfig", "FraudReport", "detect_fraud",
           "exclude_flagged", "run_detectors", "without_workers"]
