"""The projector registry: the built-ins keep their saved weight names, their starts and their
clear refusals; register_projector adds one that a bridge builds, trains, saves and loads by name."""

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from safetensors.torch import load_file

from layerbridge import register_projector
from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.errors import ConfigError
from layerbridge.projector import (
    PROJECTOR_INITS,
    PROJECTORS,
    Projector,
    ProjectorConfig,
    build_projector,
    check_projector,
    list_projectors,
)

from tiny_models import tiny_encoder, tiny_llm, tiny_tokenizer

TEXTS = ["The film won three awards.", "ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම"]


def parts():
    return tiny_encoder(), tiny_tokenizer("encoder"), tiny_llm(), tiny_tokenizer("llm")


def test_the_built_in_projectors_keep_their_saved_weight_names():
    """Saved bridges load: the linear projector is an nn.Linear, the mlp an nn.Sequential, the
    perceiver its latents, blocks, norm and out, under the same names and shapes as before."""
    assert list_projectors() == list(PROJECTORS) == ["linear", "mlp", "perceiver", "pooled"]
    assert PROJECTOR_INITS == ("default", "identity", "lexical")
    linear = build_projector("linear", 32, 48)
    assert isinstance(linear, torch.nn.Linear) and not linear.compresses
    assert {k: tuple(v.shape) for k, v in linear.state_dict().items()} == {"weight": (48, 32), "bias": (48,)}
    mlp = build_projector("mlp", 32, 48)
    assert {k: tuple(v.shape) for k, v in mlp.state_dict().items()} == {
        "0.weight": (64, 32), "0.bias": (64,), "2.weight": (48, 64), "2.bias": (48,)}
    perceiver = build_projector("perceiver", 32, 48, options={"latents": 5, "heads": 2, "layers": 1})
    assert perceiver.compresses and perceiver.config.latents == 5
    keys = perceiver.state_dict()
    assert tuple(keys["latents"].shape) == (5, 32) and tuple(keys["out.weight"].shape) == (48, 32)
    assert {k.split(".")[0] for k in keys} == {"latents", "blocks", "norm", "out"}
    soft, soft_mask = perceiver(torch.randn(2, 7, 32), torch.ones(2, 7))
    assert soft.shape == (2, 5, 48) and soft_mask.shape == (2, 5)
    pooled = build_projector("pooled", 32, 48, options={"pooled": 2})  # the sentence embedding alone
    assert pooled.compresses and {k: tuple(v.shape) for k, v in pooled.state_dict().items()} == {
        "pooled.weight": (96, 32), "pooled.bias": (96,)}


def test_starts_and_refusals():
    identity = build_projector("linear", 16, 16, init="identity")
    assert torch.equal(identity.weight, torch.eye(16)) and not identity.bias.any()
    for init in ("identity", "lexical"):
        with pytest.raises(ConfigError, match=f"projector_init='{init}' needs a projector that accepts it"):
            build_projector("mlp", 16, 16, init=init)
    with pytest.raises(ConfigError, match="equal sizes"):
        build_projector("linear", 16, 24, init="identity")
    with pytest.raises(ConfigError, match="projector_init must be one of"):
        build_projector("linear", 16, 16, init="orthogonal")
    with pytest.raises(ConfigError, match="projector must be one of \\('linear', 'mlp', 'perceiver', 'pooled'\\)"):
        check_projector("conv", None)
    with pytest.raises(ConfigError, match="has no option.*\\['hidden'\\]; known options: \\['pooled'\\]"):
        check_projector("mlp", {"hidden": 3})
    register_projector(BareConfig, ScaledProjector)
    try:
        with pytest.raises(ConfigError, match="takes no options.*only 'linear', 'mlp', 'perceiver', 'pooled' have"):
            check_projector("bare_test", {"scale": 3})
    finally:
        PROJECTORS.pop("bare_test", None)
    with pytest.raises(ConfigError, match="has no option"):
        check_projector("perceiver", {"queries": 3})


@dataclass
class ScaledConfig(ProjectorConfig):
    name: ClassVar[str] = "scaled_test"
    scale: float = 1.0


@dataclass
class BareConfig(ProjectorConfig):
    name: ClassVar[str] = "bare_test"
    scale: ClassVar[float] = 1.0  # not an option


class ScaledProjector(Projector):
    """A linear map times a fixed scale, with a learned per-channel gain."""

    def __init__(self, config, in_dim, out_dim):
        super().__init__()
        self.config = config
        self.linear = torch.nn.Linear(in_dim, out_dim)
        self.gain = torch.nn.Parameter(torch.ones(out_dim))

    def forward(self, fused):
        return self.linear(fused) * self.gain * self.config.scale


def test_a_registered_projector_trains_saves_and_loads(tmp_path):
    register_projector(ScaledConfig, ScaledProjector)
    try:
        assert "scaled_test" in list_projectors()
        with pytest.raises(ConfigError, match="already registered"):
            register_projector(ScaledConfig, ScaledProjector)
        with pytest.raises(ConfigError, match="has no option"):
            BridgeConfig(encoder="e", llm="l", projector="scaled_test", projector_options={"scal": 2})
        with pytest.raises(ConfigError, match="projector_init='identity'.*linear"):
            LayerBridge(BridgeConfig(encoder="e", llm="l", projector="scaled_test", projector_init="identity"), *parts())
        config = BridgeConfig(encoder="e", llm="l", fusion="last", projector="scaled_test",
                              projector_options={"scale": 0.5})
        bridge = LayerBridge(config, *parts())
        bridge.train()
        bridge.loss(TEXTS, ["Film", "Sports"]).loss.backward()
        assert bridge.projector.gain.grad is not None and bridge.projector.gain.grad.abs().sum() > 0
        bridge.eval()
        bridge.save_pretrained(tmp_path / "b")
        assert {"projector.gain", "projector.linear.weight"} <= set(load_file(tmp_path / "b" / "bridge.safetensors"))
        loaded = LayerBridge.from_pretrained(tmp_path / "b", models=parts())
        assert isinstance(loaded.projector, ScaledProjector) and loaded.projector.config.scale == 0.5
        assert torch.equal(loaded.score(TEXTS, ["Film", "Sports"]), bridge.score(TEXTS, ["Film", "Sports"]))
    finally:
        PROJECTORS.pop("scaled_test", None)
    with pytest.raises(ConfigError, match="not a Projector subclass"):
        register_projector(ScaledConfig, torch.nn.Linear)
