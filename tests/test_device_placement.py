"""The bridge's own parts live on the LLM's device. `compare` builds later bridges around models that a
first prepared training moved to the accelerator; a bridge left on the CPU beside them would fail on
its first input tensor (every input follows `bridge.device`)."""

import pytest
import torch

from layerbridge.bridge import BridgeConfig, LayerBridge


def own_and_base(bridge):
    own = {n: t.device for n, t in [*bridge.named_parameters(), *bridge.named_buffers()]
           if not n.startswith(("encoder.", "llm."))}
    base = {n: t.device for n, t in bridge.named_parameters() if n.startswith(("encoder.", "llm."))}
    return own, base


@pytest.mark.parametrize("options", [{}, {"injection": "cross_attention"}, {"projector": "perceiver"},
                                     {"soft_prompt_length": 4, "center_languages": True}])
def test_own_parts_move_and_the_models_stay(tiny_parts, options):
    bridge = LayerBridge(BridgeConfig(encoder="e", llm="l", fusion="token_softmax", **options), *tiny_parts)
    own, base = own_and_base(bridge)
    assert own and set(own.values()) == {torch.device("cpu")}
    bridge.move_own_parts(torch.device("meta"))  # a device other than the CPU the tests have
    own, base = own_and_base(bridge)
    assert set(own.values()) == {torch.device("meta")}, own
    assert set(base.values()) == {torch.device("cpu")}  # shared models are not moved
    assert bridge.device == torch.device("meta")


def test_a_new_bridge_takes_the_llms_device(tiny_parts, monkeypatch):
    seen = []
    monkeypatch.setattr(LayerBridge, "move_own_parts", lambda self, device: seen.append(device))
    monkeypatch.setattr(type(tiny_parts[2]), "parameters",
                        lambda self, recurse=True: iter([torch.empty(1, device="meta")]))
    LayerBridge(BridgeConfig(encoder="e", llm="l", fusion="last"), *tiny_parts)
    assert seen == [torch.device("meta")]


@pytest.mark.parametrize("freeze", [True, False])
def test_a_trained_encoder_is_loaded_in_float32(monkeypatch, freeze):
    """bf16 runs hold the frozen models in bf16; an encoder that trains keeps float32 weights."""
    import layerbridge.sources as sources
    from layerbridge.bridge.loading import load_models

    seen = {}
    monkeypatch.setattr(sources, "load_encoder", lambda name, **kw: (seen.setdefault("encoder", kw["dtype"]), None))
    monkeypatch.setattr(sources, "load_llm", lambda name, **kw: (seen.setdefault("llm", kw["dtype"]), None))
    load_models(BridgeConfig(encoder="e", llm="l", freeze_encoder=freeze), dtype=torch.bfloat16)
    assert seen == {"encoder": torch.bfloat16 if freeze else torch.float32, "llm": torch.bfloat16}
