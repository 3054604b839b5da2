"""A board's pre-registered tests: the paper's findings decided with Holm over the plan's family,
TOST for "vanishes at K = 10", and the sample size a pilot board implies."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from facebench.board import plan, ranking
from facebench.board.load import Board

ROWS = [("naive", None), ("joint", None), ("joint-so-far", None), ("er-hull", 3), ("er-rand", 3),
        ("er-hull", 10), ("er-rand", 10)]


def board(forgetting: dict, pairs: int = 8, aip: dict | None = None, final: dict | None = None) -> Board:
    """A board in memory: ``forgetting`` maps a row to its per-pair forgetting (print scale ×10,
    an array of ``pairs``); AIP and final average likewise (default: 2.0 everywhere)."""
    runs = []
    for method, k in ROWS:
        if (method, k) not in forgetting:
            continue
        for i in range(pairs):
            runs.append({"method": method, "strategy": method, "K": k, "person": str(i // 2), "seed": i % 2,
                         "recon_perceptual.forgetting": forgetting[method, k][i] / 10,
                         "recon_perceptual.aip": (aip or {}).get((method, k), np.full(pairs, 2.0))[i] / 10,
                         "recon_perceptual.final_average":
                             (final or {}).get((method, k), np.full(pairs, 2.0))[i] / 10})
    runs = pd.DataFrame(runs).astype({"K": "Int64"})
    return Board("faceworld", "0" * 64, runs, (), 0, len(runs))


NOISE = np.array([0.01, -0.02, 0.015, -0.005, 0.02, -0.01, 0.0, -0.01])


def test_the_findings_are_reproduced_refuted_or_not_shown_by_their_holm_adjusted_tests():
    forgetting = {("naive", None): 1.0 + NOISE, ("er-hull", 3): 0.4 + NOISE[::-1], ("er-rand", 3): 0.45 + 0 * NOISE,
                  ("er-hull", 10): 0.1 + NOISE, ("er-rand", 10): 0.1 + NOISE / 4,
                  ("joint", None): np.zeros(8), ("joint-so-far", None): np.zeros(8)}
    aip = {("joint-so-far", None): 2.5 + NOISE}  # worse than ER-Hull's 2.0: F3 refuted
    table = plan.evaluate(board(forgetting, aip=aip)).set_index("test")
    outcome = dict(zip(table.index, table["outcome"]))
    assert outcome["naive - er-hull K=3, recon_perceptual forgetting"] == plan.REPRODUCED
    assert outcome["er-hull K=3 - er-hull K=10, recon_perceptual forgetting"] == plan.REPRODUCED
    assert outcome["joint-so-far - er-hull K=3, recon_perceptual aip"] == plan.REFUTED
    assert outcome["joint - er-hull K=3, recon_perceptual final_average"] == plan.NO_TEST  # no spread at all
    assert outcome["er-hull K=10 - er-rand K=10, recon_perceptual forgetting"] == plan.REPRODUCED  # within ±0.05
    ps = table["p"].to_numpy(float)
    ran = np.isfinite(ps)
    assert np.allclose(table["p_adjusted"].to_numpy(float)[ran], multipletests(ps[ran], method="holm")[1])
    assert (table["n"] == 8).all()


def test_a_missing_row_is_no_test_and_a_noisy_equivalence_is_not_shown():
    rng = np.random.default_rng(0)
    forgetting = {("er-hull", 10): rng.normal(0, 0.5, 8), ("er-rand", 10): rng.normal(0, 0.5, 8)}
    table = plan.evaluate(board(forgetting)).set_index("test")
    assert table.loc["er-hull K=10 - er-rand K=10, recon_perceptual forgetting", "outcome"] == plan.NOT_SHOWN
    assert table.loc["naive - er-hull K=3, recon_perceptual forgetting", "outcome"] == plan.NO_TEST
    assert table.loc["naive - er-hull K=3, recon_perceptual forgetting", "n"] == 0


def test_the_sample_size_is_the_power_analysis_of_each_test_at_holms_first_level():
    rng = np.random.default_rng(1)
    forgetting = {row: rng.normal(0.3, 0.1, 8) for row in ROWS}
    sizes = plan.sample_size(board(forgetting)).set_index("test")
    at = ranking.level(len(plan.TESTS))
    for test in plan.TESTS:
        row = sizes.loc[test.name]
        if test.summary != "forgetting":
            assert np.isnan(row["pairs_needed"])  # AIP and final average have no spread here
            continue
        if test.expect == "=":
            n = row["pairs_needed"]
            assert plan.tost_power(n, row["sd"], test.effect, at) >= ranking.POWER
            assert plan.tost_power(n - 1, row["sd"], test.effect, at) < ranking.POWER
        else:
            assert row["pairs_needed"] == ranking.pairs_needed(test.effect, row["sd"], at)


def test_tosts_power_bound_is_below_its_simulated_power():
    rng = np.random.default_rng(2)
    n, sd, margin = 12, 0.03, 0.05
    hits = np.mean([plan.equivalence_p(rng.normal(0, sd, n), margin) < 0.05 for _ in range(500)])
    bound = plan.tost_power(n, sd, margin, 0.05)
    assert 0.3 < bound <= hits + 0.04
