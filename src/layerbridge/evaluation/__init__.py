"""Evaluation: label predictions (rank / generate), metrics, and the per-language recipe."""

from layerbridge.evaluation.metrics import INVALID, accuracy, confusion_matrix, macro_f1
from layerbridge.evaluation.predict import MODES, predict

__all__ = ["INVALID", "MODES", "accuracy", "confusion_matrix", "macro_f1", "predict"]
