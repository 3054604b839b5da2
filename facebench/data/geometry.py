"""The geometry of a person's stream: how its sessions sit in the generic model's W and in pixels,
and so whether a replay buffer's choice of items can matter on a card.

The items of a person are the training images of each session; in W, their anchors (the
generic generator's inversions, ``facebench.run.anchors.person_anchors``, cached), in latent
units; in pixels, the images as vectors of 3 x H x W values in [0, 1], a distance between two
being the root mean square difference of their values (Euclidean / sqrt(3 H W)). In each space:

* ``within(s)``: mean distance between two distinct items of session s; ``within``, its mean
  over the sessions;
* ``between(s, t)``: mean distance between an item of s and an item of t (s != t);
  ``between``, its mean over the pairs of sessions; ``ratio`` = between / within (1: sessions
  overlap; much more than 1: each session is a cluster of its own);
* ``nearest item``: for each item, the distance to the nearest item of another session,
  averaged over the items;
* ``effective dimension``: the participation ratio (sum l)^2 / sum l^2 of the eigenvalues l of
  the covariance of all the person's items (1: on a line; d: spread evenly over d directions);
* for each session s, its nearest session: the t != s of least between(s, t).

Hull coverage (W only): for each session s and buffer size K, the *other* sessions' items are a
pool, and a K-buffer is one of its timestamp-balanced subsets (``balanced_candidates`` of
ER-Hull: all of them, or :data:`CANDIDATES` random ones). A buffer's distance to s is the mean
over s's items of their Euclidean distance to the buffer's convex hull (``facebench.hull``).
``best``: the least over the candidate buffers (what the best choice of K items could do for
s); ``random``: the mean over them (the expected distance of a random balanced buffer, as
ER-Rand draws it). Both in latent units, to be read against ``within``: a best far under the
random, near the within-session scale, says the choice of items can matter for s; both alike
say it cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facebench import style
from facebench.data.sources import DataError

BUFFER_SIZES = (3, 5, 10)
CANDIDATES = 5000
"""Candidate buffers per (session, K): ER-Hull's number."""
SEED = 0
"""The seed of the candidate draws: the report of a card is the same every time."""


@dataclass(frozen=True)
class SpaceGeometry:
    """The distances among a person's items in one space (module doc).

    ``pairs[s][t]``: between(s, t), and within(s) on the diagonal."""

    pairs: np.ndarray
    nearest_item: float
    effective_dimension: float

    @property
    def within(self) -> float:
        return float(np.mean(np.diag(self.pairs)))

    @property
    def between(self) -> float:
        return float(self.pairs[np.triu_indices(len(self.pairs), 1)].mean())

    @property
    def ratio(self) -> float:
        return self.between / self.within

    def nearest_sessions(self) -> list[int]:
        """For each session, its nearest other session (least between(s, t))."""
        off = self.pairs + np.diag(np.full(len(self.pairs), np.inf))
        return [int(t) for t in off.argmin(1)]


@dataclass(frozen=True)
class Coverage:
    """Per session, the mean distance of its items to the hull of the best and of a random
    balanced K-buffer of the other sessions (module doc), in latent units."""

    best: tuple[float, ...]
    random: tuple[float, ...]
    candidates: tuple[int, ...]


@dataclass(frozen=True)
class Geometry:
    """A person's stream in W (``latent``) and in pixels, and its hull coverage by K."""

    scenario: str
    person: str
    items: tuple[int, ...]
    latent: SpaceGeometry
    pixels: SpaceGeometry
    hull: dict[int, Coverage]


def participation_ratio(points: np.ndarray) -> float:
    """(sum l)^2 / sum l^2 over the eigenvalues l of the covariance of ``points`` (N, D)."""
    centred = points - points.mean(0)
    values = np.linalg.svd(centred, compute_uv=False) ** 2
    return float(values.sum() ** 2 / (values**2).sum())


def space_geometry(sessions: Sequence[np.ndarray], scale: float = 1.0) -> SpaceGeometry:
    """The distances among the items of ``sessions`` (each (n_s, D), n_s >= 2), Euclidean
    distances multiplied by ``scale`` (1 / sqrt(D) for the RMS difference of pixels)."""
    points = np.concatenate(sessions).astype(np.float64)
    which = np.repeat(np.arange(len(sessions)), [len(s) for s in sessions])
    squares = (points**2).sum(1)
    distance = np.sqrt(np.maximum(squares[:, None] + squares[None] - 2 * points @ points.T, 0)) * scale
    same = which[:, None] == which[None]
    onehot = np.eye(len(sessions))[which]
    sums = onehot.T @ np.where(np.eye(len(points), dtype=bool), 0.0, distance) @ onehot
    sizes = onehot.sum(0)
    counts = np.outer(sizes, sizes) - np.diag(sizes)
    nearest = np.where(same, np.inf, distance).min(1).mean()
    return SpaceGeometry(sums / counts, float(nearest), participation_ratio(points))


def hull_coverage(latents: Sequence[np.ndarray], buffer_sizes=BUFFER_SIZES, candidates: int = CANDIDATES,
                  seed: int = SEED) -> dict[int, Coverage]:
    """For each K, the :class:`Coverage` of each session by balanced K-buffers of the others."""
    from facebench.hull import hull_distances
    from facebench.strategies.er_hull import balanced_candidates

    rng = np.random.default_rng(seed)
    out = {}
    for k in buffer_sizes:
        best, random, counts = [], [], []
        for s, points in enumerate(latents):
            others = [t for t in range(len(latents)) if t != s]
            pool = np.concatenate([latents[t] for t in others])
            labels = np.repeat(others, [len(latents[t]) for t in others])
            buffers = balanced_candidates(labels, k, rng, limit=candidates)
            distance = hull_distances(pool[buffers], points).mean(1)
            best.append(float(distance.min()))
            random.append(float(distance.mean()))
            counts.append(len(buffers))
        out[k] = Coverage(tuple(best), tuple(random), tuple(counts))
    return out


