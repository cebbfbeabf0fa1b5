#!/usr/bin/env bash
# Fusion options study (issue 7) on SIB-200: per-layer normalisation and the choice of layers, for both
# softmax fusions, with the same data, preset, evaluation and seeds as experiments/fusion_study.sh (whose
# runs are the "none / all layers" baseline of this table). Settings are compared on English dev only.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash experiments/fusion_options.sh [OUT] [SEEDS...]
set -euo pipefail
OUT=${1:-results/fusion-study}
shift || true
SEEDS=${*:-0 1}
COMMON=(--task sib200 --fusions global_softmax,token_softmax --references "" --preset small-data
        --mixed-precision auto --eval-limit 50)
for seed in $SEEDS; do
  layerbridge compare "${COMMON[@]}" --normalize layernorm --seed "$seed" -o "$OUT/sib200-layernorm-seed$seed"
  layerbridge compare "${COMMON[@]}" --layers upper_half --seed "$seed" -o "$OUT/sib200-upper-half-seed$seed"
done
for option in layernorm upper-half; do
  python experiments/summarize.py "$OUT"/sib200-$option-seed* > "$OUT/sib200-$option.md"
done
