"""Bounding boxes: matching across annotators, reliability-weighted consensus boxes,
agreement, annotator localisation quality, box flags and per-image recommendations."""

from consensus.boxes.data import BoxSet
from consensus.boxes.model import BoxConsensus, fit_boxes
from consensus.boxes.quality import BoxResult
from consensus.boxes.readers import read_boxes

__all__ = ["BoxConsensus", "BoxResult", "BoxSet", "fit_boxes", "read_boxes"]
