"""Accuracy and agreement: the one place a top-1 rate is computed, in percent."""

from __future__ import annotations

import numpy as np


def top1(scores: np.ndarray) -> np.ndarray:
    """Predicted classes from class scores [N, K] (or already predicted classes [N])."""
    scores = np.asarray(scores)
    return scores.argmax(-1) if scores.ndim == 2 else scores


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in % of class scores [N, K] (or predictions [N]) against integer labels [N]."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(100.0 * np.mean(top1(scores) == labels))


def agreement(scores: np.ndarray, reference: np.ndarray) -> float:
    """% of images on which two models' top-1 classes agree."""
    return accuracy(scores, top1(reference))
