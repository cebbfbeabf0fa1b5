#!/usr/bin/env bash
# The token gate's stable variant against the default on the second task of the fusion study (issue 7):
# Sinhala news in bf16, the budget of experiments/fusion_options.sh. `token_softmax` + layer norm with a
# fusion learning rate ten times below the rest (no collapse onto one layer, experiments/token_gate_collapse.py)
# against `global_softmax` without normalisation (the default). Compared on English dev only.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash experiments/token_gate_sinhala.sh [OUT] [SEEDS...]
set -euo pipefail
OUT=${1:-results/fusion-study}
shift || true
SEEDS=${*:-0 1}
SIN=(--task sinhala_news --references "" --preset small-data --mixed-precision bf16 --train-limit 400 --eval-limit 400)
for seed in $SEEDS; do
  layerbridge compare "${SIN[@]}" --fusions global_softmax --normalize none --seed "$seed" \
    -o "$OUT/sinhala-news-bf16-global-seed$seed"
  layerbridge compare "${SIN[@]}" --fusions token_softmax --normalize layernorm --fusion-lr 3e-4 --seed "$seed" \
    -o "$OUT/sinhala-news-bf16-token-layernorm-flr-seed$seed"
done
