#!/usr/bin/env bash
# The peers' recipe beside English only (issue 30): MindMerger and LayAlign first train the bridge on
# X -> English bitext, then on the task from the aligned bridge. Stage 1 here: XNLI's validation premises in
# its 14 translated languages paired with their English rows (studies/generation/xnli_bitext.py; never a
# FLORES sentence); stage 2: flores_en from the stage-1 bridge (--init-from); beside it the English-only
# flores_en bridge, trained the same way from scratch. Both are evaluated on flores_en's low-resource
# languages that XNLI does not have (stage 1 saw none of them; English is the copy ceiling), the stage-1
# bridge on its held-out premises. Every run uses the flores_en settings (studies/flores_en_settings.sh);
# stage 2 trains as many steps again as the English-only run, so the two-stage bridge has had both budgets.
# Usage: LAYERBRIDGE_DATA_DIR=../shared/data bash studies/generation/bitext.sh BITEXT_DIR [OUT] [SEED]
#   BITEXT_DIR: outside the repository (the XNLI licence keeps its rows out); OUT: default results/bitext/seedSEED.
#   STAGE1_STEPS (default: the flores_en steps) and EVAL_LIMIT (default: flores_en's sentences per language)
#   from the environment; ENGLISH_ONLY (default OUT/english-only): another OUT's English-only run of the same
#   seed to compare against instead of training it again (it does not depend on stage 1), e.g. for a longer
#   stage 1: STAGE1_STEPS=1000 ENGLISH_ONLY=results/bitext/seed0/english-only bash ... results/bitext-stage1-1000/seed0 0.
#   A finished step is kept: a rerun continues where it stopped (a killed training resumes).
# At the end: studies/generation/content_recall.py reads the outputs' numbers, names and words,
# python -m tools.run_record folds each run into its run.json, and tools/paired_bootstrap.py writes the
# paired interval of the difference into OUT/summary.json.
set -euo pipefail
BITEXT=${1:?usage: bitext.sh BITEXT_DIR [OUT] [SEED] (BITEXT_DIR outside the repository)}
SEED=${3:-0}
OUT=${2:-results/bitext/seed$SEED}
if [ -n "${ENGLISH_ONLY:-}" ] && [ ! -f "$ENGLISH_ONLY/train_summary.json" ]; then
  echo "bitext.sh: ENGLISH_ONLY=$ENGLISH_ONLY is no finished English-only run (run bitext.sh without it first)" >&2; exit 2
fi
ENGLISH_ONLY=${ENGLISH_ONLY:-$OUT/english-only}
DATA=${LAYERBRIDGE_DATA_DIR:?set LAYERBRIDGE_DATA_DIR to the local data folder}
. "$(dirname "$0")/../flores_en_settings.sh"  # FLORES_EN: the settings of docs/generation.md

. "$(dirname "$0")/../finished.sh"  # train_run
EVAL_LIMIT=${EVAL_LIMIT:-${FLORES_EN_EVAL_LIMIT:-}}
TRAIN=("${FLORES_EN_TRAIN[@]}" --fusion global_softmax --seed "$SEED")
STAGE1=()
[ -n "${STAGE1_STEPS:-}" ] && STAGE1=(--max-steps "$STAGE1_STEPS")

evaluate_run() {  # evaluate_run DIR NAME FLAGS...: evaluate into DIR/NAME unless done
  local dir=$1 name=$2; shift 2
  if [ -f "$dir/$name/results.json" ]; then echo "bitext.sh: $dir/$name evaluated, kept"; return; fi
  layerbridge evaluate "$dir" --mixed-precision auto "$@" -o "$dir/$name"
}

# 1. the bitext (outside the repository; the writer refuses a folder inside it)
[ -f "$BITEXT/bitext.yaml" ] || python -m studies.generation.xnli_bitext --data-dir "$DATA" -o "$BITEXT"
LANGS=eng_Latn,$(python -m studies.generation.xnli_bitext --data-dir "$DATA" --languages-not-in-xnli)
echo "bitext.sh: flores_en evaluated on $LANGS"

# 2. stage 1 on the bitext (no dev set carved from it: every pair's English is also another language's
#    target; the held-out premises are its evaluation split), evaluated on them
train_run "$OUT/stage1" --task "$BITEXT/bitext.yaml" "${TRAIN[@]}" "${STAGE1[@]}" --dev-size 0
evaluate_run "$OUT/stage1" eval-heldout

# 3. stage 2: flores_en from the stage-1 bridge; 4. the English-only bridge, the same from scratch
train_run "$OUT/stage2" --task flores_en "${TRAIN[@]}" --init-from "$OUT/stage1"
train_run "$ENGLISH_ONLY" --task flores_en "${TRAIN[@]}"
for run in "$OUT/stage2" "$ENGLISH_ONLY"; do
  evaluate_run "$run" eval-not-in-xnli --task flores_en --languages "$LANGS" ${EVAL_LIMIT:+--limit "$EVAL_LIMIT"}
done
# which of the references' numbers, names and other words the outputs keep (reads the predictions)
python -m studies.generation.content_recall "$OUT/stage2" "$ENGLISH_ONLY" --eval eval-not-in-xnli
python -m tools.run_record "$OUT/stage1" "$OUT/stage2" "$ENGLISH_ONLY"
# the bitext stage minus English only, paired over the same sentences (summary.json, which the report reads;
# its "first" names the English-only evaluation)
python -m tools.paired_bootstrap "$ENGLISH_ONLY/eval-not-in-xnli" "$OUT/stage2/eval-not-in-xnli" -o "$OUT/summary.json"
