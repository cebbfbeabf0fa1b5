"""The compare recipe: train and evaluate several fusions with the same seed, data and budget,
then write one report (per-language table, averages, plots). Reads top to bottom.

Each fusion's run lives in <output>/<fusion>/; a finished run is reused, a killed one resumes,
so re-running the same command after an interruption only does the missing work.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import time
from pathlib import Path

import torch

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.bridge.model import load_models
from layerbridge.bridge.saving import load_trained_weights
from layerbridge.errors import ConfigError
from layerbridge.evaluation.recipe import evaluate_task_examples
from layerbridge.fusion.base import weight_entropy
from layerbridge.io import atomic_write_text, slug
from layerbridge.machine import environment
from layerbridge.precision import frozen_dtype
from layerbridge.processes import gather_dicts, main_decides, my_share, processes
from layerbridge.reporting.page import write_report
from layerbridge.sources.llm_embeddings import PREFIX as LLM_EMBEDDINGS
from layerbridge.sources.llm_embeddings import llm_embedding_encoder
from layerbridge.reporting.tables import write_evaluation
from layerbridge.training.config import TrainConfig
from layerbridge.training.recipe import SUMMARY_NAME, train

LLM_ALONE_SOFT_PROMPT = 16  # soft-prompt vectors of the LLM-alone reference (plus a 576x576 linear adapter)
# the reference rows read the plain path whatever the bridges' projector or injection
PLAIN_PATH = {"projector_options": {}, "injection": "input", "injection_options": {}}
HEATMAP_EXAMPLES = 64  # examples per language whose token weights are averaged for the heatmap


@dataclasses.dataclass
class CompareConfig:
    train: TrainConfig  # the shared training settings (its bridge.fusion is replaced per run)
    fusions: dict[str, str]  # run name (a fusion, or a variant such as "token_softmax[init=last]") -> fusion
    fusion_options: dict[str, dict]  # per run name
    languages: list[str]
    mode: str = "rank"
    eval_limit: int | None = None
    eval_batch_size: int = 16
    title: str = ""
    references: list[str] = dataclasses.field(default_factory=lambda: ["llm_alone", "probe"])  # reference rows
    decoding: object | None = None  # generation tasks: evaluation.generation.Decoding (None: greedy defaults)
    lr_grid: list[float] = dataclasses.field(default_factory=list)  # each run keeps its best lr on English dev
    bridge_overrides: dict[str, dict] = dataclasses.field(default_factory=dict)  # per run: injection, projector (+ options)

    @property
    def eval_mode(self) -> str:
        from layerbridge.tasks import get_task

        return "generation" if get_task(self.train.task).is_generation else self.mode


REFERENCES = {"llm_alone": "the LLM reading the raw text, trained the same way",
              "llm_zero_shot": "the LLM reading the raw text after the task's instruction, no training (generation tasks)",
              "probe": "a linear probe on the frozen encoder (classification tasks)"}


def layer_weight_stats(bridge, examples) -> tuple[list[float], float]:
    """Over the real tokens of some examples: the mean layer weight (one value per fused layer) and
    the mean per-token weight entropy in nats (0: every token reads one layer; log L: uniform)."""
    weights = torch.cat([info["weights"] for info in bridge.layer_weights([e.text for e in examples])]).float()
    entropy = weight_entropy(weights[None], torch.ones(1, weights.shape[0]))[0]  # all tokens as one "example"
    return weights.mean(0).tolist(), round(float(entropy), 5)


def examples_fingerprint(evaluation: dict[str, list]) -> str:
    """sha256 over the evaluated examples (language, id, text, label): an earlier evaluation is reused
    only if it saw exactly these."""
    digest = hashlib.sha256()
    for lang in sorted(evaluation):
        for e in evaluation[lang]:
            digest.update(json.dumps([lang, e.id, e.text, e.label], ensure_ascii=False).encode())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def earlier_evaluation(folder: Path, meta: dict, languages) -> tuple[dict, dict] | None:
    """(per-language results, summary) of a finished evaluation of the same weights (their sha256:
    a retrained bridge is evaluated again, a copied or moved run folder is not), settings and
    examples; else None. One written before the hash was recorded counts only if its file is newer
    than the weights' (a copy made with `cp -p` keeps that)."""
    path = folder / "results.json"
    if not path.is_file():
        return None
    document = json.loads(path.read_text())
    if "bridge_sha256" not in document:
        weights = folder.parent / "bridge.safetensors"
        if weights.is_file() and path.stat().st_mtime < weights.stat().st_mtime:
            return None
        document["bridge_sha256"] = meta["bridge_sha256"]
    if "bridge_config" in document:  # a setting added since then, at its default, is the same bridge
        document["bridge_config"] = BridgeConfig.from_dict(document["bridge_config"]).to_dict()
    same = (document.get(key) == value for key, value in meta.items() if key != "bridge")  # where it was: no matter
    if not all(same) or set(document["languages"]) != set(languages):
        return None
    return {lang: document["languages"][lang] for lang in languages}, document["summary"]


