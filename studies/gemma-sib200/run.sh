#!/usr/bin/env bash
# A second real LLM (issue 15): the bridge on SIB-200 with Gemma-3-270M (multilingual base LLM)
# in place of SmolLM2-135M-Instruct, trained and evaluated exactly like the SmolLM2 runs of
# docs/results.md (studies/fusion-study/run.sh: demo preset `small-data`, bf16, 50 stratified test
# sentences in every local language), seed 0, with the LLM-alone reference.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/gemma-sib200/run.sh [OUT] [SEEDS...]
# Finished runs are reused and a killed one resumes; then: python -m tools.results_report
set -euo pipefail
OUT=${1:-results/gemma-sib200}
shift || true
SEEDS=${*:-0}
for seed in $SEEDS; do
  layerbridge compare --task sib200 --llm gemma-3-270m --fusions last,global_softmax --references llm_alone \
    --preset small-data --mixed-precision bf16 --normalize none --eval-limit 50 --seed "$seed" -o "$OUT/seed$seed"
done
