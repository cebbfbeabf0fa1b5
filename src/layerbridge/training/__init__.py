"""Training: the config (paper defaults, presets), deterministic batching, atomic checkpoints, the run's log and summary, the recipe."""

from layerbridge.training.config import PRESETS, TrainConfig

__all__ = ["PRESETS", "TrainConfig"]
