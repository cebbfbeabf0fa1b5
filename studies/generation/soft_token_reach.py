"""What the soft tokens carry of a sentence's content, read as words (issue 30, "what limits it").

For a trained bridge, every soft token the LLM reads is mapped to its nearest LLM input embedding
(cosine). On flores_en's evaluation sentences (the ids `layerbridge evaluate` scores), per language:
  precision  the share of soft tokens (the encoder's special tokens left out; its punctuation counts)
             whose nearest token is a word of the English reference
  reach      the share of the reference's distinct words that are the nearest token of at least one
             soft token
Words are LLM tokens with a letter or digit, compared lower-cased without their leading space. English
is the copy case (the soft tokens of the reference itself); in another language a soft token can only
land on a reference word if the projector mapped its meaning, not its spelling, to the LLM's
vocabulary. This reads the projector's output as words, which the LLM need not do; it is a diagnostic
of how lexical the soft tokens are, per language, not a score of the translation.

    LAYERBRIDGE_DATA_DIR=../shared/data python -m studies.generation.soft_token_reach RUN [RUN ...] \
        --languages eng_Latn,sin_Sinh --limit 64

writes RUN/soft-token-reach/results.json (`python -m tools.run_record RUN` folds it into run.json).
The control: the same soft tokens against every other sentence's reference of the language.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from layerbridge import LayerBridge
from layerbridge.errors import ConfigError, DataError
from layerbridge.io import atomic_write_text
from layerbridge.tasks import get_task, load_examples

FOLDER = "soft-token-reach"  # not eval-*: it is no evaluation (a model card reads the newest eval-* folder)


def word(text: str) -> str | None:
    """An LLM token's text as a word (lower-cased, stripped), or None for punctuation and space."""
    text = text.strip().lower()
    return text if any(c.isalnum() for c in text) else None


def llm_words(bridge) -> tuple[torch.Tensor, list[str | None]]:
    """The LLM's input embeddings, unit length (V, H), and each row's word (None: not a word, or a
    padding row past the tokenizer's vocabulary)."""
    table = F.normalize(bridge.llm.get_input_embeddings().weight.float(), dim=-1)  # (V, H)
    tokenizer = bridge.llm_tokenizer
    return table, [word(tokenizer.decode([i])) if i < len(tokenizer) else None for i in range(table.shape[0])]


@torch.no_grad()
def nearest_words(bridge, texts: list[str], table: torch.Tensor, vocabulary: list[str | None]) -> list[list[str | None]]:
    """Per text, the word of each soft token's nearest LLM input embedding (None: not a word),
    padding and the encoder's special tokens left out."""
    enc = bridge.tokenize(texts)
    special = torch.tensor(bridge.encoder_tokenizer.all_special_ids, device=enc["input_ids"].device)
    with bridge.input_language(texts):  # encode()'s steps on the tokens above, not a second tokenization
        soft, mask, _ = bridge.soft_tokens(bridge.encoder_states(**enc), enc["attention_mask"])  # (B, S, H), (B, S)
    keep = (mask.bool() & ~torch.isin(enc["input_ids"], special)).tolist()  # (B, S)
    nearest = (F.normalize(soft.float(), dim=-1) @ table.to(soft.device).T).argmax(-1).tolist()  # (B, S)
    return [[vocabulary[t] for t, k in zip(row, kept) if k] for row, kept in zip(nearest, keep)]


def share_scores(pairs: list[tuple[list[str | None], set[str]]]) -> dict[str, float]:
    """precision and reach over (found words, reference words) pairs, each against its own reference
    and (`*_other`) against every other sentence's, averaged."""
    precision = lambda found, ref: sum(w in ref for w in found) / len(found)  # noqa: E731
    reach = lambda found, ref: len(ref & set(found)) / len(ref)  # noqa: E731
    others = [(found, ref) for i, (found, _) in enumerate(pairs) for j, (_, ref) in enumerate(pairs) if i != j]
    return {"precision": statistics.mean(precision(*p) for p in pairs), "reach": statistics.mean(reach(*p) for p in pairs),
            "precision_other": statistics.mean(precision(*p) for p in others),
            "reach_other": statistics.mean(reach(*p) for p in others)}


