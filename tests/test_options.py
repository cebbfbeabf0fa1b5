"""The bridge flags come from BridgeConfig's field metadata, and the command line builds the same
BridgeConfig (and TrainConfig) as the Python API: for_task / paper, for every built-in task."""

import argparse
import dataclasses

import pytest

from layerbridge.bridge import BridgeConfig
from layerbridge.bridge.config import PAPER_BRIDGE, RECORDS, parse_layers
from layerbridge.cli.main import build_parser
from layerbridge.cli.options import (add_bridge_options, apply_paper_flag, bridge_config_from_args, bridge_fields,
                                     flag_dest, flag_name)
from layerbridge.cli.train_cmd import train_config_from_args
from layerbridge.errors import ConfigError
from layerbridge.tasks import list_tasks
from layerbridge.training.config import TrainConfig



def train_args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", "-o", "runs/x", *extra])


def cli_train_config(*extra: str) -> TrainConfig:
    args = train_args(*extra)
    apply_paper_flag(args, fusion_dest="fusion")  # as `layerbridge train` does
    return train_config_from_args(args, output_dir=args.output_dir)


@pytest.mark.parametrize("task", ["flores_en", "sib200"])
def test_default_flags_build_the_bridge_python_builds(task):
    assert cli_train_config("--task", task).bridge == BridgeConfig.for_task(task)
    assert (cli_train_config("--task", task).to_dict()
            == TrainConfig(task=task, output_dir="runs/x", bridge=BridgeConfig.for_task(task)).to_dict()
            == TrainConfig(task=task, output_dir="runs/x").to_dict())  # the task's bridge by default


def test_every_builtin_task_and_the_paper_flag_match_python():
    for task in list_tasks():
        assert cli_train_config("--task", task).bridge == BridgeConfig.for_task(task), task
        assert cli_train_config("--task", task, "--paper").bridge == BridgeConfig.paper(task), task


def test_the_tasks_instruction_decides_what_the_llm_reads():
    flores = BridgeConfig.for_task("flores_en")
    assert (flores.llm_input, flores.instruction) == ("soft+instruction", "Translate into English: ")
    assert BridgeConfig.for_task("sib200") == BridgeConfig() == BridgeConfig.for_task()
    assert BridgeConfig.for_task("flores_en", llm_input="soft").instruction == ""
    assert BridgeConfig.for_task("flores_en", instruction="").llm_input == "soft"
    own = BridgeConfig.for_task("flores_en", instruction="English: ", llm_input="soft+instruction+text")
    assert cli_train_config("--task", "flores_en", "--instruction", "English: ",
                            "--llm-input", "soft+instruction+text").bridge == own
    assert BridgeConfig.for_task(instruction="Topic: ").llm_input == "soft+instruction"


def test_paper_is_the_token_gate_on_the_layer_outputs_and_fixes_them():
    paper = BridgeConfig.paper()
    assert paper == dataclasses.replace(BridgeConfig(), **PAPER_BRIDGE)
    assert (paper.fusion, paper.layers, paper.normalize, paper.fusion_options) == ("token_softmax", "all", "none", {})
    assert BridgeConfig.paper(projector="mlp").projector == "mlp"
    with pytest.raises(ConfigError, match="fixes layers, fusion_options"):
        BridgeConfig.paper(layers="upper_half", fusion_options={"init": "last"})


def test_flags_come_from_the_field_metadata():
    flagged = {f.name for f in bridge_fields()}
    assert flagged == {f.name for f in dataclasses.fields(BridgeConfig)} - set(RECORDS)
    parser = argparse.ArgumentParser()
    add_bridge_options(parser)
    args = parser.parse_args([])
    for f in bridge_fields():
        assert f.metadata["help"] and hasattr(args, flag_dest(f)), f.name
    assert {flag_name(f) for f in bridge_fields()} >= {
        "--encoder", "--llm", "--fusion", "--fusion-option", "--projector", "--projector-option", "--projector-init",
        "--injection", "--injection-option", "--layers", "--normalize", "--max-encoder-length", "--encoder-prefix",
        "--unfreeze-encoder", "--center-languages", "--llm-input", "--instruction", "--chat-template"}
    assert args.layers is None and args.normalize is None and args.llm_input is None and args.instruction is None
    assert args.fusion_option == [] and args.projector_init == "default" and args.max_encoder_length == 200
    assert bridge_config_from_args(args) == BridgeConfig()
    no_fusion = argparse.ArgumentParser()
    add_bridge_options(no_fusion, fusion_default=None)
    assert not hasattr(no_fusion.parse_args([]), "fusion")


def test_every_setting_round_trips_through_its_flag():
    parser = argparse.ArgumentParser()
    add_bridge_options(parser)
    args = parser.parse_args([
        "--encoder", "e", "--llm", "l", "--fusion", "token_softmax", "--fusion-option", "gate_ffn_size=16",
        "--projector", "perceiver", "--projector-option", "latents=8", "--projector-init", "default",
        "--injection", "cross_attention", "--injection-option", "gate_init=0.5", "--soft-prompt-length", "2",
        "--layers", "1,3", "--normalize", "scale", "--max-encoder-length", "64", "--encoder-prefix", "query: ",
        "--unfreeze-encoder", "--no-bos", "--center-languages", "--llm-input", "soft+instruction+text",
        "--instruction", "Say: {text}", "--chat-template"])
    assert bridge_config_from_args(args) == BridgeConfig(
        encoder="e", llm="l", fusion="token_softmax", fusion_options={"gate_ffn_size": 16}, projector="perceiver",
        projector_options={"latents": 8}, injection="cross_attention", injection_options={"gate_init": 0.5},
        soft_prompt_length=2, layers=[1, 3], normalize="scale", max_encoder_length=64, encoder_prefix="query: ",
        freeze_encoder=False, use_bos=False, center_languages=True, llm_input="soft+instruction+text",
        instruction="Say: {text}", chat_template=True)


def test_bad_flags_name_the_option():
    with pytest.raises(ConfigError, match="--layers: expected all"):
        bridge_config_from_args(train_args("--layers", "top"))
    with pytest.raises(ConfigError, match="--fusion-option expects KEY=VALUE"):
        bridge_config_from_args(train_args("--fusion-option", "novalue"))
    with pytest.raises(ConfigError, match="drop --layers, --fusion-option or drop --paper"):
        apply_paper_flag(train_args("--paper", "--layers", "2", "--fusion-option", "init=last"), fusion_dest="fusion")
    assert parse_layers("upper_half") == "upper_half" and parse_layers("0, 2") == [0, 2]
