"""Building a bridge from names or from a saved folder: load the frozen models (built-in, local
folder, GGUF or Hub id), build a fresh bridge, rebuild a saved one (folder or Hub repo), save it,
push it. A mixin of `LayerBridge`, as transformers' models carry `from_pretrained`/`push_to_hub`."""

from __future__ import annotations

from pathlib import Path

import torch

from layerbridge.bridge.config import BridgeConfig
from layerbridge.bridge.hub import bridge_folder, push_bridge
from layerbridge.bridge.saving import load_trained_weights, read_weights, save_bridge
from layerbridge.decoding import load_generation_config


def load_models(config: BridgeConfig, *, cache_dir=None, dtype: torch.dtype = torch.float32) -> tuple:
    """(encoder, encoder tokenizer, llm, llm tokenizer) for the names in `config`, held in `dtype`; an
    encoder that trains (freeze_encoder=False) in float32 whatever `dtype`: bf16 weights would round
    most Adam updates away (8-bit mantissa), and autocast computes in bf16 anyway."""
    from layerbridge.sources import load_encoder, load_llm  # transformers and the model sources, when models load

    encoder_dtype = dtype if config.freeze_encoder else torch.float32
    encoder, encoder_tokenizer = load_encoder(config.encoder, cache_dir=cache_dir, dtype=encoder_dtype)
    llm, llm_tokenizer = load_llm(config.llm, cache_dir=cache_dir, dtype=dtype)
    return encoder, encoder_tokenizer, llm, llm_tokenizer


class PretrainedBridge:
    @classmethod
    def from_config(cls, config: BridgeConfig, *, cache_dir: str | Path | None = None,
                    dtype: torch.dtype = torch.float32):
        """Load the encoder and LLM the config names and build a fresh bridge."""
        return cls(config, *load_models(config, cache_dir=cache_dir, dtype=dtype))

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, cache_dir: str | Path | None = None, models: tuple | None = None,
                        dtype: torch.dtype = torch.float32, revision: str | None = None,
                        strict_base_models: bool = False):
        """Rebuild a saved bridge from a folder or a Hub repo id ("user/name", at `revision`).
        `models` = (encoder, enc_tokenizer, llm, llm_tokenizer) reuses loaded models; otherwise they
        are loaded in `dtype` (the trained bridge weights stay float32). Base weights other than the
        ones it was trained on warn (`strict_base_models`: raise)."""
        folder = bridge_folder(folder, revision=revision)
        config = BridgeConfig.load(folder)
        state, weights_path = read_weights(folder)
        if models is None:
            models = load_models(config, cache_dir=cache_dir, dtype=dtype)
        bridge = cls(config, *models, strict_base_models=strict_base_models)
        load_trained_weights(bridge, state, f"{weights_path} (the bridge described by {folder / 'bridge_config.json'}, "
                                            f"fusion={config.fusion}, projector={config.projector})")
        bridge.generation_config = load_generation_config(folder)  # None: saved before there was one
        return bridge

    def save_pretrained(self, folder: str | Path) -> Path:
        """bridge.safetensors (the trained weights only) and bridge_config.json into `folder`, and
        generation_config.json when the bridge has decoding settings (`generation_config`)."""
        return save_bridge(self, folder)

    def push_to_hub(self, repo_id: str, *, private: bool = False, revision: str | None = None,
                    run_dir: str | Path | None = None, token: str | None = None) -> str:
        """Upload the trained weights, the config and a model card (from `run_dir`'s training summary
        and results when given) to the Hub repo `repo_id`; returns the commit URL."""
        return push_bridge(self, repo_id, private=private, revision=revision, run_dir=run_dir, token=token)