def person_geometry(scenario, person: str, models=None, buffer_sizes=BUFFER_SIZES,
                    candidates: int = CANDIDATES) -> Geometry:
    """The :class:`Geometry` of ``person`` of ``scenario`` (a ``facebench.data.Scenario``); the
    anchors from ``models`` (default: the zoo's generic models at the card's resolution)."""
    from facebench.models.generic import GenericModels
    from facebench.protocol import Protocol
    from facebench.run.anchors import person_anchors

    person = str(person)
    sessions = scenario.sessions(person)  # an unknown person is an error before any model loads
    if len(sessions) < 2 or min(len(s.train.frames) for s in sessions) < 2:
        raise DataError(f"{scenario.name}, person {person}: the geometry report needs at least 2 sessions "
                        "of at least 2 training images each")
    models = models or GenericModels.for_card(scenario.card)
    latents = [a.double().numpy() for a in person_anchors(models, scenario, person, Protocol.from_card(scenario.card))]
    images = [s.train.images.flatten(1).double().numpy() for s in sessions]
    return Geometry(
        scenario=scenario.name,
        person=person,
        items=tuple(len(s.train.frames) for s in sessions),
        latent=space_geometry(latents),
        pixels=space_geometry(images, scale=images[0].shape[1] ** -0.5),
        hull=hull_coverage(latents, buffer_sizes, candidates),
    )


def as_json(geometry: Geometry) -> dict:
    """The report as a small JSON document (numbers rounded to 4 significant digits)."""

    def space(g: SpaceGeometry) -> dict:
        return {"within": _round(g.within), "between": _round(g.between), "ratio": _round(g.ratio),
                "nearest_item": _round(g.nearest_item), "effective_dimension": _round(g.effective_dimension),
                "session_within": [_round(v) for v in np.diag(g.pairs)],
                "nearest_session": g.nearest_sessions(),
                "nearest_session_distance": [_round(g.pairs[s, t]) for s, t in enumerate(g.nearest_sessions())]}

    return {
        "scenario": geometry.scenario, "person": geometry.person, "items_per_session": list(geometry.items),
        "latent": space(geometry.latent), "pixels": space(geometry.pixels),
        "hull": {str(k): {"best": [_round(v) for v in c.best], "random": [_round(v) for v in c.random],
                          "mean_best": _round(np.mean(c.best)), "mean_random": _round(np.mean(c.random)),
                          "candidates": list(c.candidates)} for k, c in geometry.hull.items()},
    }


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def tables(geometry: Geometry) -> list:
    """Two rich tables: the summary of both spaces, and the sessions in W with their coverage."""
    title = f"{geometry.scenario}, person {geometry.person}"
    summary = style.table(f"geometry of {title}")
    for column in ("space", "within", "between", "ratio", "nearest item", "eff. dim"):
        summary.add_column(column, justify="left" if column == "space" else "right")
    for name, g in (("W (latent units)", geometry.latent), ("pixels (RMS)", geometry.pixels)):
        summary.add_row(name, *(f"{v:.4g}" for v in (g.within, g.between, g.ratio, g.nearest_item,
                                                      g.effective_dimension)))
    sessions = style.table(f"sessions of {title} in W: nearest session, distance to the hull of the best / "
                           "a random balanced K-buffer of the other sessions")
    for column in ("session", "within", "nearest", "pixels nearest"):
        sessions.add_column(column, justify="right")
    for k in geometry.hull:
        sessions.add_column(f"K={k} best / random", justify="right")
    near, near_px = geometry.latent.nearest_sessions(), geometry.pixels.nearest_sessions()
    for s in range(len(geometry.items)):
        sessions.add_row(str(s), f"{geometry.latent.pairs[s, s]:.3g}", f"{near[s]} ({geometry.latent.pairs[s, near[s]]:.3g})",
                         f"{near_px[s]} ({geometry.pixels.pairs[s, near_px[s]]:.3g})",
                         *(f"{c.best[s]:.3g} / {c.random[s]:.3g}" for c in geometry.hull.values()))
    sessions.add_row("mean", f"{geometry.latent.within:.3g}", "", "",
                     *(f"{np.mean(c.best):.3g} / {np.mean(c.random):.3g}" for c in geometry.hull.values()))
    return [summary, sessions]


def plot(geometry: Geometry, path: str | Path) -> Path:
    """One PNG: left, between(s, t) / within in W as a heatmap; right, each session's hull
    distance against K, best (solid) and random (dashed), with the mean within-session distance."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.8))
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    image = left.imshow(geometry.latent.pairs / geometry.latent.within, cmap="viridis")
    figure.colorbar(image, ax=left, label="distance / within-session distance")
    left.set(title="sessions in W: mean distance", xlabel="session", ylabel="session")
    ks = list(geometry.hull)
    for s in range(len(geometry.items)):
        colour = f"C{s % 10}"
        right.plot(ks, [geometry.hull[k].best[s] for k in ks], "-o", color=colour, lw=1, ms=3)
        right.plot(ks, [geometry.hull[k].random[s] for k in ks], "--", color=colour, lw=1)
    right.axhline(geometry.latent.within, color="black", lw=1, ls=":", label="within-session distance")
    right.plot([], [], "-o", color="grey", label="best buffer")
    right.plot([], [], "--", color="grey", label="random balanced buffer")
    right.set(title="distance to the hull of a K-buffer of the others", xlabel="K",
              ylabel="mean distance (latent units)", xticks=ks)
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    figure.suptitle(f"{geometry.scenario}, person {geometry.person}")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    return Path(path)
