"""The evaluation-harness model on tiny models and local YAML tasks (absolute data paths: the
harness resolves relative `data_files` against the working directory): its multiple-choice
answers equal layerbridge's rank predictions, its generations equal `LayerBridge.generate`."""

import json

import pytest
import torch

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.cli.main import main
from layerbridge.evaluation.predict import predict

from tiny_models import save_tiny_models

lm_eval = pytest.importorskip("lm_eval", reason="the lm-eval extra is not installed")

LABELS = ["Sports", "Political", "Science"]
ROWS = [("The match ended with a late goal.", 0), ("Parliament passed the budget.", 1), ("A new phone chip.", 2),
        ("ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම ජයග්‍රහණය කළේය.", 0), ("ජනාධිපති පක්ෂ නායකයින් හමුවිය.", 1),
        ("The team won the cup.", 0)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_eval")
    enc, llm = save_tiny_models(root)
    torch.manual_seed(0)
    bridge = LayerBridge.from_config(BridgeConfig(encoder=str(enc), llm=str(llm), fusion="global_softmax"))
    bridge.save_pretrained(root / "bridge")
    data = root / "rows.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": l, "target": LABELS[l]}, ensure_ascii=False) + "\n"
                            for t, l in ROWS), encoding="utf-8")
    tasks = root / "tasks"
    tasks.mkdir()
    common = (f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
              "doc_to_text: '{{text}}'\n")
    (tasks / "tiny_topics.yaml").write_text(
        f"task: tiny_topics\n{common}output_type: multiple_choice\ndoc_to_choice: {json.dumps(LABELS)}\n"
        "doc_to_target: label\ntarget_delimiter: ''\nmetric_list:\n  - metric: acc\n", encoding="utf-8")
    (tasks / "tiny_echo.yaml").write_text(
        f"task: tiny_echo\n{common}output_type: generate_until\ndoc_to_target: '{{{{target}}}}'\n"
        "generation_kwargs:\n  until: ['\\n', '.']\n  max_gen_toks: 6\nmetric_list:\n  - metric: exact_match\n",
        encoding="utf-8")
    return root, LayerBridge.from_pretrained(root / "bridge")


def test_harness_choices_and_generations_equal_layerbridges_own(setup):
    root, bridge = setup
    out = root / "out"
    assert main(["lm-eval", str(root / "bridge"), "--tasks", "tiny_topics,tiny_echo", "--include-path",
                 str(root / "tasks"), "-o", str(out), "--batch-size", "4"]) == 0
    results = json.loads((out / "results.json").read_text())
    texts = [t for t, _ in ROWS]
    ours, _ = predict(bridge, texts, LABELS, mode="rank")
    samples = [json.loads(line) for line in (out / "samples_tiny_topics.jsonl").read_text().splitlines()]
    samples.sort(key=lambda s: s["doc_id"])
    theirs = [max(range(len(LABELS)), key=lambda c: s["filtered_resps"][c][0]) for s in samples]
    assert theirs == ours
    accuracy = sum(p == l for p, (_, l) in zip(ours, ROWS)) / len(ROWS)
    assert results["results"]["tiny_topics"]["acc,none"] == pytest.approx(accuracy)
    scores = bridge.score(texts, LABELS)  # the harness's log-likelihoods are layerbridge's rank scores
    for s in samples:
        torch.testing.assert_close(torch.tensor([r[0] for r in s["filtered_resps"]]), scores[s["doc_id"]],
                                   atol=1e-4, rtol=1e-4)
    generated = [json.loads(line) for line in (out / "samples_tiny_echo.jsonl").read_text().splitlines()]
    generated.sort(key=lambda s: s["doc_id"])
    expected = bridge.generate(texts, max_new_tokens=6, stop_at_newline=False, stop_strings=["\n", "."])
    assert [s["filtered_resps"][0] for s in generated] == expected
    assert "tiny_topics" in (out / "results.md").read_text()


def test_rolling_loglikelihood_is_refused_and_bad_tasks_named(setup, capsys):
    from layerbridge.integrations.lm_eval import LayerBridgeLM

    root, bridge = setup
    with pytest.raises(NotImplementedError, match="not defined for a bridge"):
        LayerBridgeLM(bridge).loglikelihood_rolling([])
    assert main(["lm-eval", str(root / "bridge"), "--tasks", "no_such_task", "-o", str(root / "x")]) == 2
    assert "unknown harness task(s) ['no_such_task']" in capsys.readouterr().err
