#!/usr/bin/env bash
# Fusion study (issue 7) on SIB-200: paper-faithful fusions vs last-layer-initialised ones, with the
# LLM-alone and linear-probe references; every run trained on the same 631 English sentences with the
# demo preset, bf16, evaluated on all 32 local languages (50 stratified test sentences each).
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/fusion-study/run.sh [OUT] [SEEDS...]
set -euo pipefail
OUT=${1:-results/fusion-study}
shift || true
SEEDS=${*:-0 1}
VARIANTS="last,global_softmax,global_softmax[init=last],token_softmax,token_softmax[init=last]"
for seed in $SEEDS; do
  layerbridge compare --task sib200 --fusions "$VARIANTS" --references llm_alone,probe \
    --preset small-data --mixed-precision bf16 --normalize none --eval-limit 50 --seed "$seed" -o "$OUT/sib200-seed$seed"
done
python -m tools.summarize "$OUT"/sib200-seed*  # the seeds tables, printed (docs: python -m tools.make_docs)
