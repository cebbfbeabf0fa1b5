"""CompareConfig: what one comparison trains, evaluates and reports."""

from __future__ import annotations

import dataclasses

from layerbridge.bridge import BridgeConfig
from layerbridge.evaluation.probe import PROBE_MAX_EXAMPLES
from layerbridge.training.config import TrainConfig


@dataclasses.dataclass
class CompareConfig:
    """`runs` maps a run name (a fusion, or a variant such as "token_softmax[init=last]") to its
    complete bridge: `train.bridge` plus that run's overrides. Each run trains with `train`'s
    settings into <train.output_dir>/<slug(name)>."""

    train: TrainConfig  # the shared training settings; train.bridge is the base every run starts from
    runs: dict[str, BridgeConfig]  # run name -> its complete bridge config
    languages: list[str]
    mode: str = "rank"
    eval_limit: int | None = None
    eval_batch_size: int = 16
    title: str = ""
    references: list[str] = dataclasses.field(default_factory=lambda: ["llm_alone", "probe"])  # reference rows
    decoding: object | None = None  # generation tasks: layerbridge.decoding.Decoding (None: each bridge's saved settings, else greedy)
    lr_grid: list[float] = dataclasses.field(default_factory=list)  # each run keeps its best lr on English dev
    probe_max_examples: int | None = PROBE_MAX_EXAMPLES  # the probe's training texts at most (N x L x D floats)

    @property
    def eval_mode(self) -> str:
        from layerbridge.tasks import get_task

        return get_task(self.train.task).evaluation_mode(self.mode)
