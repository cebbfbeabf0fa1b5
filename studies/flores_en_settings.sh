# The flores_en settings chosen in studies/generation/variants.sh (docs/generation.md), sourced by
# every script that trains on flores_en so that their runs compare: the upper half of the encoder's
# layers in a fixed uniform mix (fusion lr 1e-6), the lexical projector start (linear projectors),
# lr 1e-3; decoding greedy without repeated 3-grams; 200 steps. Evaluated on 64 test sentences per
# language, the same ids in every language (drawn on English, kept by id), so that each language's
# chrF++ comes with a 95% bootstrap interval over those sentences and the low-resource average with a
# joint one (the runs committed before were 16-sentence runs). Callers add --fusions.
FLORES_EN=(--task flores_en --preset small-data --lr 1e-3 --max-steps 200 --mixed-precision auto --dev-limit 32
           --eval-limit 64 --max-new-tokens 80 --no-repeat-ngram-size 3 --checkpoint-every 50
           --layers upper_half --fusion-lr 1e-6 --projector-init lexical)
# FLORES_EN_TRAIN: FLORES_EN as `layerbridge train` takes it (without the task, and without compare's
# --eval-limit, kept in FLORES_EN_EVAL_LIMIT for evaluate's --limit)
FLORES_EN_TRAIN=()
for ((i = 0; i < ${#FLORES_EN[@]}; i++)); do
  case "${FLORES_EN[i]}" in
    --task) i=$((i + 1)) ;;
    --eval-limit) FLORES_EN_EVAL_LIMIT=${FLORES_EN[i + 1]}; i=$((i + 1)) ;;
    *) FLORES_EN_TRAIN+=("${FLORES_EN[i]}") ;;
  esac
done
