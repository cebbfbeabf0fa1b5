"""The pooled sentence token (issue 32): the mask-aware mean of the fused states projected to k soft
tokens, before the per-token ones (`linear` / `mlp` with pooled=k) or alone (`pooled`). Shapes and
masks, padding, reads only the mean, float32 under bf16 autocast, off by default (keys and outputs
as before), saved and loaded, from the command line."""

import json

import pytest
import torch
from safetensors.torch import load_file

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.cli.compare_cmd import parse_fusions, variant_bridges
from layerbridge.cli.main import main
from layerbridge.errors import ConfigError
from layerbridge.projector import build_projector, check_projector
from layerbridge.projector.pooled import masked_mean

from tiny_models import save_tiny_models, tiny_encoder, tiny_llm, tiny_tokenizer

TEXTS = ["The film won three awards.", "ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම ජයග්‍රහණය කළේය."]
LABELS = ["Film", "Sports"]


def parts():
    return tiny_encoder(), tiny_tokenizer("encoder"), tiny_llm(), tiny_tokenizer("llm")


def padded_batch(D=8):
    """Two texts, right-padded, zero on padding (as the fusion leaves them): fused (2, 5, D), mask (2, 5)."""
    torch.manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    return torch.randn(2, 5, D) * mask.unsqueeze(-1), mask


@pytest.mark.parametrize("name,k", [("linear", 2), ("mlp", 1), ("pooled", 3)])
def test_shapes_and_masks(name, k):
    fused, mask = padded_batch()
    projector = build_projector(name, 8, 12, options={"pooled": k})
    assert projector.compresses and projector.pooled.tokens == k
    soft, soft_mask = projector(fused, mask)
    per_token = 0 if name == "pooled" else 5
    assert soft.shape == (2, k + per_token, 12) and soft_mask.shape == (2, k + per_token)
    assert soft_mask[:, :k].eq(1).all()  # the pooled tokens come first and are always real
    if per_token:
        assert torch.equal(soft_mask[:, k:], mask)
        per_token_soft = (torch.nn.functional.linear(fused, projector.weight, projector.bias) if name == "linear"
                          else projector[2](projector[1](projector[0](fused))))
        assert torch.equal(soft[:, k:], per_token_soft)
    assert tuple(projector.state_dict()["pooled.weight"].shape) == (k * 12, 8)


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_off_by_default_keys_and_outputs_bit_identical(name):
    """pooled=0 (the default) builds, keys and computes exactly what the projector did before."""
    fused, _ = padded_batch()
    torch.manual_seed(1)
    plain = build_projector(name, 8, 12)
    torch.manual_seed(1)
    zero = build_projector(name, 8, 12, options={"pooled": 0})
    assert not plain.compresses and not zero.compresses and plain.pooled is None
    expected = {"linear": {"weight", "bias"}, "mlp": {"0.weight", "0.bias", "2.weight", "2.bias"}}[name]
    assert set(plain.state_dict()) == set(zero.state_dict()) == expected
    assert all(torch.equal(v, zero.state_dict()[k]) for k, v in plain.state_dict().items())
    if name == "linear":
        reference = torch.nn.functional.linear(fused, plain.weight, plain.bias)
    else:
        reference = torch.nn.Sequential(*list(plain)[:3])(fused)
    assert torch.equal(plain(fused), reference) and torch.equal(zero(fused), reference)
    assert plain.config.to_dict() == {"pooled": 0}


def test_mean_ignores_padding():
    """The second text alone gives what it gives inside the padded batch, pooled and per token."""
    fused, mask = padded_batch()
    projector = build_projector("linear", 8, 12, options={"pooled": 2})
    batch, batch_mask = projector(fused, mask)
    alone, alone_mask = projector(fused[1:, :2], mask[1:, :2])
    assert torch.equal(alone_mask[0], batch_mask[1, :4])
    assert torch.allclose(alone[0], batch[1, :4], atol=1e-6)
    assert torch.allclose(masked_mean(fused, mask)[1], fused[1, :2].mean(0), atol=1e-6)
    assert torch.equal(masked_mean(torch.zeros(1, 3, 8), torch.zeros(1, 3)), torch.zeros(1, 8))  # no token: zero


def test_pooled_only_reads_the_mean_and_nothing_else():
    """Changing a non-first token's state changes the output only through the mean: a change that
    keeps the mean keeps the output, and every real token gets the same gradient (padding none)."""
    fused, mask = padded_batch()
    projector = build_projector("pooled", 8, 12, options={"pooled": 2})
    soft, _ = projector(fused, mask)
    shifted = fused.clone()
    shift = torch.randn(8)
    shifted[0, 2] += shift
    shifted[0, 4] -= shift  # same mean
    assert torch.allclose(projector(shifted, mask)[0], soft, atol=1e-6)
    shifted[0, 3] += shift  # a new mean: only row 0 changes
    moved, _ = projector(shifted, mask)
    assert not torch.allclose(moved[0], soft[0]) and torch.equal(moved[1], soft[1])
    fused = fused.clone().requires_grad_(True)
    projector(fused, mask)[0].pow(2).sum().backward()
    grad = fused.grad
    assert torch.allclose(grad[0], grad[0, :1].expand(5, -1), atol=1e-7)
    assert torch.allclose(grad[1, :2], grad[1, :1].expand(2, -1), atol=1e-7) and not grad[1, 2:].any()


