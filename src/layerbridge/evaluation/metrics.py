"""Classification metrics. A prediction of -1 means "invalid" (a generation matching no label):
it is wrong for accuracy, a false negative of its gold class for macro-F1, and gets its own
column in the confusion matrix."""

from __future__ import annotations

INVALID = -1


def accuracy(gold: list[int], pred: list[int]) -> float:
    return sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else float("nan")


def macro_f1(gold: list[int], pred: list[int], num_classes: int) -> float:
    """Mean F1 over the classes that occur in gold or predictions."""
    scores = []
    for c in range(num_classes):
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else float("nan")


def confusion_matrix(gold: list[int], pred: list[int], num_classes: int) -> list[list[int]]:
    """rows: gold class; columns: predicted class, then one column for invalid predictions."""
    matrix = [[0] * (num_classes + 1) for _ in range(num_classes)]
    for g, p in zip(gold, pred):
        matrix[g][p if p != INVALID else num_classes] += 1
    return matrix
