"""The docs build and the study reports: research tooling outside the `layerbridge` package.

Run from the repository root, e.g. `python -m tools.make_docs` (the working directory is on
sys.path, so `tools` and `benchmarks` import as packages; pytest gets the same through
`pythonpath = ["."]` in pyproject.toml).

- make_docs: regenerate every generated block of README.md and docs/ (and results/plots/)
- results_report: docs/results.md, docs/fusion-study.md, docs/architectures.md from the compare.json files
- generation_report: docs/generation.md from the flores_en compare.json files and the generation study's run.json
- seeds: tables and plots over the seeds of one study (mean ± half-range)
- blocks: rewrite the `<!-- generated: NAME -->` blocks of a page, the prose stays
- run_record: fold a run folder made outside `compare` into its one run.json
- summarize: print a study's seed tables (python -m tools.summarize FOLDER...)
"""
