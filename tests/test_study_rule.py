"""The default-choosing rule of the fair-budget study (tools/default_rule.py)."""

from tools.default_rule import apply_rule

COST = {"last": 0, "global_softmax": 1, "token_softmax": 2}


def test_best_dev_wins_when_nothing_cheaper_is_close():
    assert apply_rule({"last": 70.0, "global_softmax": 87.0, "token_softmax": 76.0}, COST) == \
        ("global_softmax", [], "global_softmax")


def test_cheaper_design_within_the_margin_wins():
    best, cheaper, winner = apply_rule({"last": 86.5, "global_softmax": 86.3, "token_softmax": 87.2}, COST, 1.0)
    assert best == "token_softmax"
    assert sorted(cheaper) == ["global_softmax", "last"]
    assert winner == "last"  # the best dev among the cheaper ones


def test_a_cheaper_design_just_outside_the_margin_does_not_win():
    assert apply_rule({"last": 85.9, "global_softmax": 87.0}, COST, 1.0)[2] == "global_softmax"
