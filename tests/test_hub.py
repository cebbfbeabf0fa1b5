"""Sharing bridges on the Hub, offline: `huggingface_hub`'s HfApi and hf_hub_download are replaced
by a fake that keeps uploads in a folder per revision (no network)."""

import json
import shutil
import warnings
from fnmatch import fnmatch
from pathlib import Path

import huggingface_hub
import pytest
import torch

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.cli.main import main
from layerbridge.errors import ConfigError
from layerbridge.sources import load_encoder, load_llm

from tiny_models import save_tiny_models, tiny_llm, tiny_tokenizer

TEXTS = ["The match ended with a late goal.", "ශ්‍රී ලංකා ක්‍රිකට්"]
LABELS = ["Sports", "Political", "Science"]


class FakeHub:
    def __init__(self, root: Path):
        self.root, self.calls = root, []

    def folder(self, repo_id, revision):
        return self.root / repo_id / (revision or "main")

    def api(self, token=None):
        hub = self

        class Api:
            def create_repo(self, repo_id, private=False, exist_ok=False):
                hub.calls.append(("create_repo", repo_id, private))

            def create_branch(self, repo_id, branch, exist_ok=False):
                hub.calls.append(("create_branch", repo_id, branch))

            def upload_folder(self, repo_id, folder_path, revision=None, allow_patterns=None, commit_message=""):
                target = hub.folder(repo_id, revision)
                target.mkdir(parents=True, exist_ok=True)
                for path in Path(folder_path).iterdir():
                    if any(fnmatch(path.name, p) for p in allow_patterns):
                        shutil.copy(path, target / path.name)
                hub.calls.append(("upload_folder", repo_id, revision, sorted(p.name for p in target.iterdir())))
                return type("Commit", (), {"commit_url": f"https://hub.example/{repo_id}/commit/1"})()
        return Api()

    def download(self, repo_id, filename, revision=None):
        path = self.folder(repo_id, revision) / filename
        if not path.is_file():
            raise FileNotFoundError(path)
        return str(path)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    fake = FakeHub(tmp_path / "hub")
    monkeypatch.setattr(huggingface_hub, "HfApi", fake.api)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake.download)
    return fake


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A saved bridge whose folder also holds a training summary and an evaluation, as a run does."""
    root = tmp_path_factory.mktemp("hub")
    enc, llm = save_tiny_models(root)
    torch.manual_seed(0)
    bridge = LayerBridge.from_config(BridgeConfig(encoder=str(enc), llm=str(llm), fusion="token_softmax"))
    folder = root / "run"
    bridge.save_pretrained(folder)
    (folder / "train_summary.json").write_text(json.dumps({"task": "tiny_news", "train_examples": 24, "steps": 7,
                                                           "mixed_precision": "no", "trainable_parameters": 1234}))
    (folder / "eval-tiny_news-rank").mkdir()
    (folder / "eval-tiny_news-rank" / "results.json").write_text(json.dumps(
        {"languages": {"en": {"accuracy": 0.5}, "xx": {"accuracy": 0.25}}}))
    (folder / "checkpoint").mkdir()  # what must never be uploaded
    (folder / "checkpoint" / "optimizer.safetensors").write_text("x")
    return root, folder, enc, llm


def test_push_uploads_only_the_bridge_and_a_model_card(hub, run, capsys):
    _, folder, enc, llm = run
    assert main(["push", str(folder), "someone/tiny-bridge", "--private", "--revision", "v1"]) == 0
    assert ("create_repo", "someone/tiny-bridge", True) in hub.calls and ("create_branch", "someone/tiny-bridge", "v1") in hub.calls
    uploaded = hub.folder("someone/tiny-bridge", "v1")
    assert sorted(p.name for p in uploaded.iterdir()) == ["README.md", "bridge.safetensors", "bridge_config.json"]
    assert (uploaded / "bridge.safetensors").stat().st_size < 2_000_000  # the trained weights only, no frozen model
    card = (uploaded / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: layerbridge" in card and "license: other" in card
    config = json.loads((uploaded / "bridge_config.json").read_text())
    assert config["llm_weights"].startswith("sha256:") and config["llm_weights"] in card
    for fragment in ("token_softmax", "tiny_news", "24 training examples", "| xx | 25.0 |", "2508.09091",
                     'LayerBridge.from_pretrained("someone/tiny-bridge")'):
        assert fragment in card, fragment
    assert "someone/tiny-bridge" in capsys.readouterr().out


def test_round_trip_by_hub_id_and_revision(hub, run):
    _, folder, enc, llm = run
    local = LayerBridge.from_pretrained(folder)
    local.push_to_hub("someone/tiny-bridge", revision="v2")
    models = (*load_encoder(str(enc)), *load_llm(str(llm)))
    remote = LayerBridge.from_pretrained("someone/tiny-bridge", revision="v2", models=models)
    torch.testing.assert_close(remote.score(TEXTS, LABELS), local.score(TEXTS, LABELS))
    with pytest.raises(ConfigError, match="the Hub repo 'someone/tiny-bridge' could not be read"):
        LayerBridge.from_pretrained("someone/tiny-bridge", revision="v3", models=models)


def test_a_mistyped_local_folder_is_never_sent_to_the_hub(run, tmp_path, monkeypatch, capsys):
    _, folder, _, _ = run
    shutil.copytree(folder, tmp_path / "runs" / "sib200")
    monkeypatch.chdir(tmp_path)

    def no_network(*args, **kwargs):
        raise AssertionError("a local path reached the Hub")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    assert main(["predict", "runs/sib20", "hello"]) == 2
    err = capsys.readouterr().err
    assert "runs/sib20: no such folder" in err and "did you mean runs/sib200?" in err and "Traceback" not in err


def test_an_unreachable_hub_repo_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.chdir(tmp_path)  # no folder "runs" here: "runs/nope" can only be a Hub repo id

    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError("Cannot find the requested files in the disk cache and outgoing traffic "
                                      "has been disabled.")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    assert main(["predict", "runs/nope", "hello"]) == 2
    err = capsys.readouterr().err
    assert "runs/nope: not a local folder, and the Hub repo 'runs/nope' could not be read (LocalEntryNotFoundError" in err


def test_other_base_weights_warn_or_raise(run, tmp_path):
    root, folder, enc, _ = run
    other = tmp_path / "other-llm"  # same architecture and tokenizer, other weights
    tiny_llm(seed=7).save_pretrained(other)
    tiny_tokenizer("llm").save_pretrained(other)
    models = (*load_encoder(str(enc)), *load_llm(str(other)))
    with pytest.warns(UserWarning, match="trained on llm weights sha256:"):
        LayerBridge.from_pretrained(folder, models=models)
    with pytest.raises(ConfigError, match="bound to other base weights"):
        LayerBridge.from_pretrained(folder, models=models, strict_base_models=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its own base weights: no warning
        LayerBridge.from_pretrained(folder)
