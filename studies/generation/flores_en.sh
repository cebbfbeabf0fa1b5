#!/usr/bin/env bash
# The flores_en table of docs/generation.md: every local language into English, 2 seeds, with the
# LLM-alone rows (zero-shot; trained the same way) on the first seed; the English row is the copy ceiling.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/generation/flores_en.sh [OUT] [SEEDS...]
# Then: python -m tools.generation_report. Finished parts are reused; a killed run resumes.
set -euo pipefail
OUT=${1:-results/flores-en}; shift || true
SEEDS=("${@:-0 1}")
# shellcheck disable=SC2206
SEEDS=(${SEEDS[@]})
. "$(dirname "$0")/../flores_en_settings.sh"  # FLORES_EN: the settings of docs/generation.md
# The bridges of every seed first, then the reference rows on the first seed, cheapest first (each
# compare reuses the finished runs and evaluations of the one before).
for seed in "${SEEDS[@]}"; do
  layerbridge compare "${FLORES_EN[@]}" --fusions global_softmax --seed "$seed" --references "" -o "$OUT/seed$seed"
done
for refs in llm_zero_shot llm_alone,llm_zero_shot; do
  layerbridge compare "${FLORES_EN[@]}" --fusions global_softmax --seed "${SEEDS[0]}" --references "$refs" -o "$OUT/seed${SEEDS[0]}"
done
