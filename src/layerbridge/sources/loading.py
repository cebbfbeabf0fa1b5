"""Loading encoders and LLMs from a resolved name, in eval mode; a cached conversion that fails
to load is rebuilt once, and one loaded in bf16 is read from its bf16 copy (`held_dtype`).
``trust_remote_code`` is never enabled."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path

from layerbridge.errors import ModelSourceError
from layerbridge.sources.builtin import BUILTIN_MODELS
from layerbridge.sources.cache import invalidate, say
from layerbridge.sources.held_dtype import held_in
from layerbridge.sources.hub_errors import load_error
from layerbridge.sources.llm_embeddings import PREFIX as LLM_EMBEDDINGS
from layerbridge.sources.llm_embeddings import llm_embedding_encoder
from layerbridge.sources.resolve import ResolvedModel, resolve_model
from layerbridge.sources.t5_encoder import T5_ENCODERS, load_t5_encoder


def _weight_kwargs(r: ResolvedModel, dtype) -> dict:
    kw: dict = {"dtype": dtype}
    if r.kind != "hub":
        folder = Path(r.path)
        if any(folder.glob("*.safetensors")) or any(folder.glob("*.safetensors.index.json")):
            kw["use_safetensors"] = True
    return kw


def _load_with_rebuild(name, cache_dir, what: str, loader: Callable[[ResolvedModel], tuple], dtype):
    """Resolve and load (a converted model from its copy in `dtype`, if any); a cached conversion
    (or copy) that fails to load is rebuilt once."""
    for attempt in (1, 2):
        r = held_in(resolve_model(name, cache_dir=cache_dir), dtype)
        try:
            return loader(r)
        except ModelSourceError:
            raise
        except Exception as e:
            if attempt == 2 or r.kind not in ("builtin", "gguf"):
                raise load_error(r, what, e) from e
            say(f"layerbridge: loading the cached {r.name} failed ({type(e).__name__}: {e}); rebuilding it once")
            invalidate(Path(r.path))


def _is_decoder_only(config) -> bool:
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    mt = getattr(config, "model_type", None)
    if mt in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return False
    archs = getattr(config, "architectures", None) or []
    if getattr(config, "is_decoder", False):
        return True
    if archs and all(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return True
    return mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES


def load_encoder(name: str | os.PathLike[str], *, cache_dir=None, dtype=None):
    """Load a multilingual encoder and its tokenizer, in eval mode.

    The model's ``forward(input_ids=..., attention_mask=..., output_hidden_states=True)`` returns
    all hidden states.  Encoder-only models (BERT, XLM-R, E5) load with ``AutoModel`` (no pooler);
    encoder-decoder models (mT5, umT5, NLLB, M2M100) return only their encoder (``T5EncoderModel``
    & co. for the T5 family, ``model.get_encoder()`` otherwise).  Decoder-only models are refused.
    """
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    dtype = torch.float32 if dtype is None else dtype
    if isinstance(name, str) and name.startswith(LLM_EMBEDDINGS):  # the LLM-alone baseline
        return llm_embedding_encoder(*load_llm(name[len(LLM_EMBEDDINGS):], cache_dir=cache_dir, dtype=dtype))

    def loader(r: ResolvedModel):
        config = AutoConfig.from_pretrained(r.path)
        kw = _weight_kwargs(r, dtype)
        if config.is_encoder_decoder:
            cls_name = T5_ENCODERS.get(config.model_type)
            if cls_name is not None:
                model = load_t5_encoder(cls_name, r, kw)
            else:
                model = AutoModel.from_pretrained(r.path, **kw).get_encoder()
        elif _is_decoder_only(config):
            raise ModelSourceError(
                f"model {r.name!r} is a decoder-only model ({config.model_type}), not an encoder; "
                f"use an encoder-only or encoder-decoder model (e.g. {next(iter(BUILTIN_MODELS))!r}) "
                "as the encoder, and give decoder-only models as the LLM"
            )
        else:
            from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

            cls_name = MODEL_MAPPING_NAMES.get(config.model_type)
            import transformers

            cls = getattr(transformers, cls_name, None) if isinstance(cls_name, str) else None
            if cls is not None and "add_pooling_layer" in inspect.signature(cls.__init__).parameters:
                kw["add_pooling_layer"] = False  # we only use hidden states; avoids a random pooler
            model = AutoModel.from_pretrained(r.path, **kw)
        tokenizer = AutoTokenizer.from_pretrained(r.path)
        model.eval()
        return model, tokenizer

    return _load_with_rebuild(name, cache_dir, "encoder", loader, dtype)


def load_llm(name: str | os.PathLike[str], *, cache_dir=None, dtype=None):
    """Load a causal LM (``AutoModelForCausalLM``) and its tokenizer, in eval mode."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    dtype = torch.float32 if dtype is None else dtype

    def loader(r: ResolvedModel):
        config = AutoConfig.from_pretrained(r.path)
        archs = getattr(config, "architectures", None) or []
        if config.is_encoder_decoder or (
            config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not any(a.endswith("ForCausalLM") for a in archs)
        ):
            raise ModelSourceError(
                f"model {r.name!r} ({config.model_type}) is not a decoder-only causal LM; give it as the "
                f"encoder instead, and use e.g. {list(BUILTIN_MODELS)[-1]!r} as the LLM"
            )
        model = AutoModelForCausalLM.from_pretrained(r.path, **_weight_kwargs(r, dtype))
        tokenizer = AutoTokenizer.from_pretrained(r.path)
        model.eval()
        return model, tokenizer

    return _load_with_rebuild(name, cache_dir, "LLM", loader, dtype)
