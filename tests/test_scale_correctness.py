"""Defects that CPU runs on E5 + SmolLM2 cannot show, each pinned by a test that failed before its fix:
T5-family hidden states beyond fp16's range, bf16-rounded logits, dropout at inference, `last`
stacking every layer, and LLM families that scale their embeddings or logits."""

import pytest
import torch
from transformers import T5Config, T5EncoderModel

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.bridge import lm_head
from layerbridge.encoder_cache import EncoderStateCache
from layerbridge.errors import ConfigError
from layerbridge.precision import cache_dtype

from tiny_models import tiny_encoder, tiny_llm, tiny_tokenizer

TEXTS = ["The match ended with a late goal.", "Parliament passed the budget.", "ශ්‍රී ලංකා ක්‍රිකට්", "A phone."]
TARGETS = ["Sports", "Political", "Sports", "Science"]
BF16 = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731


@pytest.fixture(scope="module")
def parts():
    return tiny_encoder(), tiny_tokenizer("encoder"), tiny_llm(), tiny_tokenizer("llm")


def make(parts, **kw):
    return LayerBridge(BridgeConfig(encoder="e", llm="l", **kw), *parts)


def loud_t5_encoder() -> T5EncoderModel:
    """A tiny T5 encoder whose hidden states before the final norm reach ~1e6, as real mT5 layers
    can exceed fp16's 65504."""
    torch.manual_seed(0)
    config = T5Config(vocab_size=400, d_model=32, d_kv=8, d_ff=64, num_layers=3, num_heads=4, feed_forward_proj="relu")
    model = T5EncoderModel(config).eval()
    with torch.no_grad():
        model.shared.weight.mul_(1e6)
    return model


def test_t5_states_beyond_fp16_range_are_cached_exactly():
    bridge = LayerBridge(BridgeConfig(encoder="t5", llm="l", fusion="global_softmax"),
                         loud_t5_encoder(), tiny_tokenizer("encoder"), tiny_llm(), tiny_tokenizer("llm"))
    enc = bridge.tokenize(TEXTS)
    direct = bridge.encoder_states(**enc)
    assert direct.abs().max() > 65504  # the point: beyond fp16
    cache = EncoderStateCache(bridge, dtype=cache_dtype("no"))
    cached, mask = cache.states(TEXTS)
    assert torch.isfinite(cached).all()
    real = enc["attention_mask"].bool()
    assert torch.equal(cached[mask.bool()], direct[real])  # float32 runs train on exactly the states they evaluate on
    bf16, _ = EncoderStateCache(bridge, dtype=cache_dtype("bf16")).states(TEXTS)
    assert torch.isfinite(bf16).all()
    with pytest.raises(ConfigError, match="fp16"):
        EncoderStateCache(bridge, dtype=torch.float16)


def test_lm_head_logits_are_float32_under_bf16_autocast(parts):
    bridge = make(parts)
    hidden = torch.randn(5, 48) * 4
    exact = hidden @ bridge.llm.get_output_embeddings().weight.T
    with BF16():
        logits = bridge.logits(hidden)
    assert logits.dtype == torch.float32
    assert torch.allclose(logits, exact, atol=1e-4), (logits - exact).abs().max()


def test_lm_head_of_a_bf16_llm_computes_in_float32_by_chunks(parts, monkeypatch):
    monkeypatch.setattr(lm_head, "VOCAB_CHUNK", 64)  # several chunks over the 400-token vocabulary
    llm = tiny_llm().to(torch.bfloat16)
    weight = llm.get_output_embeddings().weight
    hidden = (torch.randn(5, 48) * 4).requires_grad_()
    logits = lm_head.lm_head_logits(llm, hidden)
    exact_hidden = hidden.detach().clone().requires_grad_()
    exact = exact_hidden @ weight.float().T
    assert logits.dtype == torch.float32 and torch.allclose(logits, exact, atol=1e-4)
    probe = torch.randn_like(exact)
    (logits * probe).sum().backward()
    (exact * probe).sum().backward()
    assert torch.allclose(hidden.grad, exact_hidden.grad, atol=1e-4)


