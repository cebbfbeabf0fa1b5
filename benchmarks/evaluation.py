"""Evaluation throughput through `layerbridge.evaluation.predict.predict`, side by side.

Batches of 16 length-sorted texts (predict's own batching); every arm predicts the same batch in
turn. The bridge is untrained (default fusion, fixed seed), so accuracies are near chance and
`generate` rarely stops early: with the label cap it runs to the cap, which is its worst case.
"""

from __future__ import annotations

from layerbridge.evaluation.metrics import INVALID, accuracy
from layerbridge.evaluation.predict import length_sorted_batches, predict
from layerbridge.evaluation.recipe import autocast

from benchmarks.common import Arm, interleave, make_bridge, mixed_precision, peak_rss_gb, precisions

EVAL_BATCH = 16
UNCAPPED = 32  # generate's cap when the label cap is switched off


def arm_specs(precision: str) -> list[tuple]:
    """(name, mode, precision, predict's options): rank and generate in every precision measured,
    and the two switched-off optimisations in `precision`."""
    return [
        *((f"{mode} {p}", mode, p, {}) for mode in ("rank", "generate") for p in precisions(precision)),
        (f"rank {precision}, shared prefix off", "rank", precision, {"shared_prefix": False}),
        (f"generate {precision}, cap {UNCAPPED} instead of label cap", "generate", precision, {"max_new_tokens": UNCAPPED}),
    ]


def make_arm(bridges: dict, spec, texts, batches, label_words, predictions) -> Arm:
    name, mode, precision, options = spec
    bridge = bridges[precision]

    def call(batch_texts):
        with autocast(bridge, mixed_precision(precision)):  # the evaluation recipe's autocast (any device)
            return predict(bridge, batch_texts, label_words, mode=mode, batch_size=EVAL_BATCH, **options)[0]

    def run(r):
        idx = batches[r]
        for i, label in zip(idx, call([texts[i] for i in idx])):
            predictions[name][i] = label

    return Arm(name, run=run, warmup=lambda: call(texts[:4]))


def paper_protocol(bridge, texts: list[str], label_words, cap: int, bf16: bool = True, log=print) -> dict:
    """`rank` next to the authors' protocol on one batch: greedy generation of up to `cap` new
    tokens, stopping at EOS only (no newline stop, no label cap); in bf16 or fp32. Timed rank, generate, rank."""
    import time

    seconds = {"rank": 0.0, "generate": 0.0}
    for mode in ("rank", "generate", "rank"):
        start = time.perf_counter()
        with autocast(bridge, "bf16" if bf16 else "no"):
            if mode == "rank":
                predict(bridge, texts, label_words, mode="rank", batch_size=EVAL_BATCH)
            else:
                bridge.generate(texts, max_new_tokens=cap, stop_at_newline=False)
        seconds[mode] += time.perf_counter() - start
    seconds["rank"] /= 2
    log(f"  authors' protocol (cap {cap}): rank {seconds['rank']:.2f}s, generate {seconds['generate']:.2f}s")
    return {"cap": cap, "examples": len(texts), "rank_examples_per_s": len(texts) / seconds["rank"],
            "generate_examples_per_s": len(texts) / seconds["generate"],
            "rank_speedup": seconds["generate"] / seconds["rank"]}


def run_evaluation(models, task, test, paper_cap: int, precision: str = "bf16", log=print) -> dict:
    """`models(precision)`: the loaded models; bf16 arms use models held in bf16 (as `evaluate`).
    fp32 arms always; bf16 arms and the switched-off optimisations in bf16 when `precision` is bf16."""
    specs = arm_specs(precision)
    bridges = {p: make_bridge(models(p), "token_softmax").eval() for p in precisions(precision)}  # same seed, same weights
    texts, gold = [e.text for e in test], [e.label for e in test]
    batches = list(length_sorted_batches(texts, EVAL_BATCH))
    predictions = {spec[0]: [INVALID] * len(texts) for spec in specs}
    arms = [make_arm(bridges, spec, texts, batches, task.label_words, predictions) for spec in specs]
    interleave(arms, len(batches), log=log)
    bridge = bridges[precision]
    label_cap = max(len(ids) for ids in bridge.target_ids(task.label_words)) + 1
    rows = {}
    for arm, (name, mode, p, _) in zip(arms, specs):
        pred = predictions[name]
        rows[name] = {
            "mode": mode, "precision": p, "examples": len(texts),
            "seconds": sum(arm.seconds), "examples_per_s": len(texts) / sum(arm.seconds),
            "accuracy": accuracy(gold, pred), "invalid": sum(p == INVALID for p in pred),
        }
    paper = paper_protocol(bridge, [texts[i] for i in batches[len(batches) // 2]], task.label_words, paper_cap,
                           bf16=precision == "bf16", log=log)
    return {"precision": precision, "arms": rows, "paper_protocol": paper, "label_cap": label_cap, "uncapped": UNCAPPED, "eval_batch": EVAL_BATCH,
            "peak_rss_gb": peak_rss_gb()}
