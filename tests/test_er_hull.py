"""ER-Hull: exact hull distances (against SLSQP and constructed truths), candidates, scores, selection."""

import math

import numpy as np
import pytest
import torch
from replay_helpers import buffer_sessions, clustered_sessions, run_stream
from scipy.optimize import minimize

from facebench import hull
from facebench.replay import Pool
from facebench.strategies.er_hull import ERHull, balanced_candidates, candidate_scores, hull_distances


def slsqp_distance(vertices: np.ndarray, point: np.ndarray) -> float:
    """An independent solver: SLSQP on min |V^T a - w|^2 over the simplex, one point at a time."""
    k = len(vertices)
    result = minimize(
        lambda a: np.sum((a @ vertices - point) ** 2), np.full(k, 1 / k),
        jac=lambda a: 2 * vertices @ (a @ vertices - point), method="SLSQP", bounds=[(0, 1)] * k,
        constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1, "jac": lambda a: np.ones(k)}],
        options={"ftol": 1e-16, "maxiter": 1000},
    )
    return math.sqrt(max(result.fun, 0.0))


def assert_exact(got: np.ndarray, vertices: np.ndarray, points: np.ndarray) -> None:
    scale = np.abs(np.concatenate([vertices.reshape(-1, points.shape[1]), points]) - points.mean(0)).max()
    for c in range(len(vertices)):
        for n in range(len(points)):
            ref = slsqp_distance(vertices[c], points[n])
            # 1e-6 relative; SLSQP itself stops ~1e-8 away from 0 for points inside a hull
            assert abs(got[c, n] - ref) <= 1e-6 * ref + 1e-7 * scale, (c, n, got[c, n], ref)


def random_case(rng, candidates, k, dim, points):
    vertices = rng.normal(size=(candidates, k, dim))
    w = rng.normal(size=(points, dim))
    w[0] = rng.dirichlet(np.ones(k)) @ vertices[0]  # inside candidate 0
    face = rng.choice(k, size=max(1, k // 2), replace=False)
    w[1] = rng.dirichlet(np.ones(len(face))) @ vertices[0, face]  # on a face of candidate 0
    w[2] = vertices[1, 0]  # a vertex of candidate 1
    return vertices, w


@pytest.mark.parametrize("k, dim", [(1, 4), (2, 3), (3, 5), (4, 10), (5, 3), (6, 2), (10, 128)])
def test_hull_distances_match_slsqp(k, dim):
    rng = np.random.default_rng(k * 100 + dim)
    vertices, points = random_case(rng, candidates=6, k=k, dim=dim, points=7)
    got = hull_distances(vertices, points)
    assert got.shape == (6, 7)
    assert_exact(got, vertices, points)
    assert got[0, 0] < 1e-9 and got[0, 1] < 1e-9 and got[1, 2] == 0.0


def test_duplicated_vertices_change_nothing():
    rng = np.random.default_rng(1)
    vertices, points = random_case(rng, candidates=5, k=4, dim=6, points=6)
    doubled = np.concatenate([vertices, vertices[:, :2]], axis=1)  # vertices 0, 1 twice
    np.testing.assert_allclose(hull_distances(doubled, points), hull_distances(vertices, points), rtol=1e-9, atol=1e-12)
    assert_exact(hull_distances(doubled, points), doubled, points)


def test_known_distances_to_a_triangle_in_a_rotated_plane():
    rotation, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(6, 6)))
    triangle = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 3.0]])
    # (in-plane point, height, exact distance): inside -> |h|; past an edge or a vertex -> Pythagoras
    cases = [((1.0, 1.0), 2.0, 2.0), ((1.0, 1.0), 0.0, 0.0), ((2.0, -1.0), 0.0, 1.0), ((2.0, -1.0), 3.0, math.sqrt(10)),
             ((4.0, 3.0), 0.0, 12 / 5), ((-1.0, -1.0), 1.0, math.sqrt(3)), ((6.0, 0.0), 0.0, 2.0)]

    def lift(xy, h):
        return np.array([*xy, h, 0.0, 0.0, 0.0]) @ rotation.T

    vertices = np.stack([lift(v, 0.0) for v in triangle])[None]
    points = np.stack([lift(xy, h) for xy, h, _ in cases])
    np.testing.assert_allclose(hull_distances(vertices, points)[0], [d for *_, d in cases], rtol=1e-9, atol=1e-12)


def test_a_single_vertex_is_the_euclidean_distance():
    rng = np.random.default_rng(3)
    vertices, points = rng.normal(size=(4, 1, 9)), rng.normal(size=(5, 9))
    expected = np.linalg.norm(vertices[:, 0, None] - points[None], axis=-1)
    np.testing.assert_allclose(hull_distances(vertices, points), expected, rtol=1e-12)


def test_excluded_pairs_are_not_computed():
    rng = np.random.default_rng(4)
    vertices, points = rng.normal(size=(3, 2, 4)), rng.normal(size=(4, 4))
    exclude = np.zeros((3, 4), bool)
    exclude[1, 2] = True
    got = hull_distances(vertices, points, exclude=exclude)
    assert np.isnan(got[1, 2]) and np.isfinite(np.delete(got.ravel(), 1 * 4 + 2)).all()


def test_no_candidates_or_no_points():
    assert hull_distances(np.zeros((0, 3, 4)), np.ones((5, 4))).shape == (0, 5)
    assert hull_distances(np.ones((2, 3, 4)), np.zeros((0, 4))).shape == (2, 0)