def test_the_mean_is_float32_under_bf16_autocast():
    torch.manual_seed(0)
    fused = torch.randn(2, 300, 8).to(torch.bfloat16) + 3
    mask = torch.ones(2, 300)
    projector = build_projector("linear", 8, 12, options={"pooled": 1})
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mean = masked_mean(fused, mask)
        soft, soft_mask = projector(fused.float(), mask)
    assert mean.dtype == torch.float32
    assert torch.allclose(mean, fused.double().mean(1).float(), atol=1e-5)
    assert soft.dtype == torch.bfloat16 and soft.shape == (2, 301, 12)  # the Linear runs as the per-token one


def test_refusals():
    for options in ({"pooled": -1}, {"pooled": 1.5}, {"pooled": True}):
        with pytest.raises(ConfigError, match="linear: pooled must be an integer >= 0"):
            check_projector("linear", options)
    with pytest.raises(ConfigError, match="pooled: pooled must be an integer >= 1"):
        check_projector("pooled", {"pooled": 0})
    with pytest.raises(ConfigError, match="has no option"):
        check_projector("perceiver", {"pooled": 1})
    with pytest.raises(ConfigError, match="projector_init='lexical' needs a projector"):
        build_projector("pooled", 8, 8, init="lexical")


@pytest.mark.parametrize("projector,options", [("linear", {"pooled": 1}), ("pooled", {"pooled": 2})])
def test_trains_saves_and_loads_with_equal_scores(tmp_path, projector, options):
    config = BridgeConfig(encoder="e", llm="l", fusion="global_softmax", projector=projector,
                          projector_options=options)
    bridge = LayerBridge(config, *parts())
    soft, soft_mask = bridge.encode(TEXTS)
    k = options["pooled"]
    assert soft_mask[:, :k].eq(1).all() and (soft.shape[1] == k) == (projector == "pooled")
    # a text alone gets the soft tokens it gets inside the padded batch
    alone, alone_mask = bridge.encode(TEXTS[1:])
    assert torch.allclose(alone[0][alone_mask[0].bool()], soft[1][soft_mask[1].bool()], atol=1e-5)
    bridge.train()
    bridge.loss(TEXTS, LABELS).loss.backward()
    assert bridge.projector.pooled.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.any() for p in bridge.fusion.parameters())  # through the mean too
    bridge.eval()
    with torch.no_grad():
        bridge.projector.pooled.bias.add_(0.1)  # not its start: the load must bring it
    bridge.save_pretrained(tmp_path / "b")
    saved = load_file(tmp_path / "b" / "bridge.safetensors")
    assert {"projector.pooled.weight", "projector.pooled.bias"} <= set(saved)
    loaded = LayerBridge.from_pretrained(tmp_path / "b", models=parts())
    assert loaded.projector.config.to_dict() == {"pooled": k}
    assert torch.equal(loaded.score(TEXTS, LABELS), bridge.score(TEXTS, LABELS))


def test_default_bridge_keys_unchanged():
    bridge = LayerBridge(BridgeConfig(encoder="e", llm="l"), *parts())
    assert {k for k in bridge.trainable_state_dict() if k.startswith("projector.")} == {
        "projector.weight", "projector.bias"}
    assert bridge.config.projector_options == {}


def test_from_the_command_line(tmp_path, capsys):
    """train with --projector-option pooled=1 on tiny models; inspect shows it; compare variants take it."""
    enc, llm = save_tiny_models(tmp_path)
    rows = [("The match ended with a late goal.", "Sports"), ("Parliament passed the budget.", "Political")] * 4
    (tmp_path / "en_train.jsonl").write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows))
    (tmp_path / "en_test.jsonl").write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows[:2]))
    task = tmp_path / "news.yaml"
    task.write_text("name: tiny_news\nprompt: 'News: {text} Category: '\nlabel_words: [Sports, Political]\n"
                    "train_language: en\nlanguages: [en]\nlow_resource: []\n"
                    "files:\n  en: {train: en_train.jsonl, test: en_test.jsonl}\n", encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "2",
                 "--projector-option", "pooled=1", "--max-steps", "2", "--batch-size", "4", "-o", str(out)]) == 0
    assert BridgeConfig.load(out).projector_options == {"pooled": 1}
    assert "projector.pooled.weight" in load_file(out / "bridge.safetensors")
    capsys.readouterr()
    assert main(["inspect", "--encoder", str(enc), "--llm", str(llm), "--projector", "pooled",
                 "--projector-option", "pooled=2"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "projector=pooled" in shown and "'pooled': 2" in shown and "2 pooled sentence token(s) only" in shown
    runs = variant_bridges(parse_fusions("global_softmax[projector=linear;projector.pooled=1],last[projector=pooled]"),
                           [], BridgeConfig(encoder="e", llm="l"))
    assert [(c.fusion, c.projector, c.projector_options) for c in runs.values()] == [
        ("global_softmax", "linear", {"pooled": 1}), ("last", "pooled", {})]
