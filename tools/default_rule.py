"""The rule that picks the default design (issue 16, written before the first run; docs/fusion-study.md,
"Fair budgets"): the best English dev over seeds and both tasks wins; a cheaper design within
RULE_MARGIN points of it wins instead. Test scores play no part. The fair-budget study and every
later study that may change the default (studies/probe-gap/) apply this one rule."""

from __future__ import annotations

# cost rank of each design: what it adds to the bridge (parameters, passes) beyond the cheaper ones
DESIGN_COST = {"last": 0, "global_softmax": 1, "global_softmax[parameterisation=plain]": 1, "token_softmax": 2}
RULE_MARGIN = 1.0


def apply_rule(dev: dict[str, float], cost: dict[str, int] = DESIGN_COST, margin: float = RULE_MARGIN
               ) -> tuple[str, list[str], str]:
    """(best design by dev, cheaper designs within `margin` of it, the winner: the best of those cheaper
    designs if any, else the best)."""
    best = max(dev, key=dev.get)
    cheaper = [d for d in dev if cost[d] < cost[best] and dev[d] >= dev[best] - margin]
    return best, cheaper, (max(cheaper, key=dev.get) if cheaper else best)
