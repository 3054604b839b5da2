"""Exact Euclidean distances from points to the convex hulls of small vertex sets, batched.

For a candidate with vertices V (K x D) and a point w (D,),

    d(w, conv V) = min over a in the simplex {a >= 0, sum(a) = 1} of |V^T a - w|     (units of w)

Each (candidate, point) pair is a small quadratic programme in Gram space,
min a^T G a - 2 b^T a + |w|^2 with G = V V^T and b = V w, so D drops out after one matrix
product. All C x N programmes are solved at once:

1. the affine projection onto each whole candidate (one KKT inverse per candidate);
2. block principal pivoting: on the free set F solve the equality-constrained KKT system
   G_FF a_F - mu 1 = b_F, sum a_F = 1, a = 0 off F (a Schur-complement update of step 1 on
   the removed set), then swap every index that violates the KKT conditions (a_i < 0 in F,
   or a negative multiplier y_j = (G a - b)_j - mu off F); a few rounds settle almost every
   programme;
3. the rest (still moving after `_MAX_ROUNDS`, or of a candidate whose KKT matrix is singular:
   duplicated or affinely dependent vertices) go to Wolfe's minimum-norm-point algorithm,
   one at a time.

Every answer is then certified by its duality gap: for feasible weights a with gradient
g = G a - b, gap = a.g - min_j g_j >= 0 bounds the excess of the squared distance,
d(a)^2 - d*^2 <= 2 gap, so the error of d(a) is at most min(d(a), 2 gap / d(a)).
An answer whose bound exceeds RTOL * (d + scale) is redone by Wolfe's algorithm, and one that
still fails raises; none is returned uncertified.

The computation runs on one thread (torch's intra-op threads are set to 1 for the call and
restored after): its operations are small, and on a shared CPU, threads waiting for each
other made it several times slower.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

RTOL = 1e-6
"""Certified accuracy: |d - d*| <= RTOL * (d + scale), scale = the largest norm after centring."""

_MAX_ROUNDS = 12
_PRIMAL_TOL = 1e-12  # weights are dimensionless and sum to 1
_DUAL_TOL = 1e-12  # relative to scale^2
_RECOMPUTE_BELOW = 1e-6  # d^2 / scale^2 under which d is recomputed in D-space (Gram cancellation)


def hull_distances(vertices, points, exclude=None) -> np.ndarray:
    """Distances from each point to the convex hull of each candidate's vertices.

    d[c, n] = min over a in the simplex of |vertices[c]^T a - points[n]|, certified by the KKT
    duality gap to |d - d*| <= RTOL * (d + scale) (see the module docstring).

    :param vertices: (C, K, D) array-like, the K vertices of each of C candidates
        (duplicated and affinely dependent vertices are allowed).
    :param points: (N, D) array-like.
    :param exclude: optional (C, N) bool array-like: pairs not to compute (returned as NaN),
        e.g. points known to be vertices of the candidate.
    :returns: (C, N) float64 numpy array of Euclidean distances, in the units of the inputs.
    """
    v = torch.as_tensor(np.asarray(vertices, dtype=np.float64))
    w = torch.as_tensor(np.asarray(points, dtype=np.float64))
    if v.ndim != 3 or w.ndim != 2 or v.shape[2] != w.shape[1] or v.shape[1] == 0:
        raise ValueError(f"expected vertices (C, K, D) and points (N, D), got {tuple(v.shape)} and {tuple(w.shape)}")
    todo = torch.ones(v.shape[0], w.shape[0], dtype=torch.bool)
    if exclude is not None:
        todo &= ~torch.as_tensor(np.asarray(exclude, dtype=bool))
    if not todo.numel():
        return np.zeros(tuple(todo.shape))
    with _one_thread():
        return _certified_distances(v, w, todo).numpy()


def _certified_distances(v, w, todo) -> torch.Tensor:
    centre = w.mean(0)  # distances are translation-invariant; centring keeps the Gram well conditioned
    v, w = v - centre, w - centre
    gram = v @ v.transpose(1, 2)  # (C, K, K)
    b = v @ w.T  # (C, K, N)
    w2 = (w * w).sum(1)  # (N,)
    scale2 = max(float(gram.diagonal(dim1=1, dim2=2).max()), float(w2.max()), 1e-300)
    a = _settle(gram, b, todo, scale2)
    for _attempt in range(2):
        redo = todo & ~torch.isfinite(a).all(-1)
        a[redo] = _wolfe_batch(gram, b, w2, redo.nonzero())
        d, bound = _distances_and_bounds(a, gram, b, w2, v, w, todo, scale2)
        uncertified = todo & (bound > RTOL * (d + scale2**0.5))
        if not uncertified.any():
            return d
        a[uncertified] = float("nan")  # accurate but not certified: Wolfe's algorithm redoes these
    c, n = uncertified.nonzero()[0].tolist()
    raise ArithmeticError(f"hull distance of point {n} to candidate {c} could not be certified "
                          f"(error bound {float(bound[c, n]):.3g} at distance {float(d[c, n]):.3g})")


@contextmanager
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _settle(gram, b, todo, scale2) -> torch.Tensor:
    """Block principal pivoting on the programmes in `todo`; (C, N, K) weights, NaN where unsettled.

    With H the inverse of a candidate's KKT matrix [[G, -1], [1^T, 0]] and z0 = H [b; 1] the
    affine projection onto the whole candidate, the minimiser with a_R = 0 on a removed set R
    is z = z0 + H[:, R] nu with H[R, R] nu = -z0[R] (the KKT system with the rows R shifted by
    nu), and nu = y_R are the multipliers of a_R >= 0 (y = 0 on the free set). So each round
    solves only |R| x |R| systems.
    """
    n_cand, k, n_pts = b.shape
    kkt = gram.new_zeros(n_cand, k + 1, k + 1)
    kkt[:, :k, :k] = gram
    kkt[:, :k, k] = -1.0
    kkt[:, k, :k] = 1.0
    inverse, info = torch.linalg.inv_ex(kkt)
    z0 = (inverse @ torch.cat([b, b.new_ones(n_cand, 1, n_pts)], 1)).transpose(1, 2)  # (C, N, K + 1)
    a = torch.full((n_cand, n_pts, k), float("nan"), dtype=gram.dtype)
    c, n = (todo & (info == 0)[:, None] & torch.isfinite(z0).all(-1)).nonzero(as_tuple=True)
    z, removed, nu = z0[c, n], torch.zeros(len(c), k, dtype=torch.bool), gram.new_zeros(len(c), k)
    for rounds in range(_MAX_ROUNDS + 1):
        wrong = (~removed & (z[:, :k] < -_PRIMAL_TOL)) | (removed & (nu < -_DUAL_TOL * scale2))
        moving = wrong.any(1)
        a[c[~moving], n[~moving]] = z[~moving, :k]
        if rounds == _MAX_ROUNDS or not moving.any():
            break  # the programmes still moving stay NaN: left to Wolfe's algorithm
        c, n, removed = c[moving], n[moving], removed[moving] ^ wrong[moving]
        z, nu, solved = _solve_with_removed(inverse, z0, c, n, removed)
        c, n, removed, z, nu = c[solved], n[solved], removed[solved], z[solved], nu[solved]
    a = torch.where(a > _PRIMAL_TOL, a, 0.0)  # NaN stays NaN; dropping round-off weights keeps supports small
    return a / a.sum(-1, keepdim=True)


def _solve_with_removed(inverse, z0, c, n, removed):
    """Per row r: the KKT solution z (K + 1) of candidate c[r], point n[r] with a = 0 on removed[r],
    and the multipliers nu (K) of those bounds (0 elsewhere); rows grouped by |R|."""
    m, k = removed.shape
    z = z0[c, n]
    nu = z.new_zeros(m, k)
    solved = torch.ones(m, dtype=torch.bool)
    for rows, idx in _rows_by_count(removed):
        r = idx.shape[1]
        cols = inverse[c[rows]].gather(2, idx[:, None, :].expand(-1, k + 1, -1))  # H[:, R]  (rows, K + 1, r)
        block = cols.gather(1, idx[:, :, None].expand(-1, -1, r))  # H[R, R]
        step, info = torch.linalg.solve_ex(block, -z[rows].gather(1, idx))  # H[R, R] nu = -z0[R]
        z[rows] = (z[rows] + (cols @ step[..., None])[..., 0]).scatter(1, idx, 0.0)
        nu[rows] = nu[rows].scatter(1, idx, step)
        solved[rows] = (info == 0) & torch.isfinite(step).all(1)
    return z, nu, solved


def _rows_by_count(mask: torch.Tensor):
    """Group the rows of a (M, K) bool mask by their number of True entries (zero-count rows skipped).

    Yields (rows (R,), idx (R, s)): the row numbers and, per row, the s column indices that are set.
    """
    counts = mask.sum(1)
    for s in counts.unique().tolist():
        if s:
            rows = (counts == s).nonzero()[:, 0]
            yield rows, mask[rows].nonzero()[:, 1].reshape(len(rows), s)


def _distances_and_bounds(a, gram, b, w2, v, w, todo, scale2):
    """Distances d(a) (NaN outside todo) and the certified error bound min(d, 2 gap / d), both (C, N)."""
    ag = a @ gram  # (C, N, K): (G a)_j per programme (G symmetric)
    bt = b.transpose(1, 2)
    g = ag - bt
    d2 = w2[None] + torch.einsum("cnk,cnk->cn", a, ag - 2.0 * bt)
    small = todo & (d2 < _RECOMPUTE_BELOW * scale2)
    if small.any():  # |w|^2 - 2 a.b + a.Ga cancels near the hull: recompute those in D-space
        c, n = small.nonzero(as_tuple=True)
        weights = a[c, n]
        for rows, idx in _rows_by_count(weights > 0):
            support = v.reshape(-1, v.shape[2])[(c[rows] * v.shape[1])[:, None] + idx]  # (R, s, D)
            residual = torch.einsum("rs,rsd->rd", weights[rows].gather(1, idx), support).sub_(w[n[rows]])
            d2[c[rows], n[rows]] = torch.linalg.vector_norm(residual, dim=1).square()
    d = torch.where(todo, d2.clamp_min(0.0).sqrt(), float("nan"))
    gap = (torch.einsum("cnk,cnk->cn", a, g) - g.amin(-1)).clamp_min(0.0)
    bound = torch.minimum(d, 2.0 * gap / d.clamp_min(1e-300))
    return d, bound


def _wolfe_batch(gram, b, w2, index: torch.Tensor) -> torch.Tensor:
    """Wolfe's algorithm for the programmes (index[r, 0] = candidate, index[r, 1] = point)."""
    out = gram.new_empty(len(index), gram.shape[1])
    for row, (c, n) in enumerate(index.tolist()):
        q = gram[c] - b[c, :, n][:, None] - b[c, :, n][None, :] + w2[n]  # Gram of p_i = v_i - w
        out[row] = torch.as_tensor(_wolfe(q.numpy()))
    return out