def trained_bridge(run_dir: Path, models) -> LayerBridge:
    """The bridge saved in `run_dir`, on every process: the main one reads it, the others receive it."""
    payload = None
    if processes().is_main_process:
        bridge = LayerBridge.from_pretrained(run_dir, models=models)
        payload = (bridge.config.to_dict(), bridge.trainable_state_dict())
    config, state = main_decides(payload)
    if not processes().is_main_process:
        bridge = LayerBridge(BridgeConfig.from_dict(config), *models)
        load_trained_weights(bridge, state, f"{run_dir / 'bridge.safetensors'} (sent by the main process)")
    return bridge


def train_once(cfg: CompareConfig, run_dir: Path, bridge_cfg, models, data, *, overwrite: bool,
               learning_rate: float | None = None) -> None:
    """Train one bridge into `run_dir`, or reuse the finished run there, or resume a killed one."""
    run_cfg = copy.deepcopy(cfg.train)
    run_cfg.output_dir, run_cfg.bridge = str(run_dir), bridge_cfg
    if learning_rate is not None:
        run_cfg.learning_rate = learning_rate
    needed, resume = main_decides((not (run_dir / SUMMARY_NAME).is_file() or overwrite,
                                   run_dir.exists() and not overwrite and any(run_dir.iterdir())))
    if needed:
        train(run_cfg, models=models, data=data, overwrite=overwrite, resume=resume)


def dev_selection(cfg: CompareConfig, run_dir: Path, bridge_cfg, models, data, *, overwrite: bool):
    """With an lr grid: train at every learning rate (run_dir/lr-<value>) and pick the best English dev
    score (ties: the first in the grid). (folder of the chosen run, {lr: dev score}, chosen lr)."""
    if not cfg.lr_grid:
        train_once(cfg, run_dir, bridge_cfg, models, data, overwrite=overwrite)
        return run_dir, None, None
    scores = {}
    for lr in cfg.lr_grid:
        folder = run_dir / f"lr-{lr:g}"
        train_once(cfg, folder, bridge_cfg, models, data, overwrite=overwrite, learning_rate=lr)
        summary = main_decides(json.loads((folder / SUMMARY_NAME).read_text()) if processes().is_main_process else None)
        score = summary.get("dev_accuracy") if summary.get("dev_accuracy") is not None else summary.get("dev_chrf")
        if score is None:
            raise ConfigError("--lr-grid chooses on the English dev set, but this run has none (dev size 0)")
        scores[lr] = score
    chosen = max(cfg.lr_grid, key=lambda lr: scores[lr])  # max keeps the first of equal scores
    return run_dir / f"lr-{chosen:g}", scores, chosen


def train_and_evaluate(cfg: CompareConfig, run_dir: Path, bridge_cfg, models, data, evaluation, task, *,
                       overwrite: bool):
    """Train one bridge (or reuse a finished run / resume a killed one; with an lr grid, one per
    learning rate, keeping the best on English dev) and evaluate it (or reuse the finished
    evaluation of that same bridge on the same examples). Every process takes part; the run's
    record (None elsewhere) is the main process's."""
    run_dir, grid_scores, chosen = dev_selection(cfg, run_dir, bridge_cfg, models, data, overwrite=overwrite)
    bridge = trained_bridge(run_dir, models)
    results, summary = evaluate_run(cfg, run_dir, bridge, evaluation, task, overwrite=overwrite)
    if not processes().is_main_process:
        return bridge, None, None
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    run = {
        "results": {lang: {k: v for k, v in r.items() if k != "predictions"} for lang, r in results.items()},
        "summary": summary,
        "train": json.loads((run_dir / SUMMARY_NAME).read_text()),
        "layers": bridge.layer_indices if bridge.reads_soft_tokens else [],
        "global_history": [(e["step"], e["global_weights"]) for e in log if "global_weights" in e],
        **({"lr_grid": {f"{lr:g}": score for lr, score in grid_scores.items()}, "chosen_lr": chosen}
           if grid_scores else {}),
    }
    return bridge, results, run


