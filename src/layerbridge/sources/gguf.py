"""GGUF file -> cached safetensors folder.

Why: ``transformers`` can read a GGUF file directly (``from_pretrained(folder, gguf_file=...)``)
but dequantises every tensor on every load (about 11 s for a 135M model on 2 cores, plus 4 s
for the tokenizer), and ``save_pretrained`` refuses GGUF-loaded models.  So we load it once,
write the float32 ``state_dict`` with safetensors (dropping the duplicate of tied embeddings,
which safetensors cannot store twice), the config without its ``quantization_config``, the
generation config and the tokenizer; later loads are a plain, fast ``from_pretrained``.

Cache key of a user's GGUF file: a hash of its absolute path, size and modification time (no
need to hash gigabytes on every load); its content sha256 is recorded in the cache marker.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from layerbridge.errors import ModelSourceError
from layerbridge.sources.cache import sha256_file


def gguf_cache_key(path: Path) -> dict[str, Any]:
    """Cheap identity of a GGUF file: path, size, mtime (what the cache folder is keyed by)."""
    st = path.stat()
    return {"gguf": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def gguf_folder_name(path: Path) -> str:
    key = gguf_cache_key(path)
    digest = hashlib.sha256(f"{key['gguf']}\0{key['size']}\0{key['mtime_ns']}".encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:60] or "model"
    return f"gguf-{stem}-{digest}"


def _state_dict_without_shared(model) -> dict:
    """State dict with each storage saved once (tied embeddings: keep the first name seen)."""
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    seen: dict[tuple, str] = {}
    out = {}
    for name, t in model.state_dict().items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if key in seen and t.numel() > 0:
            if tied:
                continue  # from_pretrained re-ties it from the config
            t = t.clone()  # untied but sharing memory: store an independent copy
        seen.setdefault(key, name)
        out[name] = t.detach().contiguous()
    return out


def convert_gguf(gguf_path: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Write a plain Hugging Face folder for ``gguf_path`` into ``out_dir``; returns details."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    folder, fname = str(gguf_path.parent), gguf_path.name
    try:
        config = AutoConfig.from_pretrained(folder, gguf_file=fname)
    except Exception as e:
        raise ModelSourceError(f"cannot read GGUF file {gguf_path}: {type(e).__name__}: {e}") from e
    cls = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=fname)
        model = cls.from_pretrained(folder, gguf_file=fname, dtype=torch.float32)
    except Exception as e:
        raise ModelSourceError(
            f"transformers cannot load GGUF file {gguf_path} ({config.model_type}): {type(e).__name__}: {e}"
        ) from e

    cfg = model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    cfg.architectures = [type(model).__name__]
    cfg.dtype = torch.float32
    cfg.save_pretrained(out_dir)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out_dir)
    save_file(_state_dict_without_shared(model), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    del model
    tokenizer.save_pretrained(out_dir)
    return {"gguf_sha256": sha256_file(gguf_path), "model_type": config.model_type}


def is_gguf_file(path: Path) -> bool:
    """A ``.gguf`` name, or the GGUF magic in the first bytes."""
    if path.suffix.lower() == ".gguf":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


__all__ = ["convert_gguf", "gguf_cache_key", "gguf_folder_name", "is_gguf_file"]
