"""Which of a sentence's content a translation keeps: numbers, names, other words (issue 30, "what limits it").

chrF++ says how much of the reference a translation matches, not what it lost. This reads the
predictions `layerbridge evaluate` wrote (EVAL/predictions/<lang>.jsonl) and counts, per language,
the share of the English reference's distinct words that the output contains (case-insensitive),
by kind:
  numbers  words with a digit ("1977", "10", "00am": words are runs of letters and digits)
  names    capitalised words not at the start of a sentence or quote (proper nouns, mostly)
  words    the rest (function words among them: see the control)
Numbers and names are what an output cannot guess from the topic: in the English copy case they say
what the bridge loses of a sentence's details, in another language whether the details crossed.
The control: each output against every other sentence's reference of the language (what any
sentence shares, "the", "of", for nothing). Counts are pooled over the language's sentences.

    python -m studies.generation.content_recall RUN [RUN ...] [--eval eval-not-in-xnli]

writes RUN/content-recall/results.json (`python -m tools.run_record RUN` folds it into run.json).
No model is loaded: predictions are read as evaluate wrote them (they stay out of results/).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from layerbridge.errors import DataError
from layerbridge.io import atomic_write_text

FOLDER = "content-recall"  # not eval-*: it is no evaluation (a model card reads the newest eval-* folder)
KINDS = ("numbers", "names", "words")
WORD = re.compile(r"[^\W_]+")  # letters and digits; any other character separates
SENTENCE_START = ".!?:;\"“”‘’'(«»—–-"  # after these, a capital may start a sentence or a quote


def words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def reference_kinds(text: str) -> dict[str, set[str]]:
    """The reference's distinct words by kind (module docstring), lower-cased."""
    found = {kind: set() for kind in KINDS}
    for match in WORD.finditer(text):
        w, before = match.group(), text[:match.start()].rstrip()
        starts = not before or before[-1] in SENTENCE_START  # a capital there says nothing
        kind = "numbers" if any(c.isdigit() for c in w) else "names" if w[0].isupper() and len(w) > 1 and not starts else "words"
        found[kind].add(w.lower())
    found["names"] -= found["numbers"]
    found["words"] -= found["numbers"] | found["names"]  # each word counted once
    return found


def recall(pairs: list[tuple[set[str], dict[str, set[str]]]]) -> dict[str, dict]:
    """Per kind, the pooled share of the references' words found in their outputs, beside the same
    against every other sentence's reference (`recall_other`), and the count of reference words."""
    scores = {}
    for kind in KINDS:
        own = [(len(ref[kind] & out), len(ref[kind])) for out, ref in pairs]
        other = [(len(ref[kind] & out), len(ref[kind])) for i, (out, _) in enumerate(pairs)
                 for j, (_, ref) in enumerate(pairs) if i != j]
        share = lambda counts: sum(h for h, _ in counts) / total if (total := sum(n for _, n in counts)) else None  # noqa: E731
        scores[kind] = {"recall": share(own), "recall_other": share(other), "reference_words": sum(n for _, n in own)}
    return scores


def read_predictions(path: Path) -> list[tuple[set[str], dict[str, set[str]]]]:
    """(output words, reference words by kind) per row of a predictions file."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
            pairs.append((words(row["output"]), reference_kinds(row["reference"])))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataError(f"{path}, line {number}: not a prediction row with 'output' and 'reference' ({err})") from err
    if len(pairs) < 2:
        raise DataError(f"{path}: fewer than 2 predictions to score")
    return pairs


def eval_folder(run: Path, name: str | None) -> Path:
    """The evaluation whose predictions are read: `name`, else the run's only eval-* folder with predictions."""
    if name:
        folder = run / name
        if not (folder / "predictions").is_dir():
            raise DataError(f"{folder}: no predictions/ (evaluate writes them; results/ keeps none)")
        return folder
    found = sorted(p.parent for p in run.glob("eval-*/predictions"))
    if len(found) != 1:
        raise DataError(f"{run}: {len(found)} eval-* folders with predictions ({', '.join(p.name for p in found) or 'none'}); name one with --eval")
    return found[0]


def measure(run: Path, name: str | None = None) -> dict:
    """Every evaluated language's recall by kind, and the means over the evaluation's low-resource
    languages (as its summary names them)."""
    folder = eval_folder(run, name)
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    scores = {lang: recall(read_predictions(folder / "predictions" / f"{lang}.jsonl")) for lang in results["languages"]}
    low = [lang for lang in results["summary"].get("low_resource_languages", []) if lang in scores]
    mean = lambda kind, key: statistics.mean(v) if (v := [scores[l][kind][key] for l in low if scores[l][kind][key] is not None]) else None  # noqa: E731
    summary = {kind: {"recall": mean(kind, "recall"), "recall_other": mean(kind, "recall_other")} for kind in KINDS}
    return {"bridge": str(run), "evaluation": folder.name, "task": results["task"], "limit": results["limit"],
            "languages": scores, "summary": {"low_resource": summary if low else {}, "low_resource_languages": low}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="evaluated bridge folders (their predictions/ present)")
    parser.add_argument("--eval", default=None, help="the eval-* folder to read (default: the run's only one with predictions)")
    args = parser.parse_args(argv)
    for run in args.runs:
        result = measure(run, args.eval)
        path = run / FOLDER / "results.json"
        path.parent.mkdir(exist_ok=True)
        atomic_write_text(path, json.dumps(result, indent=1) + "\n")
        show = lambda s: "  ".join(f"{k} {100 * s[k]['recall']:.0f}% ({100 * s[k]['recall_other']:.0f}%)"  # noqa: E731
                                   for k in KINDS if s[k]["recall"] is not None)
        print(f"{run} ({result['evaluation']}; recall, in parentheses against other sentences' references):")
        for lang, scores in result["languages"].items():
            print(f"  {lang}: {show(scores)}")
        if result["summary"]["low_resource_languages"]:
            print(f"  low-resource average ({len(result['summary']['low_resource_languages'])} languages): "
                  f"{show(result['summary']['low_resource'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