def evaluate_run(cfg: CompareConfig, run_dir: Path, bridge, evaluation, task, *, overwrite: bool):
    """Per-language results and summary of one bridge (main process; (None, None) elsewhere),
    reusing a finished evaluation of the same bridge, settings and examples. The languages are
    shared out among the processes."""
    mode = cfg.eval_mode
    weights = run_dir / "bridge.safetensors"  # none for an untrained reference (the LLM zero-shot)
    meta = {"bridge": str(run_dir), "bridge_sha256": file_sha256(weights) if weights.is_file() else None,
            "mode": mode, "limit": cfg.eval_limit, "seed": cfg.train.seed,
            "bridge_config": bridge.config.to_dict(), "mixed_precision": cfg.train.mixed_precision,
            "examples_sha256": examples_fingerprint(evaluation),
            **({"decoding": dataclasses.asdict(cfg.decoding)} if cfg.decoding is not None else {})}
    if "decoding" in meta:
        meta["decoding"]["stop"] = list(meta["decoding"]["stop"])
    eval_dir = run_dir / f"eval-{mode}"
    main = processes().is_main_process
    earlier = earlier_evaluation(eval_dir, meta, evaluation) if main and not overwrite else None
    if main_decides(earlier is not None):
        return earlier if main else (None, None)
    mine = {lang: evaluate_task_examples(bridge, task, evaluation[lang], mode=cfg.mode, batch_size=cfg.eval_batch_size,
                                         desc=f"{run_dir.name}/{lang}", mixed_precision=cfg.train.mixed_precision,
                                         decoding=cfg.decoding)
            for lang in my_share(list(evaluation))}
    results = gather_dicts(mine)
    if not main:
        return None, None
    results = {lang: results[lang] for lang in evaluation}
    return results, write_evaluation(eval_dir, results, task=task, meta=meta)


