"""What the app shows for one text: the bridge's answer (each label's probability for a classification
bridge, the generated text otherwise) and each encoder token's weight over the fused layers."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from layerbridge.bridge.config import CONFIG_NAME
from layerbridge.bridge.saving import WEIGHTS_NAME
from layerbridge.errors import ConfigError, DataError
from layerbridge.tasks.base import is_blank

MAX_TEXT_CHARS = 20_000  # one text a person types or pastes; longer is refused, not silently cut
MODES = ("rank", "rank_mean")
BRIDGE_FILES = f"{CONFIG_NAME} and {WEIGHTS_NAME}, as `layerbridge train` writes them"


def check_bridge_folder(folder: str | Path) -> Path:
    """`folder` if it holds a saved bridge; a clear ConfigError otherwise (before any model loads)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder: give the folder of a saved bridge (it holds {BRIDGE_FILES})")
    missing = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"{folder} is not a saved bridge: it has no {' and no '.join(missing)} "
                          f"(a bridge folder holds {BRIDGE_FILES})")
    return folder


def readable_tokens(tokenizer, tokens: list[str]) -> list[str]:
    """Each token as the text it stands for ("▁word" -> " word"); the raw token where that text is
    empty or only part of a character (byte-level pieces of a non-Latin script)."""
    shown = []
    for token in tokens:
        try:
            text = tokenizer.convert_tokens_to_string([token])
        except Exception:  # a tokenizer without a usable decoder: the raw token says enough
            text = token
        shown.append(token if not text.strip() or "\ufffd" in text else text)
    return shown


def token_spans(tokenizer, text: str, tokens: list[str]) -> list[str] | None:
    """Each token as the span of `text` it covers (a byte-level piece of a Sinhala letter shows that
    letter; a special token itself), from the tokenizer's offsets; None where they are not at hand
    (a slow tokenizer) or do not line up with `tokens` (a truncated text)."""
    try:
        found = tokenizer(text, return_offsets_mapping=True)
    except (NotImplementedError, ValueError, TypeError):
        return None
    if tokenizer.convert_ids_to_tokens(found["input_ids"]) != tokens:
        return None
    spans = [text[start:end] if end > start else token for token, (start, end) in zip(tokens, found["offset_mapping"])]
    return [span if span.strip() else "\u2423" * len(span) for span in spans]  # a space shows as ␣


@dataclass
class Answerer:
    """A loaded bridge and what it was trained for; `answer(text)` is one request of the page.
    Requests run one at a time (the server is threaded, the model is not meant to be)."""

    bridge: Any
    folder: Path
    task: Any = None  # a Task, or None: free text from the raw input
    mode: str = "rank"
    decoding: Any = None  # layerbridge.decoding.Decoding for free text
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, folder: str | Path, *, task: str | None = None, cache_dir: str | None = None,
             mode: str = "rank", decoding=None) -> "Answerer":
        from layerbridge.bridge import LayerBridge
        from layerbridge.decoding import decoding_for
        from layerbridge.machine import inference_device
        from layerbridge.tasks import get_task

        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, not {mode!r}")
        folder = check_bridge_folder(folder)
        bridge = LayerBridge.from_pretrained(folder, cache_dir=cache_dir).to(inference_device())
        return cls(bridge, folder, get_task(task) if task else None, mode, decoding_for(bridge, decoding))

    @property
    def kind(self) -> str:
        return "classification" if self.task is not None and not self.task.is_generation else "generation"

    def info(self) -> dict:
        """What the page says about the bridge before any text."""
        config = self.bridge.config
        return {"bridge": str(self.folder), "task": getattr(self.task, "name", None), "kind": self.kind,
                "labels": list(self.task.label_words) if self.kind == "classification" else None,
                "encoder": config.encoder, "llm": config.llm, "fusion": config.fusion,
                "layers": list(self.bridge.layer_indices) if self.bridge.reads_soft_tokens else [],
                "mode": self.mode if self.kind == "classification" else "generate"}

    def encoder_input(self, text: str) -> str:
        """The text in the task's prompt, as training and `predict` give it to the encoder."""
        if self.task is None:
            return text
        try:
            return self.task.render({"text": text})
        except (KeyError, ValueError) as err:
            raise DataError(f"the {self.task.name} prompt needs more than one text ({err} missing): "
                            f"{self.task.prompt!r}") from err

    def answer(self, text: str) -> dict:
        """The answer and the heat map for one text, as the page's JSON."""
        if not isinstance(text, str) or is_blank(text):
            raise DataError("the text is empty: type or paste a text in any language")
        if len(text) > MAX_TEXT_CHARS:
            raise DataError(f"the text has {len(text)} characters; the app takes at most {MAX_TEXT_CHARS}")
        started = time.perf_counter()
        prompt = self.encoder_input(text)
        with self.lock:
            result = self.classify(prompt) if self.kind == "classification" else self.write(prompt)
            result["heatmap"] = self.heatmap(prompt)
            result["truncated"] = bool(self.bridge.truncated([prompt])[0])
        return {"kind": self.kind, "task": getattr(self.task, "name", None), "encoder_input": prompt, **result,
                "max_encoder_length": self.bridge.config.max_encoder_length,
                "seconds": round(time.perf_counter() - started, 3)}

    def classify(self, prompt: str) -> dict:
        """p(label | text) over the task's labels: the softmax of their log-likelihoods (summed over
        a label's tokens, EOS included; per token with mode rank_mean), as `predict --mode rank`."""
        labels = list(self.task.label_words)
        scores = self.bridge.score([prompt], labels)[0].float().cpu()  # (C,)
        if self.mode == "rank_mean":
            scores = scores / torch.tensor([len(ids) for ids in self.bridge.target_ids(labels)], dtype=torch.float32)
        probs = torch.softmax(scores, dim=-1).tolist()
        best = max(range(len(labels)), key=probs.__getitem__)
        return {"answer": labels[best],
                "labels": [{"label": w, "probability": p, "log_likelihood": s}
                           for w, p, s in zip(labels, probs, scores.tolist())]}

    def write(self, prompt: str) -> dict:
        from layerbridge.evaluation.generation import generate_texts

        output = generate_texts(self.bridge, [prompt], self.decoding, batch_size=1)[0]
        return {"answer": output, "output": output}

    def heatmap(self, prompt: str) -> dict | None:
        """Encoder tokens (rows) x fused layers (columns); None when the LLM reads no encoder layers."""
        if not self.bridge.reads_soft_tokens:
            return None
        found = self.bridge.layer_weights([prompt])[0]
        weights = found["weights"].float().reshape(len(found["tokens"]), -1).tolist()
        tokenizer, text = self.bridge.encoder_tokenizer, self.bridge.config.encoder_prefix + prompt
        shown = token_spans(tokenizer, text, found["tokens"]) or readable_tokens(tokenizer, found["tokens"])
        return {"tokens": shown, "raw_tokens": found["tokens"],
                "layers": list(found["layers"]), "weights": [[round(w, 5) for w in row] for row in weights]}
