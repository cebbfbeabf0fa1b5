#!/usr/bin/env bash
# The flores_en table of docs/generation.md: every local language into English, 2 seeds, with the
# LLM-alone rows (trained the same way; zero-shot) on seed 0; the English row is the copy ceiling.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash experiments/flores_en_results.sh [OUT] [SEEDS...]
# Then: python experiments/generation_report.py. Finished parts are reused; a killed run resumes.
set -euo pipefail
OUT=${1:-results/flores-en}; shift || true
SEEDS=("${@:-0 1}")
# shellcheck disable=SC2206
SEEDS=(${SEEDS[@]})
BRIDGE=(--fusions "${FLORES_FUSIONS:-global_softmax}" ${FLORES_BRIDGE:-})
COMMON=(--task flores_en --preset small-data --mixed-precision auto --dev-limit 32 --eval-limit "${EVAL_LIMIT:-24}"
        --max-new-tokens 80 --checkpoint-every 50 ${FLORES_TRAIN:-})
for seed in "${SEEDS[@]}"; do
  refs=""; [ "$seed" = 0 ] && refs="llm_alone,llm_zero_shot"
  # shellcheck disable=SC2068
  layerbridge compare "${COMMON[@]}" "${BRIDGE[@]}" --seed "$seed" --references "$refs" -o "$OUT/seed$seed"
done
