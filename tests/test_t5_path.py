"""A real T5-family encoder through the whole path: a tiny mT5 / umT5 checkpoint saved as a local
transformers folder (encoder and decoder, as the hub holds them, with its tokenizer) is trained,
scored, generated with, saved and loaded back through the command line, in fp32 and in bf16."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import MT5EncoderModel, UMT5EncoderModel

from layerbridge.bridge import LayerBridge
from layerbridge.cli.main import main

from test_cli import setup  # noqa: F401  (setup: test_cli's tiny LLM and task, a fixture)
from tiny_models import LABELS, XX, save_tiny_t5


def bf16_usable() -> bool:
    """bf16 autocast that torch runs on this CPU (emulated where not native: slow, still right)."""
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.ones(2, 2) @ torch.ones(2, 2)
        return True
    except (RuntimeError, AssertionError):
        return False


@pytest.fixture(autouse=True)
def fresh_process_precision():
    """Each `layerbridge` command is a process of its own; accelerate keeps one mixed precision per
    process, so a test running commands of several precisions in one process clears it between them."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    yield
    AcceleratorState._reset_state()


@pytest.mark.parametrize("kind,precision", [("mt5", "no"), ("umt5", "bf16")])
def test_t5_encoder_trains_scores_generates_saves_and_loads_through_the_cli(setup, kind, precision, capsys):
    if precision == "bf16" and not bf16_usable():
        pytest.skip("torch cannot run bf16 autocast on this CPU")
    root, _, task = setup
    llm = root / "tiny-llm"
    encoder = save_tiny_t5(root, kind)
    run = root / f"run-{kind}-{precision}"
    assert main(["train", "--encoder", str(encoder), "--llm", str(llm), "--task", str(task), "--dev-size", "3",
                 "--fusion", "token_softmax", "--fusion-option", "gate_ffn_size=16", "--max-steps", "3",
                 "--batch-size", "3", "--lr", "1e-2", "--mixed-precision", precision, "-o", str(run)]) == 0
    summary = json.loads((run / "train_summary.json").read_text())
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 3 and all(torch.isfinite(torch.tensor(e["loss"])) for e in log)
    assert summary["mixed_precision"] == precision and 0 < log[-1]["weight_entropy"]

    for mode in ("rank", "generate"):
        assert main(["evaluate", str(run), "--mode", mode, "--mixed-precision", precision]) == 0
        result = json.loads((run / f"eval-tiny_news-{mode}" / "results.json").read_text())
        assert set(result["languages"]) == {"en", "xx"} and result["languages"]["xx"]["n"] == len(XX)
    capsys.readouterr()
    assert main(["predict", str(run), "A late goal won the match.", "ජනාධිපති"]) == 0
    assert any(label in capsys.readouterr().out for label in LABELS)
    assert main(["predict", str(run), "A late goal won the match.", "--mode", "generate"]) == 0

    bridge = LayerBridge.from_pretrained(run)  # the saved bridge binds to the T5 folder's encoder half again
    assert isinstance(bridge.encoder, {"mt5": MT5EncoderModel, "umt5": UMT5EncoderModel}[kind])
    assert bridge.config.encoder_num_layers == 3 and bridge.layer_indices == [1, 2, 3]  # every layer fused
    assert bridge.encoder_tokenizer.bos_token is None  # T5's kind: no BOS, "</s>" appended
    saved = load_file(str(encoder / "model.safetensors"))  # the checkpoint's own encoder weights, not a fresh init
    for name, value in bridge.encoder.state_dict().items():
        if name in saved:
            assert torch.equal(value, saved[name]), name
    assert "encoder.block.0.layer.0.SelfAttention.q.weight" in saved
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        scores = bridge.score(["The team won the cup after extra time."], LABELS)
    assert scores.shape == (1, len(LABELS)) and torch.isfinite(scores).all()
