"""The local SIB-200 data as lm-evaluation-harness tasks (7 choices), run on a saved bridge through
`layerbridge lm-eval`, beside `layerbridge evaluate --mode rank` on the same rows: the two must agree.

    LAYERBRIDGE_DATA_DIR=../shared/data python studies/lm-eval-sib200/run.py RUN_DIR [--languages eng_Latn,sin_Sinh]

Writes one YAML task per language (absolute data paths: the harness resolves relative
`data_files` against the working directory) under OUT/tasks, the harness's results under
OUT/harness, layerbridge's under OUT/layerbridge, and prints per language both accuracies and how
many per-example choices agree. OUT defaults to RUN_DIR/lm-eval-sib200.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from layerbridge.cli.main import main as layerbridge
from layerbridge.tasks import get_task


def write_tasks(folder: Path, data_dir: Path, languages: list[str]) -> list[str]:
    task = get_task("sib200")
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for lang in languages:
        name = f"layerbridge_sib200_{lang}"
        data = (data_dir / task.folder / lang / f"{task.eval_split}.jsonl").resolve()
        text = task.prompt.replace("{text}", "{{text}}")
        (folder / f"{name}.yaml").write_text(
            f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
            f"output_type: multiple_choice\ndoc_to_text: {json.dumps(text)}\n"
            f"doc_to_choice: {json.dumps(task.label_words)}\n"
            "doc_to_target: \"{{ category.split('/')[0] | capitalize }}\"\n"  # science/technology -> Science
            "target_delimiter: ''\nmetric_list:\n  - metric: acc\n", encoding="utf-8")
        names.append(name)
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--languages", default="eng_Latn,sin_Sinh,tam_Taml,swh_Latn")
    parser.add_argument("--out", default=None)
    parser.add_argument("--mixed-precision", default="no")
    args = parser.parse_args(argv)
    run, languages = Path(args.run), args.languages.split(",")
    out = Path(args.out) if args.out else run / "lm-eval-sib200"
    data_dir = Path(os.environ.get("LAYERBRIDGE_DATA_DIR", "../shared/data"))
    names = write_tasks(out / "tasks", data_dir, languages)
    precision = ["--mixed-precision", args.mixed_precision]
    assert layerbridge(["lm-eval", str(run), "--tasks", ",".join(names), "--include-path", str(out / "tasks"),
                        "-o", str(out / "harness"), *precision]) == 0
    assert layerbridge(["evaluate", str(run), "--task", "sib200", "--mode", "rank", "--languages", ",".join(languages),
                        "--data-dir", str(data_dir), "--source", "local", "-o", str(out / "layerbridge"), *precision]) == 0
    harness = json.loads((out / "harness" / "results.json").read_text())["results"]
    ours = json.loads((out / "layerbridge" / "results.json").read_text())["languages"]
    labels = get_task("sib200").label_words
    rows = ["| language | rows | lm-eval acc | layerbridge evaluate --mode rank | per-example choices agreeing |",
            "|---|---:|---:|---:|---:|"]
    for lang, name in zip(languages, names):
        samples = sorted((json.loads(line) for line in (out / "harness" / f"samples_{name}.jsonl").read_text().splitlines()),
                         key=lambda s: s["doc_id"])
        chosen = {str(s["doc"]["index_id"]): labels[max(range(len(labels)), key=lambda c: s["filtered_resps"][c][0])]
                  for s in samples}
        predictions = {row["id"].rsplit("/", 1)[1]: row["pred"] for row in map(json.loads,
                       (out / "layerbridge" / "predictions" / f"{lang}.jsonl").read_text().splitlines())}
        assert set(chosen) == set(predictions), f"{lang}: the two evaluations saw different rows"
        agree = sum(chosen[i] == predictions[i] for i in chosen)
        rows.append(f"| {lang} | {len(samples)} | {100 * harness[name]['acc,none']:.1f} | "
                    f"{100 * ours[lang]['accuracy']:.1f} | {agree} / {len(samples)} |")
    table = "\n".join(rows)
    (out / "agreement.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