def _wolfe(q: np.ndarray) -> np.ndarray:
    """Simplex weights of the minimum-norm point of conv{p_i}, given the Gram q_ij = p_i . p_j (Wolfe 1976).

    The corral stays affinely independent and each affine minimiser is a least-squares
    solution, so duplicated or dependent vertices are harmless.
    """
    k = len(q)
    tol = 1e-13 * max(float(np.abs(q).max()), 1e-300)
    corral = [int(np.argmin(np.diag(q)))]
    lam = np.ones(1)
    for _ in range(50 * k):
        g = q[:, corral] @ lam  # p_j . x for the current point x
        j = int(np.argmin(g))
        if lam @ g[corral] - g[j] <= tol or j in corral:
            break
        corral.append(j)
        lam = np.append(lam, 0.0)
        while True:  # minor cycle: towards the affine minimiser, dropping vertices whose weight reaches 0
            alpha = _affine_minimiser(q[np.ix_(corral, corral)])
            if np.all(alpha > 1e-12):
                lam = alpha
                break
            shrink = lam - alpha
            cut = (alpha <= 1e-12) & (shrink > 0)
            theta = min(1.0, float(np.min(lam[cut] / shrink[cut]))) if cut.any() else 1.0
            lam = lam + theta * (alpha - lam)
            keep = lam > 1e-12
            corral = [i for i, kept in zip(corral, keep) if kept]
            lam = lam[keep] / lam[keep].sum()
    a = np.zeros(k)
    a[corral] = lam
    return a


def _affine_minimiser(q: np.ndarray) -> np.ndarray:
    """Weights (summing to 1) of the minimum-norm point of an affine hull; least squares on its KKT system."""
    m = len(q)
    kkt = np.zeros((m + 1, m + 1))
    kkt[:m, :m] = q
    kkt[:m, m] = 1.0
    kkt[m, :m] = 1.0
    rhs = np.zeros(m + 1)
    rhs[m] = 1.0
    return np.linalg.lstsq(kkt, rhs, rcond=None)[0][:m]
