"""Peak memory of a training run as the recipe runs it (own process per precision and cache place):
the paper's fusion, the encoder cache (in memory, or in a file) filled for the WHOLE English
training set (as after a first epoch),
then real recipe steps (`recipe.train_step`) over the first steps of the epoch and its longest batch."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import peak_rss_gb, rss_gb
from benchmarks.training import RecipeArm, reset_precision


def run_memory(models, task: str, train, rounds: int, precision: str, on_disk: bool = False,
               checkpointing: bool = False, fusion: str = "token_softmax", log=print, **arm) -> dict:
    """`models`: the models loaded for this precision (bf16 runs hold them in bf16). `on_disk`: the
    encoder cache in a file (`--encoder-cache-dir`) instead of memory; `checkpointing`: the LLM's
    layers recomputed in the backward (`--gradient-checkpointing`); `arm`: further RecipeArm
    keywords (no encoder cache, no bucketing, another bridge class: the authors' choices)."""
    after_load = rss_gb()
    reset_precision()
    with tempfile.TemporaryDirectory() as tmp:
        ra = RecipeArm(models, task, fusion, list(train), Path(tmp) / "run", precision=precision,
                       encoder_cache_dir=str(Path(tmp) / "cache") if on_disk else None,
                       gradient_checkpointing=checkpointing, **arm)
        cache = ra.run.cache
        texts = [e.text for e in train]
        estimate = cache.check_fits(ra.run.lengths) / 2**30 if cache is not None else 0.0
        start = time.perf_counter()
        ra.fill_cache()
        fill_s = time.perf_counter() - start
        after_cache = rss_gb()
        padded = lambda step: (lambda b: b.size * max(b.llm_lengths))(ra.batch(step))  # noqa: E731
        longest = max(range(ra.run.per_epoch), key=padded)
        steps = [*range(rounds), longest]
        for step in steps:
            ra.step(step)
    where = "none" if cache is None else "on disk" if on_disk else "in memory"
    log(f"  {fusion}, {precision}: cache {estimate:.2f} GiB {where}"
        f"{', LLM checkpointed' if checkpointing else ''} ({len(texts)} texts, {fill_s:.0f} s), "
        f"{len(steps)} steps, peak {peak_rss_gb():.2f} GiB")
    return {
        "precision": precision, "rss_after_load_gb": after_load, "rss_after_cache_gb": after_cache,
        "cache_estimate_gb": estimate, "cache_on_disk": on_disk, "gradient_checkpointing": checkpointing,
        "cache_texts": len(texts) if cache is not None else 0,
        "cache_dtype": str(cache.dtype).removeprefix("torch.") if cache is not None else None, "fusion": fusion,
        "cache_fill_s": fill_s, "steps": len(steps), "longest_batch_padded_positions": padded(longest),
        "peak_rss_gb": peak_rss_gb(),
    }
