"""`compare` trains runs that differ only in center_languages once (compare.twins): the run after its
twin takes the twin's weights and fits (or drops) the English mean. The claim this rests on, that
centring changes nothing in training, is checked here: the derived run equals the run trained on its
own, weights, English mean, dev scores and test results."""

import json

import torch
from safetensors.torch import load_file

from layerbridge.cli.main import main
from layerbridge.training.config import TrainConfig

from tiny_models import save_tiny_models, save_tiny_news

CENTRED = "global_softmax[center_languages=true]"
CENTRED_DIR = "global_softmax-center_languages=true"
GRID = ("0.001", "0.03")


def compare(root, common, fusions: str, name: str):
    out = root / name
    assert main(["compare", *common, "--fusions", fusions, "-o", str(out)]) == 0
    return out, json.loads((out / "compare.json").read_text())


def summary(folder):
    return json.loads((folder / "train_summary.json").read_text())


def assert_same_run(derived, trained):
    """Same weights (the English mean included), settings and dev score."""
    a, b = load_file(derived / "bridge.safetensors"), load_file(trained / "bridge.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=lambda m: f"{key}: {m}")
    assert summary(derived)["dev_accuracy"] == summary(trained)["dev_accuracy"]
    assert TrainConfig.load(derived).to_dict() | {"output_dir": "", "run_name": ""} == \
        TrainConfig.load(trained).to_dict() | {"output_dir": "", "run_name": ""}


def test_a_run_that_differs_from_an_earlier_one_only_in_centring_is_not_trained_twice(tmp_path):
    enc, llm = save_tiny_models(tmp_path)
    task = save_tiny_news(tmp_path)
    common = ["--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "3", "--max-steps", "3",
              "--batch-size", "4", "--lr-grid", ",".join(GRID), "--references", ""]
    pair, pair_doc = compare(tmp_path, common, f"global_softmax,{CENTRED}", "pair")
    alone, alone_doc = compare(tmp_path, common, CENTRED, "alone")
    for lr in GRID:
        derived, trained = pair / CENTRED_DIR / f"lr-{lr}", alone / CENTRED_DIR / f"lr-{lr}"
        assert summary(derived)["derived_from"]["run"] == str(pair / "global_softmax" / f"lr-{lr}")
        assert "derived_from" not in summary(trained) and "derived_from" not in summary(pair / "global_softmax" / f"lr-{lr}")
        assert "centring.source_mean" in load_file(derived / "bridge.safetensors")
        assert_same_run(derived, trained)
    assert pair_doc["runs"][CENTRED]["chosen_lr"] == alone_doc["runs"][CENTRED]["chosen_lr"]
    untimed = lambda doc: {lang: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
                           for lang, r in doc["runs"][CENTRED]["results"].items()}
    assert untimed(pair_doc) == untimed(alone_doc)

    # the other order: the plain run after its centred twin drops the English mean
    flipped, _ = compare(tmp_path, common, f"{CENTRED},global_softmax", "flipped")
    for lr in GRID:
        derived = flipped / "global_softmax" / f"lr-{lr}"
        assert summary(derived)["derived_from"]["run"] == str(flipped / CENTRED_DIR / f"lr-{lr}")
        assert not any(k.startswith("centring.") for k in load_file(derived / "bridge.safetensors"))
        assert_same_run(derived, pair / "global_softmax" / f"lr-{lr}")


def test_only_an_earlier_twin_of_the_same_learning_rate_counts_and_never_after_a_stage_one(tmp_path):
    from types import SimpleNamespace

    from layerbridge.bridge import BridgeConfig
    from layerbridge.compare.twins import earlier_twin

    plain, centred = BridgeConfig(), BridgeConfig(center_languages=True)
    pooled = BridgeConfig(center_languages=True, projector_options={"pooled": 1})
    runs = {"global_softmax": plain, CENTRED: centred, "pooled": pooled}
    cfg = SimpleNamespace(train=SimpleNamespace(output_dir=str(tmp_path), init_from=None), runs=runs)
    (tmp_path / "global_softmax" / "lr-0.001").mkdir(parents=True)
    (tmp_path / "global_softmax" / "lr-0.001" / "train_summary.json").write_text("{}")  # finished at 1e-3 only
    assert earlier_twin(cfg, tmp_path / CENTRED_DIR / "lr-0.001", centred) == tmp_path / "global_softmax" / "lr-0.001"
    assert earlier_twin(cfg, tmp_path / CENTRED_DIR / "lr-0.03", centred) is None  # that rate has not trained
    assert earlier_twin(cfg, tmp_path / "global_softmax" / "lr-0.001", plain) is None  # its twin comes after it
    assert earlier_twin(cfg, tmp_path / "pooled" / "lr-0.001", pooled) is None  # differs in more than centring
    cfg.train.init_from = "stage-1"
    assert earlier_twin(cfg, tmp_path / CENTRED_DIR / "lr-0.001", centred) is None
