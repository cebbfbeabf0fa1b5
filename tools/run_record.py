"""One JSON per run: fold what `layerbridge train` and `layerbridge evaluate` wrote into a run folder
into RUN/run.json, the only file of the run that results/ keeps (runs made outside `layerbridge
compare`, whose compare.json already holds its runs).

    python -m tools.run_record RUN [RUN ...]

run.json holds `train_config` (train_config.json: every setting, the bridge's included), `train`
(train_summary.json), `evaluations` (each eval-*/results.json by its folder name) and, where the run
has them, `layer_weights` (layer_weights.json) and `diagnostics` (each DIAGNOSTICS folder's results.json:
measurements of the bridge that are no evaluation of a task). train_log.jsonl and bridge_config.json (the bridge
settings again, with the models' sizes) stay out, as do weights and predictions; .gitignore keeps
the folded files out of the repository.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from layerbridge.io import atomic_write_text

RECORD = "run.json"
SOFT_TOKEN_REACH = "soft-token-reach"  # studies/generation/soft_token_reach.py's folder (its FOLDER)
CONTENT_RECALL = "content-recall"  # studies/generation/content_recall.py's folder
DIAGNOSTICS = (SOFT_TOKEN_REACH, CONTENT_RECALL)


def fold(run: Path) -> dict:
    """The run folder's JSON as one document (see the module's docstring)."""
    run = Path(run)
    read = lambda path: json.loads(path.read_text(encoding="utf-8"))  # noqa: E731
    record = {"train_config": read(run / "train_config.json"), "train": read(run / "train_summary.json"),
              "evaluations": {path.parent.name: read(path) for path in sorted(run.glob("eval-*/results.json"))}}
    if (run / "layer_weights.json").is_file():
        record["layer_weights"] = read(run / "layer_weights.json")
    if found := diagnostics(run):
        record["diagnostics"] = found
    return record


def diagnostics(run: Path) -> dict:
    """Each DIAGNOSTICS folder's results.json that the run has, by folder name."""
    return {name: json.loads((Path(run) / name / "results.json").read_text(encoding="utf-8"))
            for name in DIAGNOSTICS if (Path(run) / name / "results.json").is_file()}


def write(run: Path) -> Path:
    """Fold RUN's files into RUN/run.json; returns its path."""
    path = Path(run) / RECORD
    atomic_write_text(path, json.dumps(fold(run), indent=1, ensure_ascii=False) + "\n")
    return path


def load(run: Path) -> dict:
    return json.loads((Path(run) / RECORD).read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    runs = sys.argv[1:] if argv is None else argv
    if not runs:
        raise SystemExit(__doc__)
    for run in runs:
        print(f"wrote {write(Path(run))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
