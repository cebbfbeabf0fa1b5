#!/usr/bin/env bash
# Issue 16's study: every fusion at its own learning rate, chosen on English dev from one grid.
# The rule for the new default was written before any run (docs/fusion-study.md, "Fair budgets"):
# the design with the best English-dev accuracy averaged over seeds and both tasks wins; one
# within 1 point of it that is cheaper (last < global_softmax < token_softmax) wins instead.
# Test scores play no part in the choice. SIB-200: all local languages, all 204 test sentences.
# Sinhala news: all 3325 test rows. bf16 where the CPU has it (`auto`), the small-data preset.
# `compare` reuses finished runs and resumes killed ones: re-run the same line after a stop.
# REFERENCES (default llm_alone,probe) names the reference rows; REFERENCES=probe skips the LLM-alone
# grid (three more trainings) where time is short.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/fair-budget/run.sh [OUT] [TASKS] [SEEDS...]
set -euo pipefail
OUT=${1:-results/fair-budget}
TASKS=${2:-sib200,sinhala_news}
shift 2 || shift $# || true
SEEDS=${*:-0 1 2}
FUSIONS="last,global_softmax,global_softmax[parameterisation=plain],token_softmax"
COMMON=(--fusions "$FUSIONS" --references "${REFERENCES:-llm_alone,probe}" --lr-grid 3e-4,1e-3,3e-3
        --preset small-data --mixed-precision auto --normalize none)
. "$(dirname "$0")/../classification_tasks.sh"  # compare_task: the fair-budget settings per task
for seed in $SEEDS; do
  for task in ${TASKS//,/ }; do compare_task "$task" "$seed" "$OUT" "${COMMON[@]}"; done
done
