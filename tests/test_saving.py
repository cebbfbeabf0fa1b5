"""save_pretrained / from_pretrained: exact round trip, only trained weights, clear refusals."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.errors import ConfigError

from tiny_models import tiny_encoder, tiny_llm, tiny_tokenizer

TEXTS = ["The film won three awards.", "ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම"]


def parts():
    return tiny_encoder(), tiny_tokenizer("encoder"), tiny_llm(), tiny_tokenizer("llm")


def trained_bridge(fusion="token_softmax", **kw) -> LayerBridge:
    bridge = LayerBridge(BridgeConfig(encoder="tiny-enc", llm="tiny-llm", fusion=fusion, **kw), *parts())
    with torch.no_grad():  # move every weight away from its initial value, as training would
        for p in bridge.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.1)
    return bridge


@pytest.mark.parametrize("fusion", ["last", "global_softmax", "token_softmax"])
def test_round_trip_is_exact(tmp_path, fusion):
    bridge = trained_bridge(fusion, projector="mlp")
    bridge.save_pretrained(tmp_path / "b")
    files = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert files == ["bridge.safetensors", "bridge_config.json"]
    saved = load_file(tmp_path / "b" / "bridge.safetensors")
    assert not any(k.startswith(("llm.", "encoder.")) for k in saved)  # frozen models not copied
    config = json.loads((tmp_path / "b" / "bridge_config.json").read_text())
    assert config["encoder"] == "tiny-enc" and config["llm"] == "tiny-llm" and config["fusion"] == fusion
    assert config["encoder_num_layers"] == 4 and config["llm_hidden_size"] == 48

    loaded = LayerBridge.from_pretrained(tmp_path / "b", models=parts())
    assert loaded.config == bridge.config
    for k, v in bridge.trainable_state_dict().items():
        assert torch.equal(v, loaded.trainable_state_dict()[k]), k
    targets = ["Sports", "Science"]
    assert torch.equal(bridge.loss(TEXTS, targets).example_loss, loaded.loss(TEXTS, targets).example_loss)
    assert bridge.generate(TEXTS, max_new_tokens=4) == loaded.generate(TEXTS, max_new_tokens=4)


def test_unfrozen_encoder_is_saved(tmp_path):
    bridge = trained_bridge("last", freeze_encoder=False)
    bridge.save_pretrained(tmp_path / "b")
    saved = load_file(tmp_path / "b" / "bridge.safetensors")
    assert any(k.startswith("encoder.") for k in saved)
    loaded = LayerBridge.from_pretrained(tmp_path / "b", models=parts())
    assert torch.equal(loaded.encoder.embeddings.word_embeddings.weight, bridge.encoder.embeddings.word_embeddings.weight)


def edit_weights(folder, change):
    path = folder / "bridge.safetensors"
    state = load_file(path)
    change(state)
    save_file(state, path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("end_boundary"), "missing weights.*end_boundary"),
        (lambda s: s.update(extra=torch.zeros(3)), "unexpected weights.*extra"),
        (lambda s: s.update(end_boundary=torch.zeros(7)), "mis-shaped weights.*end_boundary"),
    ],
)
def test_bad_weight_files_are_rejected(tmp_path, change, message):
    trained_bridge("global_softmax").save_pretrained(tmp_path)
    edit_weights(tmp_path, change)
    with pytest.raises(ConfigError, match=message):
        LayerBridge.from_pretrained(tmp_path, models=parts())


def test_corrupt_or_absent_files_are_rejected(tmp_path):
    trained_bridge("last").save_pretrained(tmp_path)
    (tmp_path / "bridge.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ConfigError, match="not a readable safetensors"):
        LayerBridge.from_pretrained(tmp_path, models=parts())
    (tmp_path / "bridge.safetensors").unlink()
    with pytest.raises(ConfigError, match="has no weights"):
        LayerBridge.from_pretrained(tmp_path, models=parts())
    with pytest.raises(ConfigError, match="is .* a saved bridge"):
        LayerBridge.from_pretrained(tmp_path / "nowhere", models=parts())


def test_the_callers_config_is_never_changed(tmp_path):
    """The bridge keeps a filled-in copy (sizes, fingerprints); one config builds several bridges on
    other models, as compare does."""
    config = BridgeConfig(encoder=str(tmp_path / "enc"), llm=str(tmp_path / "llm"), fusion="global_softmax",
                          fusion_options={"init": "last"})
    tiny_encoder().save_pretrained(tmp_path / "enc"), tiny_tokenizer("encoder").save_pretrained(tmp_path / "enc")
    tiny_llm().save_pretrained(tmp_path / "llm"), tiny_tokenizer("llm").save_pretrained(tmp_path / "llm")
    before = json.dumps(config.to_dict(), sort_keys=True)
    bridge = LayerBridge.from_config(config)
    assert json.dumps(config.to_dict(), sort_keys=True) == before
    assert config.encoder_num_layers is None and config.encoder_weights is None
    assert bridge.config is not config and bridge.config.encoder_num_layers == 4
    assert bridge.config.encoder_weights.startswith("sha256:") and bridge.config.llm_hidden_size == 48
    bridge.config.fusion_options["init"] = "uniform"  # the copy's dicts are its own
    assert config.fusion_options == {"init": "last"}


def test_config_naming_models_that_do_not_fit(tmp_path):
    trained_bridge("token_softmax").save_pretrained(tmp_path)
    path = tmp_path / "bridge_config.json"
    config = json.loads(path.read_text())
    config["encoder_num_layers"] = 24
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="encoder_num_layers=24.*have 4"):
        LayerBridge.from_pretrained(tmp_path, models=parts())
    config["encoder_num_layers"] = 4
    config["gate_size"] = 3
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="unknown bridge setting.*gate_size"):
        LayerBridge.from_pretrained(tmp_path, models=parts())


def test_a_registered_fusion_trains_saves_and_loads(tmp_path):
    """register_fusion adds a fusion without editing the package: configs accept its name and
    options, the bridge builds and trains it, and a saved bridge loads it back by name."""
    from dataclasses import dataclass
    from typing import ClassVar

    from layerbridge.fusion import FUSIONS, Fusion, FusionConfig, list_fusions, register_fusion
    from layerbridge.fusion.base import masked_weights

    @dataclass
    class TopTwoConfig(FusionConfig):
        name: ClassVar[str] = "top_two_test"
        share: float = 0.5  # weight of the last layer; the rest on the one below

    class TopTwoFusion(Fusion):
        def __init__(self, config, *, num_layers, hidden_size):
            super().__init__(config, num_layers=num_layers, hidden_size=hidden_size)
            self.scale = torch.nn.Parameter(torch.ones(hidden_size))

        def layer_weights(self, states, mask):
            B, S, L, _ = states.shape
            w = torch.zeros(B, S, L)
            w[:, :, -1], w[:, :, -2] = self.config.share, 1 - self.config.share
            return masked_weights(w, mask)

        def forward(self, states, mask):
            w = self.layer_weights(states, mask)
            return (w.unsqueeze(-1) * states).sum(2) * self.scale, w

    register_fusion(TopTwoConfig, TopTwoFusion)
    try:
        assert "top_two_test" in list_fusions()
        with pytest.raises(ConfigError, match="already registered"):
            register_fusion(TopTwoConfig, TopTwoFusion)
        with pytest.raises(ConfigError, match="no option"):
            BridgeConfig(encoder="tiny-enc", llm="tiny-llm", fusion="top_two_test", fusion_options={"sharee": 1})
        bridge = trained_bridge("top_two_test", fusion_options={"share": 0.75})
        weights = bridge.layer_weights(TEXTS)[0]["weights"]
        assert torch.allclose(weights[:, -1], torch.full((weights.shape[0],), 0.75))
        bridge.train()
        bridge.loss(TEXTS, ["Film", "Sports"]).loss.backward()
        assert bridge.fusion.scale.grad is not None and bridge.fusion.scale.grad.abs().sum() > 0
        bridge.save_pretrained(tmp_path / "b")
        assert "fusion.scale" in load_file(tmp_path / "b" / "bridge.safetensors")
        loaded = LayerBridge.from_pretrained(tmp_path / "b", models=parts())
        assert isinstance(loaded.fusion, TopTwoFusion) and loaded.fusion.config.share == 0.75
        assert torch.equal(loaded.fusion.scale, bridge.fusion.scale)
        assert torch.allclose(loaded.score(TEXTS, ["Film", "Sports"]), bridge.score(TEXTS, ["Film", "Sports"]))
    finally:
        FUSIONS.pop("top_two_test", None)
    with pytest.raises(ConfigError, match="not a Fusion subclass"):
        register_fusion(TopTwoConfig, torch.nn.Module)


def test_trained_weights_under_another_prefix_are_refused_not_silently_skipped():
    """Checkpoints, keep-best restores and the weights sent to other processes all load through
    load_trained_weights: a `module.` prefix (a wrapped model's state dict) would load nothing."""
    from layerbridge.bridge.saving import load_trained_weights

    source = trained_bridge(injection="cross_attention")
    target = LayerBridge(BridgeConfig(encoder="tiny-enc", llm="tiny-llm", fusion="token_softmax",
                                      injection="cross_attention"), *parts())
    state = source.trainable_state_dict()
    with pytest.raises(ConfigError, match=r"ckpt does not fit this bridge: missing weights .*unexpected weights \['module\."):
        load_trained_weights(target, {f"module.{k}": v for k, v in state.items()}, "ckpt")
    load_trained_weights(target, state, "ckpt")
    for k, v in target.trainable_state_dict().items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)


def test_a_bridge_saved_with_the_old_english_mean_key_loads(tmp_path):
    """Bridges saved before centring had its own module hold the English mean as `source_mean`."""
    bridge = trained_bridge("global_softmax", center_languages=True)
    with torch.no_grad():
        bridge.centring.source_mean.copy_(torch.randn_like(bridge.centring.source_mean))
    bridge.save_pretrained(tmp_path)
    state = load_file(tmp_path / "bridge.safetensors")
    state["source_mean"] = state.pop("centring.source_mean")
    save_file(state, tmp_path / "bridge.safetensors")
    loaded = LayerBridge.from_pretrained(tmp_path, models=parts())
    assert torch.equal(loaded.centring.source_mean, bridge.centring.source_mean)
