#!/usr/bin/env bash
# English-only objectives beyond restating (issue 30, deliverable 3), each against restating with the
# flores_en settings (studies/flores_en_settings.sh), the same seed, budget and machine:
#   restate          the restating bridge itself, trained here (the comparison's baseline: the same
#                    machine and precision as the objectives beside it)
#   continuation     the encoder reads the first 30-70% of an English text's words, the LLM writes the rest
#   token-dropout    restating, with 20% of the encoder positions left out of what the LLM reads in training
#   continuation+restate  continuation as stage 1, then restating from it (--init-from), as the peers' two stages
#   restate+restate  restating, then restating again from it (--init-from): the control of continuation+restate,
#                    the same two stages and steps with restating in stage 1
# Evaluated on English (the copy ceiling) and flores_en's low-resource languages that XNLI lacks, the
# languages of the bitext study (studies/generation/bitext.sh), so that the objectives and the bitext stage
# stand in one table; LANGUAGES (a comma list, or "all") overrides.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/generation/objectives.sh [OUT] [SEEDS...]
#   OBJECTIVES: a comma list narrowing the runs (default restate,continuation,token-dropout,continuation+restate,
#   restate+restate).
# Each objective's evaluation is paired with restating's of the same seed (tools/paired_bootstrap.py: the
# same resampled sentence ids for both) into OUT/<objective>/seed<N>/summary.json, which the report reads;
# continuation+restate also with its control restate+restate (control.json).
# Then: python -m tools.make_docs. Finished runs are kept; a killed one resumes (rerun the same line).
set -euo pipefail
OUT=${1:-results/objectives}; shift || true
SEEDS=${*:-0}
OBJECTIVES=${OBJECTIVES:-restate,continuation,token-dropout,continuation+restate,restate+restate}
. "$(dirname "$0")/../flores_en_settings.sh"  # FLORES_EN: the settings of docs/generation.md
. "$(dirname "$0")/../finished.sh"
LANGUAGES=${LANGUAGES:-eng_Latn,$(python -m studies.generation.xnli_bitext --data-dir "${LAYERBRIDGE_DATA_DIR:?}" --languages-not-in-xnli)}
[ "$LANGUAGES" = all ] && LANGUAGES=""
run() {  # run FOLDER compare-args...: one flores_en comparison unless finished
  local out=$1; shift
  finished "$out" && return
  layerbridge compare "${FLORES_EN[@]}" --fusions global_softmax --references "" \
    ${LANGUAGES:+--languages "$LANGUAGES"} "$@" -o "$out"
}
for seed in $SEEDS; do
  for objective in ${OBJECTIVES//,/ }; do
    case $objective in
      restate) run "$OUT/restate/seed$seed" --seed "$seed" ;;
      continuation) run "$OUT/continuation/seed$seed" --seed "$seed" --objective continuation ;;
      token-dropout) run "$OUT/token-dropout/seed$seed" --seed "$seed" --encoder-token-dropout 0.2 ;;
      continuation+restate|restate+restate)  # stage 2 restates, from the stage-1 bridge of the same seed
        first=${objective%+restate}; stage1=$OUT/$first/seed$seed/global_softmax
        [ -f "$stage1/bridge_config.json" ] || { echo "objectives.sh: $objective needs $stage1 (run $first first)" >&2; exit 2; }
        run "$OUT/$objective/seed$seed" --seed "$seed" --init-from "$stage1" ;;
      *) echo "objectives.sh: unknown objective $objective (restate, continuation, token-dropout, continuation+restate," \
              "restate+restate)" >&2; exit 2 ;;
    esac
  done
  for objective in ${OBJECTIVES//,/ }; do  # each objective minus restating, paired over the same sentences
    folder=$OUT/$objective/seed$seed restate=$OUT/restate/seed$seed
    if [ "$objective" != restate ] && [ ! -f "$folder/summary.json" ]; then
      python -m tools.paired_bootstrap "$restate"/global_softmax/eval-* "$folder"/global_softmax/eval-* -o "$folder/summary.json"
    fi
  done
  # continuation as stage 1 minus its control (restating in stage 1: the same two stages and steps)
  folder=$OUT/continuation+restate/seed$seed control=$OUT/restate+restate/seed$seed
  if [ -f "$folder/compare.json" ] && [ -f "$control/compare.json" ] && [ ! -f "$folder/control.json" ]; then
    python -m tools.paired_bootstrap "$control"/global_softmax/eval-* "$folder"/global_softmax/eval-* -o "$folder/control.json"
  fi
done
