"""studies/generation/budget.sh with a stand-in `layerbridge` (it writes what train and compare would, from
fixed outputs): the bitext-stage design trains its stage 1 once and starts from it, every run leaves its
sentence statistics, each design is paired with the baseline, also when the baseline's predictions are gone
(kept from git: its statistics only), a finished design is not trained again, and BEAMS decodes each run
again with beam search, paired with its greedy decoding, and the bitext stage is paired with the English-only
soft tokens of the same budget too; the -xdev designs choose by a dev set in languages not evaluated."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LANGUAGES = ["eng_Latn", "sin_Sinh", "tam_Taml"]

FAKE = r'''#!PYTHON
"""A stand-in for layerbridge: logs its arguments, writes a trained run or a compare output."""
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
out = Path(args[args.index("-o") + 1])
if args[0] == "train":
    out.mkdir(parents=True, exist_ok=True)
    steps = [int(args[i + 1]) for i, a in enumerate(args) if a == "--max-steps"][-1]
    (out / "train_config.json").write_text(json.dumps({"seed": 0}))
    (out / "train_summary.json").write_text(json.dumps({"task": "xnli_bitext", "steps": steps}))
    (out / "bridge_config.json").write_text("{}")
def evaluation(folder, langs, good):  # 16 sentences a language, right where i % 4 < good
    (folder / "predictions").mkdir(parents=True)
    for lang in langs:
        rows = [{"id": f"flores_en/{lang}/test/{i}", "output": f"the {i} cat sat on mat {i}" if i % 4 < good
                 else "nothing", "reference": f"the {i} cat sat on mat {i}"} for i in range(16)]
        (folder / "predictions" / f"{lang}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "results.json").write_text(json.dumps({"task": "flores_en", "limit": 16, "seed": 0,
        "languages": {lang: {"chrf": 50.0} for lang in langs},
        "summary": {"metric": "chrf", "low_resource_languages": langs[1:]}}))


langs = args[args.index("--languages") + 1].split(",") if "--languages" in args else []
if args[0] == "evaluate":  # beam search: right on every sentence
    evaluation(out, langs, 4)
elif args[0] == "compare":  # one run, evaluated; a bridge from a stage 1 is right on more sentences
    from layerbridge.io import slug  # compare's run folder: global_softmax-injection=cross_attention
    evaluation(out / slug(args[args.index("--fusions") + 1]) / "eval-generation", langs, 3 if "--init-from" in args else 2)
    (out / "compare.json").write_text("{}")
'''


def budget(tmp_path: Path, designs: str, **env) -> subprocess.CompletedProcess:
    """Run budget.sh into tmp_path/out with the stand-in first on PATH."""
    bin_dir = tmp_path / "bin"
    if not bin_dir.is_dir():
        bin_dir.mkdir()
        (bin_dir / "layerbridge").write_text(FAKE.replace("PYTHON", sys.executable))
        (bin_dir / "layerbridge").chmod(0o755)
    environment = {**os.environ, "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
                   "FAKE_LOG": str(tmp_path / "calls.log"), "LAYERBRIDGE_DATA_DIR": str(tmp_path),
                   "LANGUAGES": ",".join(LANGUAGES), **env}
    return subprocess.run(["bash", "studies/generation/budget.sh", str(tmp_path / "out"), "0", designs],
                          cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines() if (tmp_path / "calls.log").is_file() else []


def test_budget_script_trains_stage_1_once_and_pairs_through_statistics(tmp_path):
    done = budget(tmp_path, "bitext-stage")
    assert done.returncode != 0 and "bitext-stage trains its stage 1 on BITEXT" in done.stderr
    assert calls(tmp_path) == []
    (tmp_path / "bitext").mkdir()
    (tmp_path / "bitext" / "bitext.yaml").write_text("name: xnli_bitext\n")
    done = budget(tmp_path, "restate-200,bitext-stage", BITEXT=str(tmp_path / "bitext"))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    baseline, train, design = calls(tmp_path)  # the order of DESIGNS
    assert train.startswith(f"train --task {tmp_path}/bitext/bitext.yaml") and train.endswith(
        f"--max-steps 1000 --dev-size 0 -o {out}/bitext-stage1/seed0")
    assert baseline.startswith("compare") and "--init-from" not in baseline
    assert f"--init-from {out}/bitext-stage1/seed0" in design and "--keep-best" in design
    assert (out / "bitext-stage1" / "seed0" / "run.json").is_file()  # the record git keeps
    for run in (out / "restate-200" / "seed0" / "global_softmax", out / "bitext-stage" / "seed0" / "global_softmax"):
        statistics = json.loads((run / "sentence-statistics" / "results.json").read_text())
        assert list(statistics["languages"]) == LANGUAGES and "cat" not in json.dumps(statistics)
        assert (run / "content-recall" / "results.json").is_file()
    assert "versus-soft-tokens.json is not written" in done.stderr  # no soft-tokens run yet
    summary = out / "bitext-stage" / "seed0" / "summary.json"
    paired = json.loads(summary.read_text())
    assert paired["low_resource"]["difference"] > 0 and paired["first"].endswith("global_softmax/eval-generation")
    # the baseline kept from git (its statistics, no predictions); the design's pairing written again
    shutil.rmtree(out / "restate-200" / "seed0" / "global_softmax" / "eval-generation")
    summary.unlink()
    done = budget(tmp_path, "restate-200,bitext-stage", BITEXT=str(tmp_path / "bitext"))
    assert done.returncode == 0, done.stderr
    assert len(calls(tmp_path)) == 3  # nothing trained again
    again = json.loads(summary.read_text())
    assert again["first"].endswith("sentence-statistics/results.json")
    assert again["low_resource"] == paired["low_resource"] and again["average"] == paired["average"]
    # BEAMS: each run decoded again with beams, paired with its greedy decoding (the baseline's is gone)
    done = budget(tmp_path, "restate-200,bitext-stage", BITEXT=str(tmp_path / "bitext"), BEAMS="4")
    assert done.returncode == 0, done.stderr
    (beams,) = calls(tmp_path)[3:]
    assert beams.startswith(f"evaluate {out}/bitext-stage/seed0/global_softmax --task flores_en") and (
        "--limit 64 --seed 0 --mixed-precision auto --num-beams 4" in beams)
    decoded = json.loads((out / "bitext-stage" / "seed0" / "global_softmax" / "eval-beams4" / "summary.json").read_text())
    assert decoded["low_resource"]["difference"] > 0 and decoded["scores"]["second"]["sin_Sinh"] == 100.0
    # the same stage 1, then the 200 steps of restate-200 (no budget flags)
    done = budget(tmp_path, "bitext-stage-200", BITEXT=str(tmp_path / "bitext"))
    assert done.returncode == 0, done.stderr
    (short,) = calls(tmp_path)[4:]
    assert f"--init-from {out}/bitext-stage1/seed0" in short and "--keep-best" not in short and "--max-steps 2000" not in short
    assert (out / "bitext-stage-200" / "seed0" / "summary.json").is_file()
    # the soft tokens of the same budget: the bitext stage paired with them too (nothing trained again)
    done = budget(tmp_path, "soft-tokens,bitext-stage", BITEXT=str(tmp_path / "bitext"))
    assert done.returncode == 0, done.stderr
    (soft,) = calls(tmp_path)[5:]
    assert "--keep-best" in soft and "--init-from" not in soft
    versus = json.loads((out / "bitext-stage" / "seed0" / "versus-soft-tokens.json").read_text())
    assert versus["first"].startswith(f"{out}/soft-tokens/seed0/global_softmax") and versus["low_resource"]["difference"] > 0
    # the dev set read in other languages: the flag on the budget run; a tested language refused
    done = budget(tmp_path, "soft-tokens-xdev")
    assert done.returncode == 0, done.stderr
    (xdev,) = calls(tmp_path)[6:]
    assert "--keep-best" in xdev and "--dev-languages swh_Latn,hin_Deva,urd_Arab" in xdev
    assert (out / "soft-tokens-xdev" / "seed0" / "versus-soft-tokens.json").is_file()
    done = budget(tmp_path, "soft-tokens-xdev", DEV_LANGUAGES="swh_Latn,sin_Sinh")
    assert done.returncode == 2 and "DEV_LANGUAGES has sin_Sinh, which is evaluated" in done.stderr
    done = budget(tmp_path, "soft-tokens-xdev", LANGUAGES="all")  # every language evaluated
    assert done.returncode == 2 and "DEV_LANGUAGES has swh_Latn, which is evaluated" in done.stderr
    assert budget(tmp_path, "soft-tokens", LANGUAGES="all").returncode == 0  # the other designs need no such check
    # cross-attention: its run folder is compare's file-system name for it, diagnosed and paired there
    done = budget(tmp_path, "cross-attention")
    assert done.returncode == 0, done.stderr
    run = out / "cross-attention" / "seed0" / "global_softmax-injection=cross_attention"
    assert (run / "sentence-statistics" / "results.json").is_file() and (run / "content-recall" / "results.json").is_file()
    assert (out / "cross-attention" / "seed0" / "summary.json").is_file()
    assert (out / "cross-attention" / "seed0" / "versus-soft-tokens.json").is_file()
    # cross-attention from a bitext stage 1 of its own (the injection --init-from needs)
    done = budget(tmp_path, "bitext-cross-attention", BITEXT=str(tmp_path / "bitext"))
    assert done.returncode == 0, done.stderr
    train, design = calls(tmp_path)[-2:]
    assert "--injection cross_attention" in train and train.endswith(f"-o {out}/bitext-stage1-cross-attention/seed0")
    assert f"--init-from {out}/bitext-stage1-cross-attention/seed0" in design and "--keep-best" in design
    assert (out / "bitext-cross-attention" / "seed0" / "versus-soft-tokens.json").is_file()