def test_the_fallback_solver_alone_is_exact(monkeypatch):
    """With one pivoting round, most programmes go to Wolfe's algorithm."""
    monkeypatch.setattr(hull, "_MAX_ROUNDS", 1)
    calls = []
    original = hull._wolfe_batch
    monkeypatch.setattr(hull, "_wolfe_batch", lambda *a: calls.append(len(a[3])) or original(*a))
    rng = np.random.default_rng(5)
    for k, dim in [(5, 3), (7, 12)]:
        vertices, points = random_case(rng, candidates=6, k=k, dim=dim, points=6)
        assert_exact(hull_distances(vertices, points), vertices, points)
    assert sum(calls) > 10


def test_an_offset_cloud_stays_exact():
    """A large common offset (W's mean is far from 0) must not cost precision."""
    rng = np.random.default_rng(6)
    vertices, points = random_case(rng, candidates=4, k=5, dim=16, points=5)
    np.testing.assert_allclose(hull_distances(vertices + 1e4, points + 1e4), hull_distances(vertices, points),
                               rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- candidates

def _is_balanced(sessions, row, k):
    """k items, floor(k/n) or floor(k/n) + 1 from each of the n sessions (all sessions big enough)."""
    n = len(np.unique(sessions))
    return len(row) == k and set(np.bincount(sessions[row], minlength=n).tolist()) <= {k // n, k // n + 1}


def test_all_balanced_candidates_when_at_most_5000():
    sessions = np.repeat([0, 1], [3, 20])
    rows = balanced_candidates(sessions, 3, np.random.default_rng(0))
    assert rows.shape == (3 * 190 + 3 * 20, 3)  # (1, 2) and (2, 1) items per session
    assert len({tuple(r) for r in rows.tolist()}) == len(rows)
    assert all(_is_balanced(sessions, r, 3) for r in rows)


def test_k_at_most_the_sessions_gives_one_item_per_session():
    sessions = np.repeat([0, 1, 2], [1, 2, 20])
    rows = balanced_candidates(sessions, 2, np.random.default_rng(0))
    assert len(rows) == 1 * 2 + 1 * 20 + 2 * 20
    assert all(len(set(sessions[r])) == 2 for r in rows)


def test_5000_distinct_random_draws_otherwise():
    sessions = np.repeat([0, 1], [5, 20])  # 10 * 1140 + 10 * 190 = 13300 balanced buffers
    rows = balanced_candidates(sessions, 5, np.random.default_rng(1))
    assert rows.shape == (5000, 5) and len({tuple(r) for r in rows.tolist()}) == 5000
    assert all(_is_balanced(sessions, r, 5) for r in rows)
    assert (rows == balanced_candidates(sessions, 5, np.random.default_rng(1))).all()
    assert len(balanced_candidates(sessions, 5, np.random.default_rng(1), limit=7)) == 7


def test_a_session_with_too_few_items_gives_all_it_has():
    sessions = np.repeat([0, 1, 2], [1, 4, 20])
    rows = balanced_candidates(sessions, 7, np.random.default_rng(2))  # 1 + 3 + 3
    assert {tuple(np.bincount(sessions[r], minlength=3)) for r in rows} == {(1, 3, 3)}
    assert balanced_candidates(sessions, 30, np.random.default_rng(2)).tolist() == [list(range(25))]


# ---------------------------------------------------------------- scores and selection

# Two sessions in the plane: A, B, C (session 0) and D, E (session 1).
LATENTS = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0], [0.0, 3.0], [4.0, 3.0]])
SESSIONS = np.array([0, 0, 0, 1, 1])
SPREAD = np.array([1.0, 2.0, 3.0, 0.5, 0.7])


def test_candidate_scores_by_hand():
    candidates = np.array([[0, 1, 3], [0, 3, 4], [0, 1, 2]])
    expected = [
        # {A, B, D}: C lies inside (d 0); E is 12/sqrt(13) from the edge BD
        (0.0 + 12 / math.sqrt(13)) / 2,
        # {A, D, E}: B is 1.2 from the edge AE, C inside; session 1 is all in B: its spread (0.5 + 0.7)/2
        ((1.2 + 0.0) / 2 + 0.6) / 2,
        # {A, B, C}: session 0 all in B: spread (1 + 2 + 3)/3; D is sqrt(5) from C, E is 2.5 sqrt(2) from BC
        (2.0 + (math.sqrt(5) + 2.5 * math.sqrt(2)) / 2) / 2,
    ]
    np.testing.assert_allclose(candidate_scores(LATENTS, SESSIONS, candidates, SPREAD), expected, rtol=1e-9)


def test_er_hull_keeps_the_candidate_that_covers_the_pool():
    latents = np.array([[0.0, 0.0], [1.0, 0.1], [2.0, 0.0], [3.0, -0.1], [10.0, 0.0]])
    pool = Pool(latents.astype(np.float32), torch.zeros(5, 3, 1, 1), np.zeros(5, np.int64), np.ones(5))
    assert sorted(ERHull(3).select(pool, 3, np.random.default_rng(0))) in ([0, 1, 4], [0, 3, 4])
    assert sorted(ERHull(2).select(pool, 2, np.random.default_rng(0))) == [0, 4]


@pytest.mark.parametrize("k", [2, 5])
def test_through_a_replay_plugin(k):
    snapshots = run_stream(ERHull(k, seed=0), clustered_sessions(sessions=4, per_session=5))
    for t, snapshot in enumerate(snapshots):
        counts = np.bincount(buffer_sessions(snapshot), minlength=t + 1)
        assert len(snapshot) == min(k, 5 * (t + 1))
        if k >= t + 1:
            assert (counts > 0).all() and counts.max() - counts.min() <= 1
        else:
            assert counts.max() == 1 and (counts > 0).sum() == k
