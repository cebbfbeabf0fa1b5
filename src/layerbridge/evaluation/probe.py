"""Reference: a linear probe on the frozen encoder (no LLM), trained on the same English data.

It answers "how much of the encoder's knowledge does the bridge keep?": logistic regression on
mean-pooled encoder states, (a) of the last layer and (b) of the layer mix that scores best on
the English dev set (each single layer, the mean of all layers, the mean of the upper half).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from layerbridge.evaluation.metrics import accuracy


@torch.no_grad()
def pooled_features(bridge, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Mean over real tokens of every fused layer: (N, L, D) float32."""
    rows = []
    for start in range(0, len(texts), batch_size):
        enc = bridge.tokenize(texts[start : start + batch_size])
        states = bridge.encoder_states(**enc).float()  # (B, S, L, D)
        mask = enc["attention_mask"].float()[:, :, None, None]  # (B, S, 1, 1)
        rows.append(((states * mask).sum(1) / mask.sum(1)).cpu().numpy())  # (B, L, D)
    return np.concatenate(rows)


def layer_mixes(num_layers: int) -> dict[str, list[int]]:
    """Candidate mixes (positions among the fused layers) for the probe."""
    mixes = {"last layer": [num_layers - 1], "mean of all layers": list(range(num_layers)),
             "mean of upper half": list(range(num_layers // 2, num_layers))}
    mixes.update({f"layer position {i}": [i] for i in range(num_layers - 1)})
    return mixes


def fit(features: np.ndarray, labels: list[int], seed: int) -> LogisticRegression:
    return LogisticRegression(max_iter=3000, C=1.0, random_state=seed).fit(features, labels)


def linear_probe(bridge, train, dev, evaluation: dict[str, list], *, seed: int = 0) -> dict[str, dict]:
    """{row name: {"mix": ..., "dev_accuracy": ..., "accuracy": {lang: acc}}} for the two probes."""
    train_x = pooled_features(bridge, [e.text for e in train])
    dev_x = pooled_features(bridge, [e.text for e in dev]) if dev else None
    train_y, dev_y = [e.label for e in train], [e.label for e in dev]
    mixes = layer_mixes(train_x.shape[1])
    scored = {}
    for name, layers in mixes.items():
        model = fit(train_x[:, layers].mean(1), train_y, seed)
        dev_acc = accuracy(dev_y, model.predict(dev_x[:, layers].mean(1)).tolist()) if dev else float("nan")
        scored[name] = (dev_acc, model, layers)
    best = max((n for n in scored if n != "last layer"), key=lambda n: scored[n][0])
    eval_x = {lang: pooled_features(bridge, [e.text for e in examples]) for lang, examples in evaluation.items()}
    rows = {}
    for row, name in (("probe: last layer", "last layer"), (f"probe: best mix ({best})", best)):
        dev_acc, model, layers = scored[name]
        acc = {}
        for lang, examples in evaluation.items():
            predicted = model.predict(eval_x[lang][:, layers].mean(1)).tolist()
            acc[lang] = accuracy([e.label for e in examples], predicted)
        rows[row] = {"mix": name, "fused_layers": [bridge.layer_indices[i] for i in layers],
                     "dev_accuracy": dev_acc, "accuracy": acc}
    return rows
