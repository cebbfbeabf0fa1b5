"""Two-stage training (`--init-from`, TrainConfig.init_from) on tiny random models: stage 2 starts
exactly where stage 1 ended, a design or base model that does not fit is refused naming it, the source
and its sha256 are recorded (train_config.json, bridge_config.json, the model card), a resume refuses
another source, and compare starts every run from the stage-1 bridge."""

import json

import pytest
import torch
from safetensors.torch import load_file

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.cli.main import main
from layerbridge.compare.reuse import file_sha256
from layerbridge.training.config import TrainConfig

from tiny_models import EN, LABELS, XX, save_tiny_models, save_tiny_news, tiny_encoder, tiny_tokenizer


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    """Tiny models, a tiny classification task, and a stage-1 bridge trained 3 steps on it."""
    root = tmp_path_factory.mktemp("init_from")
    enc, llm = save_tiny_models(root)
    task = save_tiny_news(root)
    common = ["--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "3", "--batch-size", "4"]
    first = root / "stage1"
    assert main(["train", *common, "-o", str(first), "--fusion", "global_softmax", "--max-steps", "3",
                 "--lr", "1e-2"]) == 0
    return root, common, first, task, (enc, llm)


def scores(bridge) -> torch.Tensor:
    bridge.eval()
    with torch.no_grad():
        return bridge.score([t for t, _ in EN + XX], LABELS)


def test_stage_two_starts_at_the_stage_one_bridge(stage1):
    from layerbridge.training.recipe import setup

    root, _, first, task, (enc, llm) = stage1
    bridge = BridgeConfig(encoder=str(enc), llm=str(llm), fusion="global_softmax")
    run = setup(TrainConfig(task=str(task), output_dir=str(root / "stage2"), dev_size=3, batch_size=4,
                            learning_rate=1e-2, max_steps=3, init_from=str(first), bridge=bridge))
    saved = LayerBridge.from_pretrained(first)
    assert torch.equal(scores(run.bridge), scores(saved))  # step 0 of stage 2 is the stage-1 bridge
    assert run.optimizer.state == {} and run.start == 0  # a fresh optimizer and schedule
    fresh = setup(TrainConfig(task=str(task), output_dir=str(root / "fresh"), dev_size=3, batch_size=4,
                              max_steps=3, bridge=bridge))
    assert not torch.equal(scores(fresh.bridge), scores(saved))
    record = {"bridge": str(first), "sha256": file_sha256(first / "bridge.safetensors")}
    written = json.loads((root / "stage2" / "train_config.json").read_text())
    assert written["init_from"] == str(first) and written["bridge"]["init_from"] == record
    assert run.bridge.config.init_from == record and bridge.init_from is None  # the caller's config unchanged
    assert json.loads((root / "fresh" / "train_config.json").read_text())["bridge"]["init_from"] is None


def test_the_cli_records_the_source_and_a_resume_refuses_another(stage1, capsys):
    from layerbridge.bridge.hub import model_card

    root, common, first, _, _ = stage1
    second = root / "stage2-cli"
    assert main(["train", *common, "-o", str(second), "--init-from", str(first), "--max-steps", "2"]) == 0
    sha = file_sha256(first / "bridge.safetensors")
    assert json.loads((second / "bridge_config.json").read_text())["init_from"] == {"bridge": str(first), "sha256": sha}
    assert TrainConfig.load(second).init_from == str(first)
    card = model_card(LayerBridge.from_pretrained(second), second)
    assert "Two-stage training" in card and sha in card and str(first) in card
    assert "Two-stage" not in model_card(LayerBridge.from_pretrained(first), first)
    rerun = root / "stage2-rerun"  # a saved stage-2 config reruns it, from the same stage-1 bridge
    assert main(["train", "--config", str(second / "train_config.json"), "-o", str(rerun)]) == 0
    assert (rerun / "bridge_config.json").read_text() == (second / "bridge_config.json").read_text()
    rerun_weights, weights = (load_file(folder / "bridge.safetensors") for folder in (rerun, second))
    assert weights.keys() == rerun_weights.keys() and all(torch.equal(weights[k], rerun_weights[k]) for k in weights)
    capsys.readouterr()
    assert main(["train", *common, "-o", str(second), "--max-steps", "2", "--resume"]) == 2
    assert "init_from" in capsys.readouterr().err


def other_encoder(root):
    """The tiny encoder's shape with other weights."""
    folder = root / "other-encoder"
    tiny_encoder(seed=7).save_pretrained(folder)
    tiny_tokenizer("encoder").save_pretrained(folder)
    return folder


@pytest.mark.parametrize("extra, message", [
    (["--fusion", "token_softmax"], "fusion: 'global_softmax' -> 'token_softmax'"),
    (["--fusion", "global_softmax", "--layers", "2,3"], "layers: 'all' -> [2, 3]"),
    (["--fusion", "global_softmax", "--fusion-option", "temperature=5"], "fusion_options"),
    (["--fusion", "global_softmax", "--projector", "mlp"], "projector: 'linear' -> 'mlp'"),
    (["--fusion", "global_softmax", "--encoder", "OTHER"], "another base model: the stage-1 bridge was trained on encoder"),
])
def test_a_stage_two_that_does_not_fit_is_refused_naming_it(stage1, tmp_path, capsys, extra, message):
    root, common, first, _, _ = stage1
    out = tmp_path / "refused"
    extra = [str(other_encoder(tmp_path)) if e == "OTHER" else e for e in extra]
    capsys.readouterr()
    assert main(["train", *common, *extra, "-o", str(out), "--init-from", str(first), "--max-steps", "2"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(first) in err, err
    assert not (out / "bridge.safetensors").exists()


def test_compare_starts_every_run_from_the_stage_one_bridge(stage1, capsys):
    root, common, first, _, _ = stage1
    out = root / "compare"
    assert main(["compare", *common, "-o", str(out), "--fusions", "global_softmax,global_softmax[init=last]",
                 "--init-from", str(first), "--max-steps", "2", "--references", "llm_alone"]) == 0
    sha = file_sha256(first / "bridge.safetensors")
    for run in ("global_softmax", "global_softmax-init=last"):
        assert json.loads((out / run / "bridge_config.json").read_text())["init_from"]["sha256"] == sha, run
    assert json.loads((out / "llm_alone" / "bridge_config.json").read_text())["init_from"] is None  # from scratch
    assert json.loads((out / "compare.json").read_text())["train_config"]["init_from"] == str(first)
    refused = root / "compare-refused"
    capsys.readouterr()
    assert main(["compare", *common, "-o", str(refused), "--fusions", "global_softmax,last", "--init-from", str(first),
                 "--max-steps", "2", "--references", ""]) == 2
    assert "the compared run 'last'" in capsys.readouterr().err
    assert not (refused / "global_softmax" / "bridge.safetensors").exists()  # refused before any training


def test_a_resumed_stage_two_continues_from_its_checkpoint_and_refuses_a_changed_source(stage1, tmp_path):
    import shutil

    from safetensors.torch import save_file

    from layerbridge.errors import ConfigError
    from layerbridge.training.recipe import fit, setup, train

    root, _, first, task, (enc, llm) = stage1
    source = tmp_path / "stage1-copy"
    shutil.copytree(first, source)

    def config(out):
        return TrainConfig(task=str(task), output_dir=str(out), dev_size=3, batch_size=4, learning_rate=1e-2,
                           max_steps=5, checkpoint_every=2, init_from=str(source),
                           bridge=BridgeConfig(encoder=str(enc), llm=str(llm), fusion="global_softmax"))

    train(config(tmp_path / "straight"))
    run = setup(config(tmp_path / "crashed"))
    for step in fit(run):
        if step == 3:  # its step-2 checkpoint is on disk
            break
    del run
    train(config(tmp_path / "crashed"), resume=True)  # the checkpoint's weights, not the stage-1 ones
    straight, resumed = (load_file(tmp_path / name / "bridge.safetensors") for name in ("straight", "crashed"))
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)
    run = setup(config(tmp_path / "again"))
    for step in fit(run):
        if step == 3:
            break
    del run
    weights = load_file(source / "bridge.safetensors")  # the stage-1 bridge retrained meanwhile
    save_file({k: v + 0.01 for k, v in weights.items()}, source / "bridge.safetensors")
    with pytest.raises(ConfigError, match="bridge.init_from"):
        train(config(tmp_path / "again"), resume=True)


def test_equivalent_projector_options_fit_the_stage_one_bridge():
    """Options compare as the projector reads them (defaults filled in): {} and {"pooled": 0} are one design."""
    from layerbridge.training.init_from import design_mismatches

    stage = BridgeConfig(encoder="e", llm="l", fusion="global_softmax")
    assert design_mismatches(stage, BridgeConfig(encoder="e", llm="l", fusion="global_softmax",
                                                 projector_options={"pooled": 0})) == []
    assert design_mismatches(stage, BridgeConfig(encoder="e", llm="l", fusion="global_softmax",
                                                 projector_options={"pooled": 1}))
