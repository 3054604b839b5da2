"""Benchmarks of ER-Hull's scoring: 5000 candidates from a pool of 23, D = 128, K = 3, 5, 10.

Budget: at most 0.5 s per call (median) on the 2-core CI machine; asserted when run with
``pytest --benchmark-enable tests/test_benchmark_er_hull.py`` (the default run calls each
once, as a smoke test). Timed in CPU seconds of this process (``time.process_time``; the
computation is single-threaded): the machine is shared, and its wall time also counts the
other jobs. Solving point by point with SLSQP, as the paper's authors did, takes minutes
for the same work.
"""

import time

import numpy as np
import pytest

from facebench.strategies.er_hull import candidate_scores, hull_distances

BUDGET_S = 0.5


def pool_and_candidates(k: int):
    """A pool as ER-Hull sees it with K = 3: three buffered items of three old sessions and 20
    training latents of the new one, each session a cluster in W; 5000 random K-subsets (there
    are only 1771 distinct ones for K = 3)."""
    rng = np.random.default_rng(k)
    sessions = np.repeat([0, 1, 2, 3], [1, 1, 1, 20])
    latents = rng.normal(size=(4, 128))[sessions] + 0.5 * rng.normal(size=(23, 128))
    candidates = np.sort(np.argsort(rng.random((5000, 23)), axis=1)[:, :k], axis=1)
    return latents, sessions, candidates, rng.uniform(5, 10, 23)


def _check_budget(benchmark):
    if benchmark.enabled:
        assert benchmark.stats.stats.median <= BUDGET_S


@pytest.mark.benchmark(timer=time.process_time)
@pytest.mark.parametrize("k", [3, 5, 10])
def test_candidate_scores(benchmark, k):
    latents, sessions, candidates, spread = pool_and_candidates(k)
    scores = benchmark(candidate_scores, latents, sessions, candidates, spread)
    assert scores.shape == (5000,) and np.isfinite(scores).all()
    _check_budget(benchmark)


@pytest.mark.benchmark(timer=time.process_time)
@pytest.mark.parametrize("k", [3, 5, 10])
def test_hull_distances(benchmark, k):
    latents, _, candidates, _ = pool_and_candidates(k)
    distances = benchmark(hull_distances, latents[candidates], latents)
    assert distances.shape == (5000, 23) and (distances >= 0).all()
    _check_budget(benchmark)
