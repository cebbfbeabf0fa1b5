"""Regenerate every generated table and plot of README.md and docs/ from the committed JSON.

    python -m tools.make_docs        # from the repository root

Pages are prose plus generated blocks (`<!-- generated: NAME -->` ... `<!-- end generated -->`);
this rewrites only the blocks, from:
- results/**/compare.json, one per study run (tools/results_report.py: docs/results.md,
  docs/fusion-study.md and docs/architectures.md with the plots under results/plots/, and the token
  gate's results/fusion-study/token-gate/summary.json; tools/generation_report.py: docs/generation.md,
  with results/generation-study/*/run.json);
- results/demo/compare.json: the README's demo table, printed as `layerbridge demo` prints it;
- benchmarks/results/<part>/*.json: the tables of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import authors_memory, cross_attention_generation, gpu_check, paper_scale
from benchmarks.report import authors_section, long_inputs_section
from benchmarks.report import markdown as benchmark_markdown
from benchmarks.report import targets_section
from layerbridge.cli.demo_cmd import FP32_EVAL_LIMIT
from layerbridge.reporting.page import markdown_table
from tools import generation_report, results_report
from tools.blocks import fill_blocks

REPO = Path(__file__).resolve().parents[1]


def demo_block(document: dict) -> list[str]:
    """The demo's table from its compare.json, and what it ran on."""
    env = document.get("environment")
    where = (f"{env['cpu']}, {env['cores']} cores, {env['precision']} precision (`--mixed-precision auto`)"
             if env else "machine not recorded in this compare.json")
    limit = document["eval_limit"]
    sentences = "all test sentences" if limit is None else f"{limit} stratified test sentences"
    wall = f"; wall time {document['seconds']:.0f} s" if document.get("seconds") else ""
    return [f"What it printed here ({where}; {sentences} per language{wall}; "
            f"{document['train_examples']} English training sentences, {document['dev_examples']} held out as dev; "
            f"`results/demo/compare.json`):", "", *markdown_table(document), "",
            f"Without native bf16 the demo trains in fp32 and evaluates {FP32_EVAL_LIMIT} stratified test sentences "
            "per language instead of all 204, to stay within minutes."]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def benchmark_blocks(root: Path) -> dict[str, list[str]]:
    """docs/benchmarks.md's blocks, from benchmarks/results/<part>/."""
    return {
        "benchmark-full": benchmark_markdown(load(root / "full" / "results.json")).rstrip().splitlines(),
        "benchmark-avx2-quick": targets_section(load(root / "avx2-fp32-quick" / "results.json")).splitlines(),
        "paper-scale": paper_scale.markdown(load(root / "paper-scale" / "results.json")).splitlines(),
        "paper-scale-cap": paper_scale.markdown(load(root / "paper-scale-cap" / "results.json")).splitlines(),
        "benchmark-authors": authors_section(load(root / "authors" / "authors.json")).splitlines(),
        "benchmark-authors-memory": authors_memory.markdown(load(root / "authors" / "memory.json")).splitlines(),
        "benchmark-long-inputs-designs": long_inputs_section(load(root / "long-inputs" / "long_inputs.json")).splitlines(),
        "benchmark-cross-attention-generation": cross_attention_generation.markdown(
            load(root / "cross-attention" / "results.json")).splitlines(),
        "gpu-check-h200": gpu_check.markdown(load(root / "gpu" / "NVIDIA-H200" / "results.json")).splitlines(),
    }


def main() -> int:
    results_report.main(["--results", str(REPO / "results"),
                         "--doc", str(REPO / "docs/results.md"), str(REPO / "docs/fusion-study.md"),
                         str(REPO / "docs/architectures.md")])
    generation_report.main(["--results", str(REPO / "results"), "--doc", str(REPO / "docs/generation.md")])
    readme = REPO / "README.md"
    print(f"rewrote {fill_blocks(readme, {'demo': demo_block(load(REPO / 'results/demo/compare.json'))})} "
          f"generated block in {readme}")
    page = REPO / "docs/benchmarks.md"
    print(f"rewrote {fill_blocks(page, benchmark_blocks(REPO / 'benchmarks/results'))} generated blocks in {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
