# The flores_en settings chosen in studies/generation/variants.sh (docs/generation.md), sourced by
# every script that trains on flores_en so that their runs compare: the upper half of the encoder's
# layers in a fixed uniform mix (fusion lr 1e-6), the lexical projector start (linear projectors),
# lr 1e-3; decoding greedy without repeated 3-grams. 200 steps and 16 sentences per language fit a
# session on 2 cores. Callers add --fusions.
FLORES_EN=(--task flores_en --preset small-data --lr 1e-3 --max-steps 200 --mixed-precision auto --dev-limit 32
           --eval-limit 16 --max-new-tokens 80 --no-repeat-ngram-size 3 --checkpoint-every 50
           --layers upper_half --fusion-lr 1e-6 --projector-init lexical)
