"""The compare recipe: train and evaluate several bridges with the same seed, data and budget, then
write one report (per-language table, averages, plots). Reads top to bottom.

Each run lives in <output>/<slug(run name)>/; a finished run is reused, a killed one resumes, and a
finished evaluation of the same weights on the same examples is reused (compare.reuse), so
re-running the same command after an interruption only does the missing work.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

from layerbridge.bridge import BridgeConfig
from layerbridge.bridge.loading import load_models
from layerbridge.compare.config import CompareConfig
from layerbridge.compare.document import comparison_document
from layerbridge.compare.evaluation import layer_weight_stats
from layerbridge.compare.references import check_references, reference_rows
from layerbridge.compare.run import Inputs, train_and_evaluate
from layerbridge.compare.training import check_stage_one
from layerbridge.errors import ConfigError
from layerbridge.io import atomic_write_text, slug
from layerbridge.precision import frozen_dtype
from layerbridge.processes import processes
from layerbridge.reporting.page import write_report

HEATMAP_EXAMPLES = 64  # examples per language whose token weights are averaged for the heatmap


def compare(cfg: CompareConfig, *, overwrite: bool = False) -> Path:
    """Train and evaluate every run, then the reference rows, then write compare.json and the
    report; returns the report's path. Every process (`accelerate launch`) takes part; only the main
    one writes."""
    started = time.perf_counter()
    out = Path(cfg.train.output_dir)

    # 1. the same data and the same frozen models for every run
    inputs = load_inputs(cfg)
    check_stage_one(cfg, inputs.models)  # --init-from: every run fits the stage-1 bridge, before any training

    # 2. per run: train (or reuse / resume), evaluate (or reuse), collect layer weights
    runs = {}
    for name, bridge_cfg in cfg.runs.items():
        record = compared_run(cfg, out / slug(name), bridge_cfg, inputs, overwrite=overwrite)
        if record is not None:  # the main process
            runs[name] = record

    # 3. reference rows: how much of the encoder's own knowledge the bridges keep
    references = reference_rows(cfg, inputs, overwrite=overwrite)

    # 4. one document, one report
    if not processes().is_main_process:
        return out
    document = comparison_document(cfg, inputs, runs, references, seconds=time.perf_counter() - started)
    atomic_write_text(out / "compare.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return write_report(out, document, title=cfg.title or f"{inputs.task.name}: layer fusions compared")


def load_inputs(cfg: CompareConfig) -> Inputs:
    """The task, its English train/dev split, the test examples per language and the frozen models,
    after refusing languages the task lacks and reference rows that do not fit it."""
    from layerbridge.tasks import get_task, load_examples, load_train_dev

    base = cfg.train
    task = get_task(base.task)
    unknown = [lang for lang in cfg.languages if lang not in task.languages]
    if unknown:
        raise ConfigError(f"languages {unknown} are not in task {task.name}")
    check_references(cfg.references, task)
    tested = [lang for lang in base.dev_languages if lang in cfg.languages]
    if tested:  # allowed (a user may mean it), but the dev set then chooses the weights for those test languages
        warnings.warn(f"--dev-languages {', '.join(tested)} are also evaluated: the weights kept are chosen on "
                      f"those languages' dev rows, so their test scores are not zero-shot", UserWarning, stacklevel=2)
    data = load_train_dev(task, data_dir=base.data_dir, source=base.source, train_limit=base.train_limit,
                          dev_size=base.dev_size, seed=base.seed, dev_languages=base.dev_languages)
    evaluation = {lang: load_examples(task, lang, task.eval_split, data_dir=base.data_dir, source=base.source,
                                      limit=cfg.eval_limit, seed=base.seed) for lang in cfg.languages}
    models = load_models(base.bridge, cache_dir=base.cache_dir, dtype=frozen_dtype(base.mixed_precision))
    return Inputs(task=task, data=data, evaluation=evaluation, models=models)


def compared_run(cfg: CompareConfig, run_dir: Path, bridge_cfg: BridgeConfig, inputs: Inputs, *,
                 overwrite: bool) -> dict | None:
    """One compared bridge: trained and evaluated, with its fusion and the mean layer weights and
    weight entropy per language. The record on the main process; None elsewhere."""
    bridge, record = train_and_evaluate(cfg, run_dir, bridge_cfg, inputs, overwrite=overwrite)
    if record is None:
        return None
    record["fusion"] = bridge_cfg.fusion
    stats = {lang: layer_weight_stats(bridge, ex[:HEATMAP_EXAMPLES]) for lang, ex in inputs.evaluation.items()}
    record["layer_weights"] = {lang: mean for lang, (mean, _) in stats.items()}
    record["weight_entropy"] = {lang: entropy for lang, (_, entropy) in stats.items()}
    return record