def compare(cfg: CompareConfig, *, overwrite: bool = False) -> Path:
    """Train and evaluate every fusion, then the reference rows, then write compare.json and the
    report. Every process (`accelerate launch`) takes part; only the main one writes."""
    from layerbridge.tasks import get_task, load_examples, load_train_dev

    started = time.perf_counter()
    out = Path(cfg.train.output_dir)
    base = cfg.train
    task = get_task(base.task)
    unknown = [lang for lang in cfg.languages if lang not in task.languages]
    if unknown:
        raise ConfigError(f"languages {unknown} are not in task {task.name}")

    # 1. the same data and the same frozen models for every fusion
    data = load_train_dev(task, data_dir=base.data_dir, source=base.source, train_limit=base.train_limit,
                          dev_size=base.dev_size, seed=base.seed)
    evaluation = {lang: load_examples(task, lang, task.eval_split, data_dir=base.data_dir, source=base.source,
                                      limit=cfg.eval_limit, seed=base.seed) for lang in cfg.languages}
    models = load_models(base.bridge, cache_dir=base.cache_dir, dtype=frozen_dtype(base.mixed_precision))

    # 2. per fusion: train (or reuse / resume), evaluate, collect layer weights
    runs = {}
    for name, fusion in cfg.fusions.items():
        bridge_cfg = dataclasses.replace(base.bridge, fusion=fusion, fusion_options=cfg.fusion_options.get(name, {}),
                                         **cfg.bridge_overrides.get(name, {}))
        bridge, _, run = train_and_evaluate(cfg, out / slug(name), bridge_cfg, models, data, evaluation, task,
                                            overwrite=overwrite)
        if run is not None:  # the main process
            run["fusion"] = fusion
            stats = {lang: layer_weight_stats(bridge, ex[:HEATMAP_EXAMPLES]) for lang, ex in evaluation.items()}
            run["layer_weights"] = {lang: mean for lang, (mean, _) in stats.items()}
            run["weight_entropy"] = {lang: entropy for lang, (_, entropy) in stats.items()}
            runs[name] = run

    # 3. reference rows: how much of the encoder's own knowledge the bridges keep
    references = reference_rows(cfg, task, models, data, evaluation, overwrite=overwrite)

    # 4. one report
    if not processes().is_main_process:
        return out
    metric = task.metrics[0] if task.is_generation else "accuracy"
    document = {"task": task.name, "kind": task.kind, "metric": metric, "reference_lang": task.reference_lang,
                "languages": cfg.languages, "low_resource": [l for l in cfg.languages if l in task.low_resource],
                "mode": cfg.eval_mode, "eval_limit": cfg.eval_limit, "train_examples": len(data[0]), "dev_examples": len(data[1]),
                "train_config": base.to_dict(), "fusion_options": cfg.fusion_options,
                **({"bridge_overrides": cfg.bridge_overrides} if cfg.bridge_overrides else {}), "runs": runs,
                "references": references, "environment": environment(base.mixed_precision),
                "seconds": round(time.perf_counter() - started, 1)}  # this call's wall time (reused runs: read, not retrained)
    atomic_write_text(out / "compare.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return write_report(out, document, title=cfg.title or f"{task.name}: layer fusions compared")


def reference_rows(cfg: CompareConfig, task, models, data, evaluation, *, overwrite: bool) -> dict:
    """The rows `cfg.references` asks for ({} on processes other than the main one)."""
    base, out = cfg.train, Path(cfg.train.output_dir)
    main = processes().is_main_process
    metric = task.metrics[0] if task.is_generation else "accuracy"
    if "llm_zero_shot" in cfg.references and not task.is_generation:
        raise ConfigError("the llm_zero_shot reference is for generation tasks (a classification LLM alone "
                          "is the trained llm_alone row)")
    if "probe" in cfg.references and task.is_generation:
        raise ConfigError("a linear probe cannot write: drop 'probe' from --references for a generation task")
    references = {}
    if "llm_alone" in cfg.references:
        llm_models = (*llm_embedding_encoder(models[2], models[3]), models[2], models[3])
        bridge_cfg = dataclasses.replace(
            base.bridge, encoder=LLM_EMBEDDINGS + base.bridge.llm, fusion="last", fusion_options={},
            layers="all+embeddings", normalize="none", projector="linear", projector_init="identity", **PLAIN_PATH,
            soft_prompt_length=LLM_ALONE_SOFT_PROMPT, encoder_prefix="", center_languages=False, encoder_num_layers=None, encoder_weights=None,
            encoder_hidden_size=None, llm_hidden_size=None,
            freeze_encoder=True)  # its "encoder" is the LLM's own embedding table (tied to its head): never trained
        _, _, run = train_and_evaluate(cfg, out / "llm_alone", bridge_cfg, llm_models, data, evaluation, task,
                                       overwrite=overwrite)
        if main:
            references["LLM alone"] = {metric: {l: r[metric] for l, r in run["results"].items()}, "train": run["train"],
                                       **{k: run[k] for k in ("lr_grid", "chosen_lr") if k in run}}
    if "llm_zero_shot" in cfg.references:
        instruction = base.bridge.instruction or task.instruction
        zero_cfg = dataclasses.replace(base.bridge, llm_input="instruction+text", instruction=instruction, **PLAIN_PATH,
                                       center_languages=False, projector_init="default", encoder_num_layers=None,
                                       encoder_weights=None,
                                       encoder_hidden_size=None, llm_hidden_size=None)
        zero = LayerBridge(zero_cfg, *models)  # reads no soft tokens: nothing of it is trained or used
        results, _ = evaluate_run(cfg, out / "llm_zero_shot", zero, evaluation, task, overwrite=overwrite)
        if main:
            references["LLM alone, zero-shot"] = {metric: {l: r[metric] for l, r in results.items()},
                                                  "instruction": instruction}
    if "probe" in cfg.references and main:
        from layerbridge.evaluation.probe import linear_probe

        # the probe reads the encoder's own states: every layer, not normalised, whatever the bridges use
        probe_bridge = LayerBridge(dataclasses.replace(base.bridge, fusion="global_softmax", fusion_options={},
                                                       layers="all", normalize="none", projector="linear",
                                                       **PLAIN_PATH), *models)
        references.update(linear_probe(probe_bridge, data[0], data[1], evaluation, seed=base.seed))
    return references
