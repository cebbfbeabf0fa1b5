#!/usr/bin/env bash
# Issue 32's study: what closes the gap between the bridge and the linear probe on the same encoder?
# The transfer-side designs, each at its own learning rate chosen on English dev from the
# fair-budget grid {3e-4, 1e-3, 3e-3}, with the fair-budget study's settings (small-data preset,
# bf16 where the CPU has it, normalize none; SIB-200: every local language, all 204 test sentences;
# Sinhala news: 400 English training rows, all 3325 test rows), so that its `last`, default, probe
# and LLM-alone rows of the same seed stand beside these:
#   pooled           the default plus one pooled sentence token (the mask-aware mean of the fused states)
#   pooled alone     the LLM reads only the pooled token of the last layer (E5's sentence embedding)
#   pooled alone 4   the same embedding projected to 4 soft tokens (more for the LLM to read than one)
#   centred          the default with language centring (transductive: each language's mean encoder
#                    state, fitted on its unlabelled test texts, moved onto English's)
#   centred + pooled both
#   centred pooled alone 4   the 4 pooled tokens alone, centred (each language's mean moved onto English's
#                    before pooling: the sentence embedding's language offset removed; transductive)
#   centred probe    not a bridge: the linear probe with the same centring (the fair comparison for the
#                    centred designs; nothing trained: a references-only compare)
#   probe            the plain probe re-run (beside the centred one: the same machine and precision)
# DESIGNS (a comma list of the names above, spaces as '-', e.g. pooled,centred) narrows the runs;
# `default` (global_softmax, the fair-budget run's) can be added where the grid differs. Centring acts at
# test time only: a centred design listed after its twin (default before centred, pooled before
# centred-pooled) takes the twin's training at each learning rate instead of training again.
# GRID (a comma list of learning rates; default the fair-budget grid) widens or moves the grid: every
# design chose the grid's top (3e-3) in the fair-budget runs, so a grid above it asks whether the
# budget, not the design, holds a design back. Use another OUT for another grid.
# EXTRA (more compare flags, e.g. "--epochs 4 --keep-best --eval-every 40": a longer budget with the best
# English-dev weights kept) asks whether English fit holds a design back; again into an OUT of its own.
# `compare` reuses finished runs and resumes killed ones: re-run the same line after a stop.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/probe-gap/run.sh [OUT] [TASKS] [SEEDS...]
set -euo pipefail
OUT=${1:-results/probe-gap}
TASKS=${2:-sib200,sinhala_news}
shift 2 || shift $# || true
SEEDS=${*:-0 1 2}
declare -A RUN=(
  [default]="global_softmax"
  [pooled]="global_softmax[projector=linear;projector.pooled=1]"
  [pooled-alone]="last[projector=pooled]"
  [pooled-alone-4]="last[projector=pooled;projector.pooled=4]"
  [centred]="global_softmax[center_languages=true]"
  [centred-pooled]="global_softmax[projector=linear;projector.pooled=1;center_languages=true]"
  [centred-pooled-alone-4]="last[projector=pooled;projector.pooled=4;center_languages=true]"
)
declare -A REFERENCE=([centred-probe]="probe_centred" [probe]="probe")
DESIGNS=${DESIGNS:-pooled,pooled-alone,centred,centred-pooled}
FUSIONS="" REFERENCES=""
for name in ${DESIGNS//,/ }; do
  if [ -n "${RUN[$name]:-}" ]; then FUSIONS+="${FUSIONS:+,}${RUN[$name]}"
  elif [ -n "${REFERENCE[$name]:-}" ]; then REFERENCES+="${REFERENCES:+,}${REFERENCE[$name]}"
  else echo "DESIGNS: unknown design $name (one of: ${!RUN[*]} ${!REFERENCE[*]})" >&2; exit 2; fi
done
COMMON=(--fusions "$FUSIONS" --references "$REFERENCES" --lr-grid "${GRID:-3e-4,1e-3,3e-3}"
        --preset small-data --mixed-precision auto --normalize none ${EXTRA:-})
. "$(dirname "$0")/../classification_tasks.sh"  # compare_task: the fair-budget settings per task
for seed in $SEEDS; do
  for task in ${TASKS//,/ }; do compare_task "$task" "$seed" "$OUT" "${COMMON[@]}"; done
done
