"""Peak memory of a training run as the recipe runs it (own process per precision): the default
fusion, the encoder cache filled for the WHOLE English training set (as after a first epoch),
then real optimiser steps over the timed batches and the epoch's longest batch."""

from __future__ import annotations

import time

from layerbridge.encoder_cache import EncoderStateCache
from layerbridge.precision import cache_dtype

from benchmarks.common import make_bridge, peak_rss_gb, rss_gb
from benchmarks.training import Trainer


def run_memory(models, train, batches, bf16: bool, log=print) -> dict:
    """`models`: the models loaded for this precision (bf16 runs hold them in bf16)."""
    after_load = rss_gb()
    cache = EncoderStateCache(make_bridge(models, "global_softmax"), dtype=cache_dtype("bf16" if bf16 else "no"))
    texts = [e.text for e in train]
    estimate = cache.check_fits(cache.bridge.token_lengths(texts)) / 2**30
    start = time.perf_counter()
    for i in range(0, len(texts), 32):
        cache.states(texts[i : i + 32])
    fill_s = time.perf_counter() - start
    after_cache = rss_gb()
    trainer = Trainer(models, "token_softmax", bf16=bf16, cache=cache)
    steps = [batches.warmup, *batches.bucketed, batches.longest]
    for batch in steps:
        trainer.step(batch)
    longest = batches.longest
    log(f"  {'bf16' if bf16 else 'fp32'}: cache {estimate:.2f} GiB ({len(texts)} texts, {fill_s:.0f} s), "
        f"{len(steps)} steps, peak {peak_rss_gb():.2f} GiB")
    return {
        "precision": "bf16" if bf16 else "fp32", "rss_after_load_gb": after_load, "rss_after_cache_gb": after_cache,
        "cache_estimate_gb": estimate, "cache_texts": len(texts), "cache_dtype": str(cache.dtype).removeprefix("torch."), "cache_fill_s": fill_s, "steps": len(steps),
        "longest_batch_padded_positions": longest.size * max(longest.llm_lengths), "peak_rss_gb": peak_rss_gb(),
    }
