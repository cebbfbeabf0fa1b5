"""The reuse cache: an earlier evaluation counts only if it scored the same weights (their sha256),
with the same settings, on the same examples (their sha256). Finished trainings are reused by the
training recipe itself (a run folder with its summary)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from layerbridge.bridge import BridgeConfig


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def examples_fingerprint(evaluation: dict[str, list]) -> str:
    """sha256 over the evaluated examples (language, id, text, label): an earlier evaluation is reused
    only if it saw exactly these."""
    digest = hashlib.sha256()
    for lang in sorted(evaluation):
        for e in evaluation[lang]:
            digest.update(json.dumps([lang, e.id, e.text, e.label], ensure_ascii=False).encode())
    return digest.hexdigest()


def evaluation_meta(cfg, run_dir: Path, bridge, evaluation: dict[str, list]) -> dict:
    """What identifies an evaluation of the bridge in `run_dir` (recorded in its results.json)."""
    weights = run_dir / "bridge.safetensors"  # none for an untrained reference (the LLM zero-shot)
    meta = {"bridge": str(run_dir), "bridge_sha256": file_sha256(weights) if weights.is_file() else None,
            "mode": cfg.eval_mode, "limit": cfg.eval_limit, "seed": cfg.train.seed,
            "bridge_config": bridge.config.to_dict(), "mixed_precision": cfg.train.mixed_precision,
            "examples_sha256": examples_fingerprint(evaluation)}
    if cfg.decoding is not None:
        meta["decoding"] = {**dataclasses.asdict(cfg.decoding), "stop": list(cfg.decoding.stop)}
    return meta


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
