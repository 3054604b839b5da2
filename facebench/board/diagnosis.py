"""Why a replay policy wins or not: per-session diagnosis of a board's replay rows.

Rows. One per replay row (method, K) of :attr:`facebench.board.load.Board.runs`: a row whose
runs have a buffer size K. A run is read from its result file's ``replay_buffer``
(``facebench.run.history.BufferHistory.record``); a run whose file holds none (written before
``facebench.result/4`` and migrated, or of a strategy whose buffer the runner does not see, like
GDumb's own) is counted as "not recorded" and left out: only a rerun can say.

Per-session forgetting. For session j of a run of T sessions, j = 0 .. T-2 (the last session
cannot be forgotten), the term of ``facebench.metrics.forgetting`` for that session alone, of
the primary score (:data:`SCORE`, ``facebench.board.aggregate.PRIMARY``'s score), times its print
scale (:data:`SCALE`):

    f_j = max_{l in [j, T-2]} (a[T-1][j] - a[l][j])    (a lower-is-better score; the other way round
                                                        for a higher-is-better one)

so that the run's forgetting summary is the mean of its f_j (divided by the print scale).

(a) In and out of the final buffer. A session is *in* when an item of it is in the final
buffer (``replay_buffer.sessions[-1]``), *out* otherwise. Per run: the mean f_j of its in
sessions and of its out sessions; a run with sessions of both kinds gives the paired difference
in - out. Over the n such runs of a row: the mean of each, and the mean difference with the
half-width of its 95% Student-t interval (``facebench.board.aggregate.mean_interval``; none for
n < 2). A run whose sessions 0 .. T-2 are all in (K >= T - 1) or all out has no difference.

(b) Forgetting against the distance to the final buffer's hull. Session j's hull distance is
``replay_buffer.hull_distance[j]``: the mean over its training anchors of the Euclidean distance,
in latent units, from the anchor to the convex hull of the final buffer's latents. Per run:
Spearman's rank correlation rho (``scipy.stats.spearmanr``) of f_j and the hull distance over
j = 0 .. T-2 (NaN where either is constant: the run is left out); over the row's runs: the mean
rho with its 95% Student-t half-width, and the pooled rho, Spearman's over every (f_j, distance)
of the row's runs together. A positive rho says the sessions the buffer is far from are the
ones forgotten.

n counts runs (persons x seeds), as the board's cells do; ``histories`` counts the distinct
(person, buffer history) among a row's recorded runs (seeds of a policy that draws nothing share
a buffer: ``facebench.board.aggregate.distinct_histories``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from facebench.board.aggregate import PRIMARY, k_label, mean_interval
from facebench.board.formats import cell, number
from facebench.board.load import Board
from facebench.board.plots import style
from facebench.protocol import SCORES

SCORE = PRIMARY[0]
"""The score whose per-session forgetting is diagnosed: the primary score's."""
SCALE = SCORES[SCORE][1]
"""Its print scale: every forgetting here is times this."""
TITLE = "Why a policy wins or not: per-session diagnosis"
NOT_RECORDED = "not recorded"

#: The columns of :func:`diagnose`, after method and K.
COLUMNS = ("runs", "not_recorded", "histories", "n_in_out", "forgetting_in", "forgetting_out", "difference",
           "difference_ci95", "n_rho", "rho_mean", "rho_ci95", "rho_pooled", "n_pooled")


