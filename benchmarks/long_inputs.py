"""Training speed on long inputs: LangBridge's Perceiver and LayAlign's cross-attention against one
soft token per encoder token.

The LLM reads one soft token per encoder token, so long texts cost LLM positions; the Perceiver
(`--projector perceiver`) hands it K latents whatever the length; LayAlign's cross-attention
(`--injection cross_attention`) keeps the soft tokens and adds an attention to the encoder side in
every LLM layer. Arms, timed side by side through the recipe (`recipe.train_step`, encoder cache
warm, length-bucketed batches of 8): `global_softmax` with the linear projector (today's default),
with the Perceiver at K = 16, 32 and 64, and with the cross-attention injection. Inputs:
the local task whose English training texts are longest (every task's lengths are measured here
with the encoder's tokenizer, after the bridge's 200-token cap, as training reads them), and MARC's
English reviews of at least 100 encoder tokens (cut at 200). The accuracy
each design reaches is the architectures study's (docs/architectures.md), not this benchmark's.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import warnings
from pathlib import Path

from benchmarks.common import BATCH_SIZE, SEED, interleave, peak_rss_gb
from benchmarks.training import RecipeArm, arm, reset_precision, step_rates
from layerbridge.errors import DataError

POOL = 256  # training texts per arm (batches are drawn from them as the recipe draws)
DESIGNS = {"linear (one soft token per encoder token)": {}} | {
    f"perceiver, K = {k}": {"projector": "perceiver", "projector_options": {"latents": k}} for k in (16, 32, 64)} | {
    "LayAlign cross-attention (soft tokens + every LLM layer)": {"injection": "cross_attention"}}
LONG_REVIEWS = ("marc", 100, 200)  # task, fewest encoder tokens, the cap (BridgeConfig.max_encoder_length)


def english_training_texts(data_dir: Path) -> dict[str, list]:
    """Every registered task's local English training examples (tasks without any are left out)."""
    from layerbridge.errors import ConfigError
    from layerbridge.tasks import get_task, list_tasks, load_train_dev

    found = {}
    for name in list_tasks():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found[name], _ = load_train_dev(get_task(name), data_dir=data_dir, source="local", seed=SEED)
        except (DataError, ConfigError):  # no local training data for this task: nothing to measure
            continue
    return found


def length_stats(lengths: list[int]) -> dict:
    return {"texts": len(lengths), "mean": statistics.mean(lengths), "median": statistics.median(lengths),
            "max": max(lengths)}


def time_designs(models, task: str, examples: list, rounds: int, precision: str, log) -> dict:
    """Examples/s of every design over the same pool of texts, side by side."""
    arms = []
    with tempfile.TemporaryDirectory() as tmp:
        reset_precision()
        for i, (name, bridge) in enumerate(DESIGNS.items()):
            ra = RecipeArm(models, task, "global_softmax", examples, Path(tmp) / str(i), precision=precision, bridge=bridge)
            ra.fill_cache()
            arms.append(arm(name, ra, rounds))
        interleave(arms, rounds, log=log)
    rows = {a.name: step_rates(a, rounds) for a in arms}
    base = next(iter(rows.values()))["examples_per_s"]
    for row in rows.values():
        row["speedup"] = row["examples_per_s"] / base
    return rows


def run_long_inputs(models, data_dir: Path, rounds: int, precision: str, log=print) -> dict:
    """`models`: the models loaded for `precision`."""
    from layerbridge.bridge import BridgeConfig, LayerBridge

    tokenizer_bridge = LayerBridge(BridgeConfig(fusion="last"), *models)
    pools = english_training_texts(data_dir)
    if not pools:
        raise DataError(f"{data_dir}: no task has local English training data to time long inputs on")
    lengths = {name: tokenizer_bridge.token_lengths([e.text for e in examples]) for name, examples in pools.items()}
    longest = max(lengths, key=lambda name: statistics.mean(lengths[name]))
    task, low, high = LONG_REVIEWS
    sets = {f"{longest} (longest mean input)": (longest, list(zip(pools[longest], lengths[longest])))}
    reviews = [(e, n) for e, n in zip(pools.get(task, []), lengths.get(task, [])) if n >= low]  # capped at high
    if len(reviews) >= BATCH_SIZE:
        sets[f"{task}, reviews of {low}-{high} encoder tokens (longer ones cut at {high})"] = (task, reviews)
    result = {"precision": precision, "batch_size": BATCH_SIZE, "rounds": rounds,
              "task_lengths": {name: length_stats(v) for name, v in lengths.items()}, "sets": {}}
    for label, (name, measured) in sets.items():
        pool = random.Random(SEED).sample(measured, min(POOL, len(measured)))  # (example, encoder tokens) pairs
        log(f"  {label}: {len(pool)} texts")
        result["sets"][label] = {"task": name, "lengths": length_stats([n for _, n in pool]),
                                 "arms": time_designs(models, name, [e for e, _ in pool], rounds, precision, log)}
    result["peak_rss_gb"] = peak_rss_gb()
    return result
