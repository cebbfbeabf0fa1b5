"""Integration tests on the real default models (multilingual-e5-small + SmolLM2-135M-Instruct)
and the shared data: learning signal per fusion, Sinhala generation/scoring, a CLI smoke run."""

import json

import pytest
import torch

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.bridge.loading import load_models
from layerbridge.cli.main import main
from layerbridge.fusion import FUSIONS
from layerbridge.tasks import get_task, load_examples

pytestmark = [pytest.mark.real, pytest.mark.data]


@pytest.fixture(scope="module")
def models():
    return load_models(BridgeConfig())


@pytest.fixture(scope="module")
def sib(data_dir):
    task = get_task("sib200")
    english = load_examples(task, "eng_Latn", "train", data_dir=data_dir, limit=8, seed=0)
    sinhala = load_examples(task, "sin_Sinh", "test", data_dir=data_dir, limit=4, seed=0)
    return task, english, sinhala


@pytest.mark.parametrize("fusion", list(FUSIONS))
def test_one_step_lowers_the_loss(models, sib, fusion):
    task, english, _ = sib
    torch.manual_seed(0)
    bridge = LayerBridge(BridgeConfig(fusion=fusion), *models)
    texts = [e.text for e in english]
    targets = [task.label_words[e.label] for e in english]
    before = bridge.loss(texts, targets).loss.item()
    # a small first Adam step (each weight moves ~lr along -sign(grad)): a descent step for any fusion
    optimizer = torch.optim.AdamW([p for p in bridge.parameters() if p.requires_grad], lr=1e-4)
    bridge.train()
    bridge.loss(texts, targets).loss.backward()
    optimizer.step()
    bridge.eval()
    after = bridge.loss(texts, targets).loss.item()
    assert after < before, (fusion, before, after)


def test_generation_and_scoring_on_sinhala(models, sib):
    """On the real models and Sinhala text: batched greedy generation (left padding, KV cache)
    writes what each text gets alone; shared-prefix rank scores equal the teacher-forced loss of
    each (text, label) pair; per-token layer weights sum to one over the 12 layers."""
    task, _, sinhala = sib
    torch.manual_seed(0)
    bridge = LayerBridge(BridgeConfig(fusion="token_softmax"), *models)
    texts = [e.text for e in sinhala]
    assert any("\u0d80" <= ch <= "\u0dff" for ch in texts[0])  # really Sinhala script
    answers = bridge.generate(texts, max_new_tokens=4, stop_at_newline=False)
    assert answers == [bridge.generate([t], max_new_tokens=4, stop_at_newline=False)[0] for t in texts]
    labels = task.label_words[:3]
    scores = bridge.score(texts, labels)  # (texts, labels), summed log-probabilities with EOS
    for j, label in enumerate(labels):
        out = bridge.loss(texts, [label] * len(texts))
        n_tokens = len(bridge.target_ids([label])[0])
        torch.testing.assert_close(scores[:, j], -out.example_loss.detach() * n_tokens, rtol=1e-4, atol=1e-4)
    weights = bridge.layer_weights(texts[:1])[0]
    assert weights["weights"].shape == (len(weights["tokens"]), 12)
    torch.testing.assert_close(weights["weights"].sum(-1), torch.ones(len(weights["tokens"])), rtol=0, atol=1e-5)


def test_cli_smoke_run_on_shared_data(data_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--task", "sib200", "--data-dir", str(data_dir), "--fusion", "global_softmax",
                 "--train-limit", "40", "--dev-size", "8", "--max-steps", "2", "--batch-size", "4",
                 "--preset", "small-data", "-o", str(out)]) == 0
    assert main(["evaluate", str(out), "--languages", "eng_Latn,sin_Sinh", "--limit", "7", "--mode", "rank",
                 "--data-dir", str(data_dir)]) == 0
    result = json.loads((out / "eval-sib200-rank" / "results.json").read_text())
    assert {lang: r["n"] for lang, r in result["languages"].items()} == {"eng_Latn": 7, "sin_Sinh": 7}
    assert result["summary"]["low_resource_languages"] == ["sin_Sinh"]


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = [part.split("```", 1)[0] for part in readme.split("```python\n")[1:]]
    assert len(blocks) == 2  # the bridge, then generation
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code in blocks:  # run in order, in one namespace, as a reader would
        exec(compile(code, "README.md", "exec"), namespace)
    writer = namespace["writer"]
    assert writer.config.llm_input == "soft+instruction" and writer.projector.weight.grad is not None
    assert (tmp_path / "my-bridge" / "bridge.safetensors").is_file()
    again = namespace["same"].score(namespace["sinhala"], ["Sports", "Politics", "Health"])
    assert torch.equal(again, namespace["bridge"].score(namespace["sinhala"], ["Sports", "Politics", "Health"]))
