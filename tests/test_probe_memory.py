"""The probe reference's memory (issue 29, defect 4): its features are filled batch by batch into
one array and mixed over views, so its numbers equal the old computation's; and a flag bounds the
training texts it pools (a stratified subsample, said in its rows)."""

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.compare.references import probe_config
from layerbridge.evaluation import probe
from layerbridge.evaluation.metrics import accuracy
from layerbridge.tasks.base import Example

TEXTS = ["The match ended with a late goal and the fans cheered.", "The team won the cup after extra time.",
         "Parliament passed the new budget after a long debate.", "The president met party leaders.",
         "A new phone with a faster chip was released today.", "Scientists measured the speed of the chip.",
         "The film won three awards at the festival.", "The company reported higher profits this quarter."]


def examples(n: int, lang: str = "en") -> list[Example]:
    return [Example(id=f"t/{lang}/train/{i}", text=f"{TEXTS[i % len(TEXTS)]} {i}", label=(i // 2) % 3, lang=lang)
            for i in range(n)]


@pytest.fixture
def bridge(tiny_parts):
    return LayerBridge(probe_config(BridgeConfig(encoder="tiny", llm="tiny", fusion="last")), *tiny_parts)


# ---- the probe as it was before (issue 29): a list of batches, concatenated; each mix an indexed copy
def old_pooled_features(bridge, texts, batch_size=32):
    import torch

    rows = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            enc = bridge.tokenize(texts[start : start + batch_size])
            states = bridge.encoder_states(**enc).float()
            mask = enc["attention_mask"].float()[:, :, None, None]
            rows.append(((states * mask).sum(1) / mask.sum(1)).cpu().numpy())
    return np.concatenate(rows)


def old_linear_probe(bridge, train, dev, evaluation, seed=0):
    fit = lambda x, y: LogisticRegression(max_iter=3000, C=1.0, random_state=seed).fit(x, y)  # noqa: E731
    train_x, dev_x = old_pooled_features(bridge, [e.text for e in train]), old_pooled_features(bridge, [e.text for e in dev])
    scored = {}
    for name, layers in probe.layer_mixes(train_x.shape[1]).items():
        model = fit(train_x[:, layers].mean(1), [e.label for e in train])
        scored[name] = (accuracy([e.label for e in dev], model.predict(dev_x[:, layers].mean(1)).tolist()), model, layers)
    best = max((n for n in scored if n != "last layer"), key=lambda n: scored[n][0])
    rows = {}
    for row, name in (("probe: last layer", "last layer"), (f"probe: best mix ({best})", best)):
        dev_acc, model, layers = scored[name]
        acc = {lang: accuracy([e.label for e in ex], model.predict(
            old_pooled_features(bridge, [e.text for e in ex])[:, layers].mean(1)).tolist()) for lang, ex in evaluation.items()}
        rows[row] = {"mix": name, "fused_layers": [bridge.layer_indices[i] for i in layers], "dev_accuracy": dev_acc,
                     "accuracy": acc}
    return rows


def test_features_and_probe_rows_equal_the_old_computation(bridge):
    texts = [e.text for e in examples(70)]  # three batches, the last one short
    new, old = probe.pooled_features(bridge, texts), old_pooled_features(bridge, texts)
    assert new.dtype == np.float32 and new.shape == old.shape == (70, len(bridge.layer_indices), 32)
    assert np.array_equal(new, old)
    for layers in probe.layer_mixes(new.shape[1]).values():
        assert np.array_equal(probe.mix(new, layers), old[:, layers].mean(1))
    train, dev = examples(30), examples(9, "dev")
    evaluation = {"en": examples(6, "xx"), "xx": examples(12, "yy")}
    assert probe.linear_probe(bridge, train, dev, evaluation) == old_linear_probe(bridge, train, dev, evaluation)


POOL_IN_A_PROCESS = """
import torch
from layerbridge.evaluation.probe import pooled_features

class Bridge:  # encoder states of 8 layers x 4096 (an XL encoder's width), 4 tokens per text
    layer_indices = list(range(8))
    def tokenize(self, texts):
        return {"input_ids": torch.zeros(len(texts), 4, dtype=torch.long), "attention_mask": torch.ones(len(texts), 4)}
    def encoder_states(self, input_ids, attention_mask):
        return torch.ones(len(input_ids), 4, 8, 4096)

pooled_features(Bridge(), ["warm-up"] * 32)
status = lambda key: int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith(key))) * 1024
open("/proc/self/clear_refs", "w").write("5")  # the peak resident size starts again from the current one
before = status("VmRSS:")
features = pooled_features(Bridge(), ["text"] * 1024)
print(status("VmHWM:") - before, features.nbytes)
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="reads Linux's /proc")
def test_pooling_keeps_one_array_of_the_features():
    """Peak memory of pooling (N, L, D) = (1024, 8, 4096) float32 (128 MiB) in a fresh process: about
    its result and one batch's temporaries (before: the batches and their concatenation, twice it).
    Large blocks mmapped by malloc, so freed temporaries leave the measure."""
    out = subprocess.run([sys.executable, "-c", POOL_IN_A_PROCESS], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536"})
    assert out.returncode == 0, out.stderr[-2000:]
    grown, size = map(int, out.stdout.split())
    assert grown < 1.5 * size, (grown / 2**20, size / 2**20)  # the result and one batch's temporaries


def test_a_mix_allocates_only_its_mean(bridge):
    """A mix of every layer allocates its (N, D) mean only (before: an (N, L, D) indexed copy first)."""
    features = probe.pooled_features(bridge, [e.text for e in examples(256)])
    tracemalloc.start()
    mixed = probe.mix(features, list(range(features.shape[1])))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2.5 * mixed.nbytes < features.nbytes, (peak, mixed.nbytes, features.nbytes)


def test_max_examples_bounds_the_pooled_training_texts_and_the_rows_say_so(bridge, monkeypatch, capsys):
    pooled = []
    pool = probe.pooled_features
    monkeypatch.setattr(probe, "pooled_features", lambda b, texts: pooled.append(len(texts)) or pool(b, texts))
    train = examples(30)
    rows = probe.linear_probe(bridge, train, examples(6, "dev"), {"xx": examples(9, "xx")}, max_examples=12)
    assert max(pooled) == 12 and pooled[0] == 12  # the training texts pooled: 12 of 30
    for row in rows.values():
        assert row["train_examples"] == 12 and "fitted on 12 of 30 training examples" in row["note"]
    assert "--probe-max-examples 12" in capsys.readouterr().out
    kept, _ = probe.probe_training_set(train, 12, seed=0)
    assert sorted(e.label for e in kept) == [0] * 4 + [1] * 4 + [2] * 4  # stratified by class
    pooled.clear()
    rows = probe.linear_probe(bridge, train, examples(6, "dev"), {"xx": examples(9, "xx")})  # default: all 30
    assert pooled[0] == 30 and all("note" not in row for row in rows.values())


def test_compare_passes_the_flag_to_the_probe():
    import argparse

    from layerbridge.cli.compare_cmd import add_comparison_options

    parser = argparse.ArgumentParser()
    add_comparison_options(parser, fusions="last", languages_help="")
    assert parser.parse_args([]).probe_max_examples == probe.PROBE_MAX_EXAMPLES
    assert parser.parse_args(["--probe-max-examples", "500"]).probe_max_examples == 500


def test_the_centred_probe_reads_each_language_moved_onto_english(tiny_parts):
    """probe_centred (issue 32): a test language's pooled features are its uncentred ones shifted by
    (English mean - its own mean), per layer, as a centred bridge moves every token state; the dev and
    test languages are centred, the English training texts are not."""
    from layerbridge.bridge.centring import mean_state

    base = BridgeConfig(encoder="tiny", llm="tiny", fusion="last")
    plain = LayerBridge(probe_config(base), *tiny_parts)
    centred = LayerBridge(probe_config(base, centred=True), *tiny_parts)
    assert centred.config.center_languages and not plain.config.center_languages
    train, other = examples(12), [Example(id=f"x/{i}", text=f"ජනාධිපති {i} නව දුරකථනය", label=i % 3, lang="xx")
                                  for i in range(9)]
    centred.fit_source_mean([e.text for e in train])
    shift = (centred.centring.source_mean - mean_state(centred, [e.text for e in other])).numpy()  # (L, D)
    assert np.abs(shift).max() > 1e-3  # the two languages' means differ: the test can tell
    moved = probe.language_features(centred, other)
    np.testing.assert_allclose(moved, probe.language_features(plain, other) + shift[None], atol=1e-5)
    assert centred.centring.input_mean is None  # the language block is left
    np.testing.assert_allclose(probe.pooled_features(centred, [e.text for e in train]),
                               probe.pooled_features(plain, [e.text for e in train]), atol=1e-6)
    rows = probe.linear_probe(centred, train, examples(6, "dev"), {"xx": other}, name="probe, centred")
    assert set(rows) == {"probe, centred: last layer", next(r for r in rows if r.startswith("probe, centred: best mix"))}
    last = [moved.shape[1] - 1]  # the rows' accuracy is that of the moved features
    model = probe.fit(probe.mix(probe.pooled_features(centred, [e.text for e in train]), last), [e.label for e in train], 0)
    expected = accuracy([e.label for e in other], model.predict(probe.mix(moved, last)).tolist())
    assert rows["probe, centred: last layer"]["accuracy"]["xx"] == expected