def test_bf16_and_float32_rank_candidates_alike(parts):
    """On a fixed set, bf16 autocast ranks the candidates as float32 does wherever float32's margin
    between the top two is above bf16's rounding of the LLM body (logits themselves are float32)."""
    bridge = make(parts)
    texts = TEXTS * 4
    candidates = ["Sports", "Political", "Science", "Business"]
    exact = bridge.score(texts, candidates)
    with BF16():
        mixed = bridge.score(texts, candidates)
    top2 = exact.topk(2, dim=-1).values
    clear = (top2[:, 0] - top2[:, 1]) > 0.05
    assert clear.any()
    assert torch.equal(exact.argmax(-1)[clear], mixed.argmax(-1)[clear])


def test_token_gate_logits_are_float32_under_bf16_autocast(parts):
    bridge = make(parts, fusion="token_softmax")
    seen = []
    bridge.fusion.out.register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    with BF16():
        bridge.layer_weights(TEXTS)
    assert seen == [torch.float32]


@pytest.mark.parametrize("method", ["score", "generate", "layer_weights"])
def test_inference_ignores_dropout_and_restores_the_mode(parts, method):
    bridge = make(parts, fusion="token_softmax", fusion_options={"gate_dropout": 0.5})
    bridge.train()
    call = {"score": lambda: bridge.score(TEXTS, ["Sports", "Science"]),
            "generate": lambda: bridge.generate(TEXTS, max_new_tokens=4),
            "layer_weights": lambda: [row["weights"] for row in bridge.layer_weights(TEXTS)]}[method]
    first, second = call(), call()
    if method == "score":
        assert torch.equal(first, second)
    elif method == "layer_weights":
        assert all(torch.equal(a, b) for a, b in zip(first, second))
    else:
        assert first == second
    assert bridge.training and bridge.fusion.training and not bridge.llm.training


def test_last_fusion_stacks_and_caches_one_layer(parts):
    last, mixed = make(parts, fusion="last"), make(parts, fusion="global_softmax")
    assert last.layer_indices == [4] and mixed.layer_indices == [1, 2, 3, 4]
    enc = last.tokenize(TEXTS)
    assert last.encoder_states(**enc).shape[2] == 1
    assert EncoderStateCache(last).bytes_per_token() * 4 == EncoderStateCache(mixed).bytes_per_token()
    # the same last-layer states reach the projector as when every layer is stacked
    torch.testing.assert_close(last.encoder_states(**enc)[:, :, 0], mixed.encoder_states(**enc)[:, :, -1])


def test_last_gets_no_collapse_note_but_a_collapsed_mix_does(parts):
    from layerbridge.training.config import TrainConfig
    from layerbridge.training.summary import collapse_note

    for fusion, expect_note in (("last", False), ("token_softmax", True)):
        bridge = make(parts, fusion=fusion)
        cfg = TrainConfig(task="sib200", output_dir="unused", bridge=bridge.config)
        use = {"dev_layer_weights": [0.0] * (len(bridge.layer_indices) - 1) + [1.0], "dev_top_weight_per_token": 0.999}
        note = collapse_note(cfg, bridge, use)
        assert (note is not None) == expect_note, fusion
        if note:
            assert "init=last" in note


@pytest.mark.parametrize("held", [torch.float32, torch.bfloat16])
def test_generate_decodes_from_float32_logits_under_bf16(parts, held):
    """transformers' `generate` calls the LLM's head itself: under bf16 autocast, or with the LLM held
    in bf16, that head must still give the decoding float32 logits (as score and the loss get)."""
    encoder, enc_tok, llm, llm_tok = parts
    bridge = LayerBridge(BridgeConfig(encoder="e", llm="l"), encoder, enc_tok, llm.to(held), llm_tok)
    head = bridge.llm.get_output_embeddings()
    seen = []
    hook = head.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    try:
        with BF16():
            answers = bridge.generate(TEXTS, max_new_tokens=3, stop_at_newline=False)
    finally:
        hook.remove()
        llm.float()
    assert len(answers) == len(TEXTS) and seen and set(seen) == {torch.float32}
    assert "forward" not in vars(head)  # the head is itself again after the call
