#!/usr/bin/env bash
# Fusion options study (issue 7): per-layer normalisation and the choice of layers, for both softmax
# fusions. SIB-200 with the same data, preset, evaluation and seeds as studies/fusion-study/run.sh, its
# plain arm (no normalisation, all layers) run again here so every SIB-200 row has the same precision;
# Sinhala news with the budget of studies/task-results/run.sh, whose runs are its plain arm. All fp32
# (--mixed-precision no) on any machine. Settings are compared on English dev only.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/fusion-study/options.sh [OUT] [SEEDS...]
# Tables and plots: python -m tools.results_report
set -euo pipefail
OUT=${1:-results/fusion-study}
shift || true
SEEDS=${*:-0 1}
COMMON=(--fusions global_softmax,token_softmax --references "" --preset small-data --mixed-precision no)
# every arm names its normalisation, so the runs do not depend on the bridge's default
SIB=(--task sib200 "${COMMON[@]}" --eval-limit 50)
SIN=(--task sinhala_news "${COMMON[@]}" --train-limit 400 --eval-limit 400)
for seed in $SEEDS; do
  layerbridge compare "${SIB[@]}" --normalize none --seed "$seed" -o "$OUT/sib200-plain-seed$seed"
  layerbridge compare "${SIB[@]}" --normalize layernorm --seed "$seed" -o "$OUT/sib200-layernorm-seed$seed"
  layerbridge compare "${SIB[@]}" --normalize none --layers upper_half --seed "$seed" -o "$OUT/sib200-upper-half-seed$seed"
  layerbridge compare "${SIN[@]}" --normalize layernorm --seed "$seed" -o "$OUT/sinhala-news-layernorm-seed$seed"
  layerbridge compare "${SIN[@]}" --normalize none --layers upper_half --seed "$seed" -o "$OUT/sinhala-news-upper-half-seed$seed"
done