def session_forgetting(matrix, higher_is_better: bool) -> np.ndarray:
    """f_j for j = 0 .. T-2 of a T x T score matrix, in the score's units (module docstring); their
    mean is ``facebench.metrics.forgetting``. Empty for T < 2 or a 1 x T (joint) matrix."""
    a = np.asarray(matrix, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        return np.zeros(0)
    last = a.shape[0] - 1
    sign = 1.0 if higher_is_better else -1.0
    return np.array([np.max(sign * (a[j:last, j] - a[last, j])) for j in range(last)])


def replay_runs(board: Board) -> pd.DataFrame:
    """The board's runs of replay rows (a buffer size K), in (K, method, person, seed) order."""
    runs = board.runs[board.runs["K"].notna()]
    order = sorted(runs.index, key=lambda i: (int(runs.at[i, "K"]), runs.at[i, "method"], _person(runs.at[i, "person"]),
                                              runs.at[i, "seed"]))
    return runs.loc[order]


def sessions_table(board: Board) -> pd.DataFrame:
    """One row per (recorded run of a replay row, session j = 0 .. T-2): method, K, person, seed,
    path, session, forgetting (f_j times :data:`SCALE`), in_buffer (whether the final buffer holds
    an item of the session; NA where the final buffer was not recorded) and hull_distance (NaN
    where not recorded)."""
    rows = []
    higher = SCORES[SCORE][0] == "higher"
    for _, run in replay_runs(board).iterrows():
        record = _record(run)
        matrix = run["matrices"].get(SCORE) if isinstance(run["matrices"], dict) else None
        if record is None or matrix is None:
            continue
        final = record["sessions"][-1] if record["sessions"] else None
        distances = record["hull_distance"]
        for j, f in enumerate(session_forgetting(matrix, higher)):
            rows.append({"method": run["method"], "K": int(run["K"]), "person": run["person"], "seed": run["seed"],
                         "path": run["path"], "session": j, "forgetting": float(f) * SCALE,
                         "in_buffer": pd.NA if final is None else j in set(final),
                         "hull_distance": math.nan if distances is None else float(distances[j])})
    columns = ["method", "K", "person", "seed", "path", "session", "forgetting", "in_buffer", "hull_distance"]
    table = pd.DataFrame(rows, columns=columns)
    return table.astype({"K": "Int64", "session": int, "in_buffer": "boolean"})


def diagnose(board: Board) -> pd.DataFrame:
    """One row per replay row (method, K) of ``board``, in (K, method) order, with :data:`COLUMNS`
    (module docstring): runs, not_recorded (runs without a replay record), histories, and for
    (a) n_in_out, forgetting_in, forgetting_out, difference (in - out), difference_ci95; for (b)
    n_rho, rho_mean, rho_ci95, rho_pooled, n_pooled (the sessions pooled). Forgetting in
    :data:`SCALE` times the score's units; NaN where a statistic has no runs."""
    runs = replay_runs(board)
    per_session = sessions_table(board)
    out = []
    for (k, method), group in runs.groupby(["K", "method"], sort=False):
        recorded = group[[_record(run) is not None for _, run in group.iterrows()]]
        mine = per_session[(per_session["K"] == k) & (per_session["method"] == method)]
        row = {"method": method, "K": int(k), "runs": len(group), "not_recorded": len(group) - len(recorded),
               "histories": len(set(zip(recorded["person"], recorded["buffer_history"])))}
        row.update(_in_out(mine))
        row.update(_correlation(mine))
        out.append(row)
    table = pd.DataFrame(out, columns=["method", "K", *COLUMNS])
    return table.astype({"K": "Int64", **{name: int for name in ("runs", "not_recorded", "histories", "n_in_out",
                                                                   "n_rho", "n_pooled")}})


def recorded(board: Board) -> bool:
    """Whether a replay run of ``board`` recorded its buffers (the diagnosis has something to show)."""
    return any(_record(run) is not None for _, run in replay_runs(board).iterrows())


def diagnosis_markdown(board: Board) -> list[str]:
    """The board's section "Why a policy wins or not: per-session diagnosis", as Markdown lines:
    its heading, one sentence of definitions and the table of :func:`diagnose`."""
    table = diagnose(board)
    lines = [f"## {TITLE}", "", _definitions(), ""]
    if table.empty:
        return lines + ["No replay row (a strategy with a buffer size K) on this board."]
    if not recorded(board):
        return lines + [f"None of its {int(table['runs'].sum())} replay runs recorded its buffers (result files "
                        "written before facebench.result/4, migrated): only a rerun can say."]
    header = ["K", "method", "runs", NOT_RECORDED, f"forgetting in ×{SCALE}", f"forgetting out ×{SCALE}",
              f"in − out ×{SCALE}", "n", "ρ per run", "n", "pooled ρ", "sessions"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [k_label(row["K"]), row["method"].replace("|", "\\|"), str(row["runs"]), str(row["not_recorded"]),
                 number(row["forgetting_in"], 3), number(row["forgetting_out"], 3),
                 cell(row["difference"], row["difference_ci95"], 3, signed=True), str(row["n_in_out"]),
                 cell(row["rho_mean"], row["rho_ci95"], 3), str(row["n_rho"]), number(row["rho_pooled"], 3),
                 str(row["n_pooled"])]
        lines.append("| " + " | ".join(cells) + " |")
    missing, total = int(table["not_recorded"].sum()), int(table["runs"].sum())
    if missing:
        lines += ["", f"{missing} of {total} replay runs {NOT_RECORDED}: their result files hold no replay record "
                      "(written before facebench.result/4, or a buffer the runner does not see); only a rerun can say."]
    return lines


def plot_diagnosis(board: Board, path: str | Path) -> Path:
    """Draw per-session forgetting (y, :data:`SCALE` times the primary score's units) against the
    session's distance to the final buffer's hull (x, latent units), one point per (run,
    session j = 0 .. T-2), one panel per K, one colour and marker per method
    (``facebench.board.plots.style``), filled where the session is in the final buffer, hollow
    where it is not; write it as a PNG at ``path`` and return the path."""
    path = Path(path)
    points = sessions_table(board)
    points = points[points["hull_distance"].notna()]
    ks = sorted(int(k) for k in points["K"].unique())
    figure = Figure(figsize=(4.2 * max(len(ks), 1) + 0.6, 4.4))
    FigureCanvasAgg(figure)
    if not ks:
        axis = figure.add_subplot(1, 1, 1)
        axis.set_axis_off()
        axis.text(0.5, 0.5, f"No per-session record on this board ({NOT_RECORDED})", ha="center", va="center")
    axes = [figure.add_subplot(1, len(ks), i + 1) for i in range(len(ks))]
    for axis, k in zip(axes, ks):
        mine = points[points["K"] == k]
        for method, runs in mine.groupby("method", sort=True):
            colour, marker = style(method)
            held = runs["in_buffer"].fillna(False).to_numpy(dtype=bool)
            axis.scatter(runs["hull_distance"][held], runs["forgetting"][held], color=colour, marker=marker, s=22,
                         label=method)
            axis.scatter(runs["hull_distance"][~held], runs["forgetting"][~held], facecolors="none",
                         edgecolors=[colour], marker=marker, s=22, label=None if held.any() else method)
        axis.axhline(0.0, color="0.7", linewidth=0.8, zorder=0)
        axis.set_title(f"K = {k}")
        axis.set_xlabel("distance to the final buffer's hull (latent units)")
        axis.legend(fontsize=7, loc="best", title="filled: in the final buffer", title_fontsize=7)
    if axes:
        axes[0].set_ylabel(f"per-session forgetting, {SCORE} ×{SCALE}")
    figure.suptitle(f"{board.scenario}: {TITLE}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    return path


def _record(run: pd.Series) -> dict | None:
    """A run's replay record (``Board.runs``' ``replay_buffer``); None where it holds none."""
    record = run["replay_buffer"]
    return record if isinstance(record, dict) else None


def _person(person: str) -> tuple:
    return (0, int(person), person) if str(person).isdigit() else (1, 0, str(person))


def _in_out(sessions: pd.DataFrame) -> dict:
    """(a) of the module docstring over one row's per-session table."""
    ins, outs = [], []
    for _, run in sessions[sessions["in_buffer"].notna()].groupby(["person", "seed"], sort=False):
        held = run["in_buffer"].to_numpy(dtype=bool)
        if held.any() and (~held).any():
            ins.append(run["forgetting"][held].mean())
            outs.append(run["forgetting"][~held].mean())
    difference, half = mean_interval(np.subtract(ins, outs))
    return {"n_in_out": len(ins), "forgetting_in": float(np.mean(ins)) if ins else math.nan,
            "forgetting_out": float(np.mean(outs)) if outs else math.nan, "difference": difference,
            "difference_ci95": half}


def _correlation(sessions: pd.DataFrame) -> dict:
    """(b) of the module docstring over one row's per-session table."""
    sessions = sessions[sessions["hull_distance"].notna()]
    rhos = [_spearman(run["forgetting"], run["hull_distance"])
            for _, run in sessions.groupby(["person", "seed"], sort=False)]
    rhos = [rho for rho in rhos if math.isfinite(rho)]
    mean, half = mean_interval(rhos)
    return {"n_rho": len(rhos), "rho_mean": mean, "rho_ci95": half,
            "rho_pooled": _spearman(sessions["forgetting"], sessions["hull_distance"]), "n_pooled": len(sessions)}


def _spearman(x, y) -> float:
    """Spearman's rho of x and y; NaN for fewer than 2 points or a constant one."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(x, y).statistic)


def _definitions() -> str:
    return (f"f_j, the forgetting of session j alone (the board's forgetting term for j = 0 .. T−2 of {SCORE}, "
            f"×{SCALE}: its worst drop from any earlier model to the last), averaged per run over the sessions "
            "with an item in the final replay buffer (in) and without (out), then over the n runs that have both, "
            "with in − out ± the half-width of its 95% Student-t interval; ρ, Spearman's rank correlation per run "
            "between f_j and session j's distance to the final buffer's hull (the mean Euclidean distance, in latent "
            "units, of its training latents to the convex hull of the buffer's latents), averaged over runs ± 95% "
            f"half-width, and pooled over every run's sessions; {NOT_RECORDED}: runs whose result file holds no "
            "replay record, left out.")
