"""Which of a sentence's content a translation keeps: numbers, names, other words (issue 30, "what limits it").

chrF++ says how much of the reference a translation matches, not what it lost. This reads the
predictions `layerbridge evaluate` wrote (EVAL/predictions/<lang>.jsonl) and counts, per language,
the share of the English reference's distinct words that the output contains (case-insensitive),
by kind:
  numbers  words with a digit ("1977", "10", "00am": words are runs of letters and digits)
  names    capitalised words not at the start of a sentence or quote (proper nouns, mostly; found
           case-insensitively, so "May" is found in "may")
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
# where a capital says nothing: the text's start, after an opening quote or bracket, or after a full
# stop, !, ? or : (closing quotes between) and a space, unless the stop ends one letter ("U.S.",
# "p.m.") or a title ("Dr."); an all-capital word ("UN", "NASA") is a name anywhere
OPENING = re.compile(r"(^|[\"“‘(«\[])\s*$")
SENTENCE_END = re.compile(r"[.!?:][\"”’)»\]]*\s+$")
ABBREVIATION = re.compile(r"(^|\W)(\w|Mr|Mrs|Ms|Dr|St|Mt|Jr|Sr|Prof|Gen|Lt|Col|Sgt|Capt|Gov|Sen|Rep)\.\s+$")


def words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def starts_sentence(before: str) -> bool:
    """A word after `before` (the text up to it) may be capitalised for its place alone."""
    return bool(OPENING.search(before) or (SENTENCE_END.search(before) and not ABBREVIATION.search(before)))


def reference_kinds(text: str) -> dict[str, set[str]]:
    """The reference's distinct words by kind (module docstring), lower-cased; each word counted once
    (numbers first, then names)."""
    found = {kind: set() for kind in KINDS}
    for match in WORD.finditer(text):
        w = match.group()
        name = len(w) > 1 and (w.isupper() or w[0].isupper() and not starts_sentence(text[:match.start()]))
        found["numbers" if any(c.isdigit() for c in w) else "names" if name else "words"].add(w.lower())
    found["names"] -= found["numbers"]
    found["words"] -= found["numbers"] | found["names"]
    return found


def share(counts: list[tuple[int, int]]) -> float | None:
    """Found over reference words, pooled over (found, reference words) pairs; None without words."""
    total = sum(n for _, n in counts)
    return sum(h for h, _ in counts) / total if total else None


def recall(pairs: list[tuple[set[str], dict[str, set[str]]]]) -> dict[str, dict]:
    """Per kind, the pooled share of the references' words found in their outputs, beside the same
    against every other sentence's reference (`recall_other`), and the count of reference words."""
    scores = {}
    for kind in KINDS:
        own = [(len(ref[kind] & out), len(ref[kind])) for out, ref in pairs]
        other = [(len(ref[kind] & out), len(ref[kind])) for i, (out, _) in enumerate(pairs)
                 for j, (_, ref) in enumerate(pairs) if i != j]
        scores[kind] = {"recall": share(own), "recall_other": share(other), "reference_words": sum(n for _, n in own)}
    return scores


def read_predictions(path: Path) -> list[tuple[set[str], dict[str, set[str]]]]:
    """(output words, reference words by kind) per row of a predictions file."""
    if not path.is_file():
        raise DataError(f"{path}: missing (results.json names the language, predictions/ lacks it)")
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


def low_resource_means(scores: dict[str, dict], low: list[str]) -> dict[str, dict]:
    """Per kind, recall and its control averaged over the low-resource languages that have such words."""
    means = {}
    for kind in KINDS:
        found = [scores[lang][kind] for lang in low if scores[lang][kind]["recall"] is not None]
        means[kind] = {key: statistics.mean(f[key] for f in found) if found else None for key in ("recall", "recall_other")}
    return means


def measure(run: Path, name: str | None = None) -> dict:
    """Every evaluated language's recall by kind, and the means over the evaluation's low-resource
    languages (as its summary names them)."""
    folder = eval_folder(run, name)
    try:
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        languages, task, limit = results["languages"], results["task"], results["limit"]
    except (OSError, json.JSONDecodeError, KeyError) as err:
        raise DataError(f"{folder / 'results.json'}: not the results.json evaluate writes ({err})") from err
    scores = {lang: recall(read_predictions(folder / "predictions" / f"{lang}.jsonl")) for lang in languages}
    low = [lang for lang in results.get("summary", {}).get("low_resource_languages", []) if lang in scores]
    return {"bridge": str(run), "evaluation": folder.name, "task": task, "limit": limit, "languages": scores,
            "summary": {"low_resource": low_resource_means(scores, low) if low else {}, "low_resource_languages": low}}


def shown(scores: dict[str, dict]) -> str:
    """'numbers 19% (1%)  names ...': recall, in parentheses against other sentences' references."""
    return "  ".join(f"{kind} {100 * s['recall']:.0f}% ({100 * s['recall_other']:.0f}%)"
                     for kind, s in scores.items() if s["recall"] is not None)


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
        print(f"{run} ({result['evaluation']}; recall, in parentheses against other sentences' references):")
        for lang, scores in result["languages"].items():
            print(f"  {lang}: {shown(scores)}")
        if result["summary"]["low_resource_languages"]:
            print(f"  low-resource average ({len(result['summary']['low_resource_languages'])} languages): "
                  f"{shown(result['summary']['low_resource'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
