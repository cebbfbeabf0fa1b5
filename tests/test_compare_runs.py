"""`compare`'s runs: the --fusions mini-language gives one complete BridgeConfig per run name, and
compare.json's `fusion_options` / `bridge_overrides` are read back from those configs, as before."""

import dataclasses
import json
from types import SimpleNamespace

import pytest

from layerbridge.bridge import BridgeConfig
from layerbridge.cli.compare_cmd import parse_fusions, variant_bridges
from layerbridge.compare.document import run_settings
from layerbridge.compare.references import check_references, llm_alone_config, probe_config, zero_shot_config
from layerbridge.errors import ConfigError


def runs_of(text: str, base: BridgeConfig, fusion_options=()) -> dict[str, BridgeConfig]:
    return variant_bridges(parse_fusions(text), list(fusion_options), base)


def test_each_run_is_the_base_bridge_plus_its_overrides():
    base = BridgeConfig(projector_init="lexical", layers="upper_half")
    runs = runs_of("last,token_softmax[init=last],global_softmax[injection=cross_attention],"
                   "global_softmax[projector=perceiver;projector_init=default;projector.latents=32]", base,
                   ["token_softmax.gate_ffn_size=16"])
    assert list(runs) == ["last", "token_softmax[init=last]", "global_softmax[injection=cross_attention]",
                          "global_softmax[projector=perceiver;projector_init=default;projector.latents=32]"]
    assert runs["last"] == dataclasses.replace(base, fusion="last")
    assert runs["token_softmax[init=last]"].fusion_options == {"init": "last", "gate_ffn_size": 16}
    perceiver = runs["global_softmax[projector=perceiver;projector_init=default;projector.latents=32]"]
    assert (perceiver.projector, perceiver.projector_options, perceiver.projector_init, perceiver.layers) == (
        "perceiver", {"latents": 32}, "default", "upper_half")
    settings = run_settings(SimpleNamespace(train=SimpleNamespace(bridge=base), runs=runs))
    assert json.dumps(settings) == json.dumps({  # the keys and their order as compare.json always had them
        "fusion_options": {"last": {}, "token_softmax[init=last]": {"init": "last", "gate_ffn_size": 16},
                           "global_softmax[injection=cross_attention]": {},
                           "global_softmax[projector=perceiver;projector_init=default;projector.latents=32]": {}},
        "bridge_overrides": {
            "global_softmax[injection=cross_attention]": {"injection": "cross_attention", "injection_options": {}},
            "global_softmax[projector=perceiver;projector_init=default;projector.latents=32]": {
                "projector": "perceiver", "projector_init": "default", "projector_options": {"latents": 32}}}})
    plain = runs_of("last,global_softmax", base)
    assert "bridge_overrides" not in run_settings(SimpleNamespace(train=SimpleNamespace(bridge=base), runs=plain))


def test_a_run_that_goes_back_to_the_plain_design_drops_the_base_designs_options():
    base = BridgeConfig(projector="perceiver", projector_options={"latents": 3}, injection="cross_attention")
    runs = runs_of("global_softmax,global_softmax[projector=linear]", base)
    assert runs["global_softmax"].projector_options == {"latents": 3}
    assert (runs["global_softmax[projector=linear]"].projector, runs["global_softmax[projector=linear]"].projector_options,
            runs["global_softmax[projector=linear]"].injection) == ("linear", {}, "cross_attention")
    settings = run_settings(SimpleNamespace(train=SimpleNamespace(bridge=base), runs=runs))
    assert settings["bridge_overrides"] == {"global_softmax[projector=linear]": {"projector": "linear",
                                                                                 "projector_options": {}}}


def test_a_run_may_center_languages_and_compare_json_says_so():
    base = BridgeConfig()
    runs = runs_of("global_softmax,global_softmax[center_languages=true],"
                   "global_softmax[projector=linear;projector.pooled=1;center_languages=true]", base)
    assert not runs["global_softmax"].center_languages
    centred = runs["global_softmax[center_languages=true]"]
    assert centred.center_languages is True and centred.projector_options == {}
    both = runs["global_softmax[projector=linear;projector.pooled=1;center_languages=true]"]
    assert both.center_languages is True and both.projector_options == {"pooled": 1}
    settings = run_settings(SimpleNamespace(train=SimpleNamespace(bridge=base), runs=runs))
    assert settings["bridge_overrides"]["global_softmax[center_languages=true]"] == {"center_languages": True}
    with pytest.raises(ConfigError, match="center_languages must be true or false, got 'yes'"):
        runs_of("global_softmax[center_languages=yes]", base)


@pytest.mark.parametrize("text", ["last[projector.latents=4]", "last,last[injection=cross_atention]", "nope", "last,last"])
def test_a_bad_run_is_refused_before_anything_trains(text):
    with pytest.raises(ConfigError):
        runs_of(text, BridgeConfig())


def test_the_reference_rows_read_the_plain_path_whatever_the_bridges_design():
    base = BridgeConfig(projector="perceiver", projector_options={"latents": 3}, injection="cross_attention",
                        projector_init="lexical", center_languages=True, encoder_prefix="query: ")
    alone = llm_alone_config(base)
    assert alone.encoder == "llm-embeddings:" + base.llm and alone.soft_prompt_length == 16
    assert (alone.fusion, alone.layers, alone.projector, alone.projector_init, alone.encoder_prefix) == (
        "last", "all+embeddings", "linear", "identity", "")
    probe = probe_config(base)
    assert (probe.fusion, probe.layers, probe.normalize, probe.projector, probe.projector_options) == (
        "global_softmax", "all", "none", "linear", {})
    zero = zero_shot_config(base, "Translate into English: ")
    assert (zero.llm_input, zero.instruction, zero.center_languages, zero.projector_init) == (
        "instruction+text", "Translate into English: ", False, "default")
    for config in (alone, probe, zero):
        assert (config.injection, config.injection_options) == ("input", {})
    assert base.projector == "perceiver" and base.injection == "cross_attention"  # the base is left as it was


def test_reference_rows_must_fit_the_task():
    classification, generation = SimpleNamespace(is_generation=False), SimpleNamespace(is_generation=True)
    check_references(["llm_alone", "probe"], classification)
    check_references(["llm_alone", "llm_zero_shot"], generation)
    with pytest.raises(ConfigError, match="a linear probe cannot write"):
        check_references(["probe"], generation)
    with pytest.raises(ConfigError, match="for generation tasks"):
        check_references(["llm_zero_shot"], classification)
    with pytest.raises(ConfigError, match="unknown"):
        check_references(["llm_alone", "oracle"], classification)