def language_scores(bridge, examples, table: torch.Tensor, vocabulary: list[str | None], batch_size: int = 16) -> dict:
    """precision and reach (module docstring) of one language's examples, beside the same against other
    sentences' references (`*_other`: what words any FLORES sentence shares, "the", "of", give for
    nothing), and the count of sentences scored."""
    pairs = []  # (the nearest words of a sentence's soft tokens, its reference's words)
    for start in range(0, len(examples), batch_size):
        batch = examples[start:start + batch_size]
        for example, found in zip(batch, nearest_words(bridge, [e.text for e in batch], table, vocabulary)):
            ids = bridge.llm_tokenizer(example.target, add_special_tokens=False)["input_ids"]
            reference = {vocabulary[i] for i in ids} - {None}
            if reference and found:
                pairs.append((found, reference))
    if len(pairs) < 2:
        raise DataError(f"soft_token_reach: {examples[0].lang if examples else 'a language'}: fewer than 2 sentences to score")
    return {**share_scores(pairs), "sentences": len(pairs)}


def evaluation_seed(run: Path) -> int:
    """The seed the run's evaluation drew its test sentences with (its eval-*/results.json: `compare`
    evaluates with the training seed, `evaluate` with --seed), 0 without one: the sentences evaluate scored."""
    for path in sorted(run.glob("eval-*/results.json")):
        seed = json.loads(path.read_text(encoding="utf-8")).get("seed")
        if seed is not None:
            return seed
    return 0


def measure(run: Path, languages: list[str], limit: int | None, data_dir: str | None, seed: int | None = None) -> dict:
    """Every language's scores for the bridge saved in `run` on the sentences its evaluation scored (seed:
    evaluation_seed unless given), and their means over the task's low-resource languages among them (as
    `layerbridge evaluate` averages)."""
    seed = evaluation_seed(run) if seed is None else seed
    bridge = LayerBridge.from_pretrained(run)
    bridge.eval()
    if not bridge.reads_soft_tokens or getattr(bridge.projector, "compresses", False):
        raise ConfigError(f"{run}: soft_token_reach reads one soft token per encoder token; this bridge "
                          f"{'reads none' if not bridge.reads_soft_tokens else 'compresses them (perceiver)'}")
    table, vocabulary = llm_words(bridge)
    task = get_task("flores_en")
    scores = {lang: language_scores(bridge, load_examples(task, lang, limit=limit, data_dir=data_dir, seed=seed), table,
                                    vocabulary) for lang in languages}
    low = [lang for lang in languages if lang in set(task.low_resource)]
    keys = ("precision", "reach", "precision_other", "reach_other")
    summary = {f"low_resource_{key}": statistics.mean(scores[lang][key] for lang in low) for key in keys} if low else {}
    return {"bridge": str(run), "task": "flores_en", "limit": limit, "seed": seed, "languages": scores,
            "summary": {**summary, "low_resource_languages": low}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="trained bridge folders")
    parser.add_argument("--languages", required=True, help="comma list of flores_en languages")
    parser.add_argument("--limit", type=int, default=64, help="sentences per language (evaluate's ids)")
    parser.add_argument("--seed", type=int, default=None,
                        help="the sentences' sample seed (default: the one the run's evaluation used, else 0)")
    parser.add_argument("--data-dir", default=os.environ.get("LAYERBRIDGE_DATA_DIR"))
    args = parser.parse_args(argv)
    for run in args.runs:
        result = measure(run, args.languages.split(","), args.limit, args.data_dir, args.seed)
        path = run / FOLDER / "results.json"
        path.parent.mkdir(exist_ok=True)
        atomic_write_text(path, json.dumps(result, indent=1) + "\n")
        print(f"{run} (precision/reach: own reference | other sentences'): " + ", ".join(
            f"{lang} {v['precision']:.2f}/{v['reach']:.2f} | {v['precision_other']:.2f}/{v['reach_other']:.2f}"
            for lang, v in result["languages"].items()))
        if (s := result["summary"])["low_resource_languages"]:
            print(f"  low-resource average ({len(s['low_resource_languages'])} languages): precision "
                  f"{s['low_resource_precision']:.3f} (other sentences' {s['low_resource_precision_other']:.3f}), "
                  f"reach {s['low_resource_reach']:.3f} (other sentences' {s['low_resource_reach_other']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
