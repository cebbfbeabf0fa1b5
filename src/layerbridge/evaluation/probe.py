"""Reference: a linear probe on the frozen encoder (no LLM), trained on the same English data.

It answers "how much of the encoder's knowledge does the bridge keep?": logistic regression on
mean-pooled encoder states, (a) of the last layer and (b) of the layer mix that scores best on
the English dev set (each single layer, the mean of all layers, the mean of the upper half).

Memory: the pooled features are (N, L, D) float32, written batch by batch into one array (no
list of batches, no concatenated copy); a mix is the mean over a slice of it (a view: only its
(N, D) result is new). N is at most `max_examples` training texts (`--probe-max-examples`,
default PROBE_MAX_EXAMPLES): a larger training set is subsampled, stratified by class, and the
row says so. Test languages are pooled one at a time and dropped once predicted.

Centring: with a bridge that has `center_languages` (and its English mean fitted), the dev set and
each test language are pooled inside `bridge.input_language(...)`, so their states are moved onto
English's as the centred bridges' are (transductive); the training texts, English, are not moved.
Without it that block does nothing.
"""

from __future__ import annotations

import numpy as np
import torch

from layerbridge.evaluation.metrics import accuracy
from layerbridge.tasks.sampling import stratified_sample

# Training texts the probe is fitted on at most: 20k x 24 layers x 1024 floats is 1.9 GB of features
# (the paper's 100k would be 9.4 GB). Above the committed studies' training sets (at most a few thousand).
PROBE_MAX_EXAMPLES = 20_000


@torch.no_grad()
def pooled_features(bridge, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Mean over real tokens of every fused layer: (N, L, D) float32, filled batch by batch."""
    features = None
    for start in range(0, len(texts), batch_size):
        enc = bridge.tokenize(texts[start : start + batch_size])
        states = bridge.encoder_states(**enc).float()  # (B, S, L, D)
        mask = enc["attention_mask"].float()[:, :, None, None]  # (B, S, 1, 1)
        pooled = ((states * mask).sum(1) / mask.sum(1)).cpu().numpy()  # (B, L, D)
        if features is None:
            features = np.empty((len(texts), *pooled.shape[1:]), dtype=np.float32)
        features[start : start + len(pooled)] = pooled
    return features if features is not None else np.empty((0, len(bridge.layer_indices), 0), dtype=np.float32)


def layer_mixes(num_layers: int) -> dict[str, list[int]]:
    """Candidate mixes (positions among the fused layers) for the probe: each a contiguous run."""
    mixes = {"last layer": [num_layers - 1], "mean of all layers": list(range(num_layers)),
             "mean of upper half": list(range(num_layers // 2, num_layers))}
    mixes.update({f"layer position {i}": [i] for i in range(num_layers - 1)})
    return mixes


def mix(features: np.ndarray, layers: list[int]) -> np.ndarray:
    """The mean of `layers` (N, D), as numpy's mean computes it (the sum, then divided in place), over a
    slice (a view) when they are contiguous, as every mix is: only the (N, D) result is allocated
    (`ndarray.mean` copies the whole selection first)."""
    if layers == list(range(layers[0], layers[-1] + 1)):
        summed = np.add.reduce(features[:, layers[0] : layers[-1] + 1], axis=1)
    else:
        summed = np.add.reduce(features[:, layers], axis=1)
    return np.true_divide(summed, len(layers), out=summed)


def fit(features: np.ndarray, labels: list[int], seed: int) -> "LogisticRegression":  # noqa: F821
    from sklearn.linear_model import LogisticRegression  # here: the command line imports this module to start

    return LogisticRegression(max_iter=3000, C=1.0, random_state=seed).fit(features, labels)


def probe_training_set(train: list, max_examples: int | None, seed: int) -> tuple[list, str | None]:
    """The training examples the probe is fitted on (at most `max_examples`, stratified by class)
    and a note saying so when they are a subsample."""
    if max_examples is None or len(train) <= max_examples:
        return train, None
    kept = stratified_sample(train, max_examples, seed=seed, salt="probe")
    return kept, (f"fitted on {len(kept)} of {len(train)} training examples (stratified subsample; "
                  f"--probe-max-examples {max_examples} bounds the probe's memory)")


def language_features(bridge, examples: list) -> np.ndarray:
    """`pooled_features` of one language's examples, read as that language (centred where the bridge
    centres languages: their own mean state moved onto English's)."""
    texts = [e.text for e in examples]
    with bridge.input_language(texts):
        return pooled_features(bridge, texts)


def linear_probe(bridge, train, dev, evaluation: dict[str, list], *, seed: int = 0,
                 max_examples: int | None = PROBE_MAX_EXAMPLES, name: str = "probe") -> dict[str, dict]:
    """{row name: {"mix": ..., "dev_accuracy": ..., "accuracy": {lang: acc}}} for the two probes
    ("<name>: last layer" and "<name>: best mix (...)"; with "train_examples" and a "note" when the
    training set was subsampled)."""
    train, note = probe_training_set(train, max_examples, seed)
    if note:
        print(f"probe: {note}")
    train_x = pooled_features(bridge, [e.text for e in train])
    dev_x = language_features(bridge, dev) if dev else None
    train_y, dev_y = [e.label for e in train], [e.label for e in dev]
    scored = {}
    for mix_name, layers in layer_mixes(train_x.shape[1]).items():
        model = fit(mix(train_x, layers), train_y, seed)
        dev_acc = accuracy(dev_y, model.predict(mix(dev_x, layers)).tolist()) if dev else float("nan")
        scored[mix_name] = (dev_acc, model, layers)
    del train_x, dev_x
    best = max((n for n in scored if n != "last layer"), key=lambda n: scored[n][0])
    chosen = {f"{name}: last layer": "last layer", f"{name}: best mix ({best})": best}
    acc: dict[str, dict[str, float]] = {row: {} for row in chosen}
    for lang, examples in evaluation.items():  # one language's features at a time
        eval_x = language_features(bridge, examples)
        for row, mix_name in chosen.items():
            predicted = scored[mix_name][1].predict(mix(eval_x, scored[mix_name][2])).tolist()
            acc[row][lang] = accuracy([e.label for e in examples], predicted)
    return {row: {"mix": mix_name, "fused_layers": [bridge.layer_indices[i] for i in scored[mix_name][2]],
                  "dev_accuracy": scored[mix_name][0], "accuracy": acc[row],
                  **({"train_examples": len(train), "note": note} if note else {})}
            for row, mix_name in chosen.items()}
