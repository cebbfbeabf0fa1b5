#!/usr/bin/env bash
# Issue 16, a first look: does an entropy penalty keep the paper's token gate from collapsing onto
# one layer? SIB-200, the fusion study's settings (demo preset `small-data`, bf16, 50 stratified
# test sentences in every local language), the gate without and with the penalty.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/token-gate/entropy.sh [OUT] [SEEDS...]
set -euo pipefail
OUT=${1:-results/fusion-study/token-gate-entropy}
shift || true
SEEDS=${*:-0}
for seed in $SEEDS; do
  layerbridge compare --task sib200 --fusions "token_softmax,token_softmax[entropy_weight=0.1]" --references "" \
    --preset small-data --mixed-precision bf16 --normalize none --eval-limit 50 --seed "$seed" -o "$OUT/seed$seed"
done
