"""Leaderboards: result files -> validated runs -> one ranked row per (method, K) -> tables.

Files. Every ``*.json`` under the folder, at any depth, is a result file, except the board's
own ``leaderboard.json``. :func:`check` lists every problem of every file, one line each,
``<file>: <field>: <problem>``; :func:`load` keeps the valid runs and counts the others as
skipped (never a silently wrong mean).

A valid file has the schema :data:`facebench.board.schema.SCHEMA`; its card hash
(``scenario.card_sha256``) is the sha256 of the card content it holds and, for a stock card
name, the hash of that stock card; every score of :data:`facebench.protocol.SCORES` with its
direction and print scale, a complete matrix (T x T with every a[t][k], k <= t, a number and
null above the diagonal; 1 x T for kind "joint") and summaries equal to those
:func:`facebench.board.schema.summaries` computes from the matrix; facebench, torch, avalanche
and python versions and the git commit recorded; only finite numbers. Across files: one
scenario (name and card hash: the most common among the files; the others are "mixed in"), and
no two files for the same (strategy, parameters, person, seed) (the first in path order is
kept).

Rows. One row per (method, K): K is the run's ``buffer_size`` (none for strategies without a
buffer, shown "-"), the method is the strategy's name with its other parameters.

Cells. For each of :data:`COLUMNS`, (score, summary): the mean over the row's n runs (persons x
seeds) of the run's summary times the score's print scale, and the half-width of its 95%
confidence interval, ``t(0.975, n - 1) * s / sqrt(n)`` (Student t, ``s`` the sample standard
deviation, ddof 1). A row of one run has no interval (NaN; shown "—").

Ranking. Within each K, by :data:`PRIMARY`, the reconstruction AIP of the perceptual distance
(lower is better), ties broken by reconstruction forgetting of the perceptual distance, then by
name. AIP, not forgetting, because it is defined for every strategy (forgetting is not, for a
joint model), it rewards learning each new session as well as keeping the old ones (a model
that never learns forgets nothing), and it is the paper's first column.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from facebench.data import cards
from facebench.errors import FacebenchError
from facebench.protocol import SCORES
from facebench.board.schema import SCHEMA, summaries

#: The board's columns, (score, summary), in the paper's order, then PSNR.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("recon_perceptual", "aip"),
    ("recon_identity", "aip"),
    ("recon_perceptual", "forgetting"),
    ("recon_identity", "forgetting"),
    ("synth_frechet", "aip"),
    ("synth_identity", "aip"),
    ("synth_frechet", "forgetting"),
    ("synth_identity", "forgetting"),
    ("recon_psnr", "aip"),
)
PRIMARY = ("recon_perceptual", "aip")
TIEBREAK = ("recon_perceptual", "forgetting")
CONFIDENCE = 0.95
#: What the leaderboard writes; ``leaderboard.json`` is never read as a result file.
MARKDOWN, CSV, JSON = "LEADERBOARD.md", "leaderboard.csv", "leaderboard.json"
_PROVENANCE = ("facebench", "git_commit", "torch", "avalanche", "python")


class LeaderboardError(FacebenchError):
    """Result files that make no board: none at all, or none valid."""


def column(score: str, summary: str) -> str:
    """A column's name in tables and files: ``recon_perceptual_aip_x10`` (the x10 says the
    values are printed times 10)."""
    scale = SCORES[score][1]
    return f"{score}_{summary}" + (f"_x{scale}" if scale != 1 else "")


def k_label(k) -> str:
    """K as shown: the buffer size, or "-" for a strategy without a buffer."""
    return "-" if pd.isna(k) else str(int(k))


def better_is_lower(score: str, summary: str) -> bool:
    """Forgetting is lower-is-better for every score; AIP follows the score's direction."""
    return summary == "forgetting" or SCORES[score][0] == "lower"


@dataclass(frozen=True)
class Board:
    """The valid runs of one scenario, and the files left out: ``skipped`` has one line per
    problem, ``skipped_files`` counts the files, ``files`` all the files read.

    ``runs`` has one row per valid file: path, strategy, method, K (nullable Int64), person,
    seed, a column ``<score>.<summary>`` per score and summary (raw, unscaled) and ``matrices``
    (score -> a[t][k] as an array, NaN above the diagonal).
    """

    scenario: str
    card_sha256: str
    runs: pd.DataFrame
    skipped: tuple[str, ...]
    skipped_files: int
    files: int


def result_files(folder: str | Path) -> list[Path]:
    """Every result file under ``folder``, in path order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LeaderboardError(f"{folder}: no such folder")
    return sorted(path for path in folder.rglob("*.json") if path.name != JSON and path.is_file())


def check(folder: str | Path) -> list[str]:
    """Every problem of every result file under ``folder``, one line each; [] when all are valid."""
    files = result_files(folder)
    if not files:
        return [f"{folder}: no result files (*.json) under it"]
    _, problems = _scan(files)
    return [line for lines in problems.values() for line in lines]


def load(folder: str | Path) -> Board:
    """The valid runs under ``folder``; invalid files are skipped and listed in ``skipped``."""
    files = result_files(folder)
    if not files:
        raise LeaderboardError(f"{folder}: no result files (*.json) under it")
    documents, problems = _scan(files)
    skipped = tuple(line for lines in problems.values() for line in lines)
    valid = [(path, data) for path, data in documents.items() if path not in problems]
    if not valid:
        raise LeaderboardError(f"{folder}: no valid result file among {len(files)}: " + "; ".join(skipped[:3])
                               + (" ..." if len(skipped) > 3 else ""))
    first = valid[0][1]["scenario"]
    runs = pd.DataFrame([_run_row(path, data) for path, data in valid])
    runs["K"] = runs["K"].astype("Int64")
    return Board(first["name"], first["card_sha256"], runs, skipped, len(problems), len(files))


def _scan(files: list[Path]) -> tuple[dict[Path, dict], dict[Path, list[str]]]:
    """Parsed documents by path, and the problem lines of each file that has any."""
    documents, problems = {}, {}
    for path in files:
        data, found = _read(path)
        if data is not None:
            documents[path] = data
        if found:
            problems[path] = [f"{path}: {where}: {what}" if where else f"{path}: {what}" for where, what in found]
    for path, line in _cross_file_problems({p: d for p, d in documents.items() if p not in problems}):
        problems.setdefault(path, []).append(line)
    return documents, problems


def _read(path: Path) -> tuple[dict | None, list[tuple[str, str]]]:
    """A file's document and its own problems as (field, problem)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [("", f"cannot read the file: {error}")]
    if not text.strip():
        return None, [("", "empty file")]
    constants = []  # NaN, Infinity, -Infinity: JSON extensions that only a broken writer emits
    try:
        data = json.loads(text, parse_constant=lambda name: constants.append(name) or float(name))
    except json.JSONDecodeError as error:
        return None, [("", f"not valid JSON (truncated or corrupt?): {error.msg} at line {error.lineno} "
                           f"column {error.colno}")]
    if not isinstance(data, dict):
        return None, [("", "not a result file: expected a JSON object")]
    return data, _document_problems(data, bool(constants))


_TYPES = {
    "scenario.name": str, "scenario.card": dict, "scenario.card_sha256": str,
    "strategy.name": str, "strategy.kind": str, "strategy.params": dict,
    "person": str, "seed": int, "sessions": int, "scores": dict,
    **{f"provenance.{key}": str for key in _PROVENANCE},
}
_TYPE_WORDS = {str: "a string", int: "an integer", dict: "an object"}


def _document_problems(data: dict, non_finite: bool) -> list[tuple[str, str]]:
    if data.get("schema") != SCHEMA:
        return [("schema", f"{data.get('schema')!r}, expected {SCHEMA!r}")]
    found = []
    for field, kind in _TYPES.items():
        value = _get(data, field)
        if value is _MISSING or value is None or value == "":
            found.append((field, "missing" if value is _MISSING else "not recorded"))
        elif not isinstance(value, kind) or isinstance(value, bool):
            found.append((field, f"expected {_TYPE_WORDS[kind]}, got {value!r}"))
    if non_finite:
        found += [(field, f"not a finite number: {value!r}") for field, value in _non_finite(data, "")]
    if found:
        return found
    if data["strategy"]["kind"] not in ("sequential", "joint"):
        found.append(("strategy.kind", f"must be 'sequential' or 'joint', got {data['strategy']['kind']!r}"))
    found += _card_problems(data["scenario"])
    for name in SCORES:
        entry = data["scores"].get(name)
        if not isinstance(entry, dict):
            found.append((f"scores.{name}", "missing"))
        else:
            found += _score_problems(name, entry, data["sessions"], data["strategy"]["kind"] == "joint")
    return found


_MISSING = object()


def _get(data: dict, dotted: str):
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return _MISSING
        data = data[key]
    return data


def _non_finite(value, where: str):
    """(field, value) of every NaN or infinite number inside ``value``."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, f"{where}[{index}]")


@lru_cache(maxsize=None)
def _stock_hash(name: str) -> str | None:
    return cards.load_card(name).sha256 if name in cards.stock_cards() else None


def _card_problems(scenario: dict) -> list[tuple[str, str]]:
    content = cards.Card(Path(scenario["name"]), scenario["card"]).sha256
    stock = _stock_hash(scenario["name"])
    recorded = scenario["card_sha256"]
    if content != recorded:
        return [("scenario.card_sha256", f"{recorded[:12]} is not the hash of the card in the file ({content[:12]})")]
    if stock is not None and stock != recorded:
        return [("scenario.card_sha256",
                 f"{recorded[:12]} differs from stock card '{scenario['name']}' ({stock[:12]})")]
    return []


def _score_problems(name: str, entry: dict, sessions: int, joint: bool) -> list[tuple[str, str]]:
    where = f"scores.{name}"
    direction, scale = SCORES[name]
    if entry.get("direction") != direction:
        return [(f"{where}.direction", f"{entry.get('direction')!r}, expected {direction!r}")]
    if entry.get("print_scale") != scale:
        return [(f"{where}.print_scale", f"{entry.get('print_scale')!r}, expected {scale}")]
    matrix = entry.get("matrix")
    rows = 1 if joint else sessions
    shape = f"{rows} x {sessions}" + (" (joint)" if joint else "")
    if not isinstance(matrix, list) or len(matrix) != rows or any(
            not isinstance(row, list) or len(row) != sessions for row in matrix):
        return [(f"{where}.matrix", f"expected {shape}")]
    values = _array(matrix)
    filled = np.ones((1, sessions), bool) if joint else np.tri(sessions, dtype=bool)
    if values is None or np.isnan(values[filled]).any() or not np.isnan(values[~filled]).all():
        return _entry_problems(where, matrix, filled)
    expected = summaries(values, direction)
    found = []
    for summary, right in expected.items():
        mine = entry.get(summary, _MISSING)
        if mine is _MISSING:
            found.append((f"{where}.{summary}", "missing"))
        elif mine is not None and not _is_number(mine):
            found.append((f"{where}.{summary}", f"expected a number, got {mine!r}"))
        elif (mine is None) != (right is None) or (right is not None and not math.isclose(
                mine, right, rel_tol=1e-6, abs_tol=1e-9)):
            found.append((f"{where}.{summary}", f"{mine!r}, but the matrix gives {right!r}"))
    return found


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _array(matrix: list) -> np.ndarray | None:
    """The matrix with null as NaN; None if an entry is not a number or null."""
    try:
        return np.array(matrix, dtype=float)
    except (TypeError, ValueError):
        return None


def _entry_problems(where: str, matrix: list, filled: np.ndarray) -> list[tuple[str, str]]:
    """One problem per wrong entry: a missing (null) or non-number a[t][k] where the matrix must
    be filled, a value where it must be null."""
    found = []
    for t, row in enumerate(matrix):
        for k, value in enumerate(row):
            field = f"{where}.matrix[{t}][{k}]"
            if filled[t, k] and value is None:
                found.append((field, "missing"))
            elif filled[t, k] and not _is_number(value):
                found.append((field, f"expected a number, got {value!r}"))
            elif not filled[t, k] and value is not None:
                found.append((field, f"expected null above the diagonal, got {value!r}"))
    return found


def _run_key(data: dict) -> tuple:
    params = json.dumps(data["strategy"]["params"], sort_keys=True)
    return data["strategy"]["name"], params, data["person"], data["seed"]


def _cross_file_problems(documents: dict[Path, dict]):
    """(path, line) for files of another scenario than the most common one, and duplicates."""
    if not documents:
        return
    scenario = lambda d: (d["scenario"]["name"], d["scenario"]["card_sha256"])  # noqa: E731
    counts = Counter(scenario(d) for d in documents.values())
    board = min(counts, key=lambda s: (-counts[s], s))
    seen: dict[tuple, Path] = {}
    for path, data in documents.items():
        name, sha = scenario(data)
        if (name, sha) != board:
            problem = (f"scenario.name: '{name}' mixed into a board of '{board[0]}'" if name != board[0] else
                       f"scenario.card_sha256: card {sha[:12]} mixed into a board of card {board[1][:12]}")
            yield path, f"{path}: {problem}"
            continue
        key = _run_key(data)
        if key in seen:
            params = "".join(f" {k}={v}" for k, v in sorted(data["strategy"]["params"].items()))
            yield path, (f"{path}: strategy: the same run ({key[0]}{params}, person {key[2]}, seed {key[3]}) "
                         f"as {seen[key]}")
        else:
            seen[key] = path


def _run_row(path: Path, data: dict) -> dict:
    strategy = data["strategy"]
    params = {k: v for k, v in strategy["params"].items() if k != "buffer_size"}
    row = {
        "path": str(path),
        "strategy": strategy["name"],
        "method": strategy["name"] + "".join(f" {k}={v}" for k, v in sorted(params.items())),
        "K": strategy["params"].get("buffer_size"),
        "person": data["person"],
        "seed": data["seed"],
        "matrices": {name: _array(data["scores"][name]["matrix"]) for name in SCORES},
    }
    for name in SCORES:
        for summary in ("aip", "forgetting"):
            value = data["scores"][name][summary]
            row[f"{name}.{summary}"] = np.nan if value is None else value
    memory = data.get("memory") or {}  # absent in files written before memory was recorded
    row["memory.items"] = np.nan if memory.get("items") is None else memory["items"]
    row["memory.bytes"] = memory.get("bytes", np.nan)
    return row


def scaled(runs: pd.DataFrame, score: str, summary: str) -> pd.Series:
    """A summary of every run, times the score's print scale."""
    return runs[f"{score}.{summary}"] * SCORES[score][1]


def mean_interval(values: pd.Series | np.ndarray) -> tuple[float, float]:
    """Mean and 95% CI half-width, ``t(0.975, n - 1) * s / sqrt(n)``; NaN half-width for n < 2."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    if n == 1:
        return float(values[0]), math.nan
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return float(values.mean()), float(half)


def aggregate(board: Board) -> pd.DataFrame:
    """The board's table: one row per (method, K) with K, method, strategy, n (runs), rank,
    ``memory_items`` and ``memory_bytes`` (means over runs of what the strategy kept besides the
    model, ``facebench.run.memory``; NaN items: it keeps no items, NaN bytes: not recorded),
    and for every column of :data:`COLUMNS` its mean and ``<column>_ci95`` (half-width),
    ranked within each K (see the module's docstring), bufferless rows first, then K ascending."""
    rows = []
    for (k, method), runs in board.runs.groupby(["K", "method"], dropna=False, sort=False):
        row = {"K": k, "method": method, "strategy": runs["strategy"].iloc[0], "n": len(runs),
               "memory_items": runs["memory.items"].mean(), "memory_bytes": runs["memory.bytes"].mean()}
        for score, summary in COLUMNS:
            row[column(score, summary)], row[column(score, summary) + "_ci95"] = mean_interval(
                scaled(runs, score, summary))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["K"] = table["K"].astype("Int64")
    return rank(table)


def rank(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` sorted by K (none first) and, within each K, best first by :data:`PRIMARY`, then
    :data:`TIEBREAK`, then method; with ``rank`` = 1, 2, ... within each K."""
    keys = []
    for score, summary in (PRIMARY, TIEBREAK):
        name = column(score, summary)
        keys.append(name if better_is_lower(score, summary) else "_neg_" + name)
        table = table.assign(**{"_neg_" + name: -table[name]})
    table = table.sort_values(["K", *keys, "method"], na_position="first", kind="stable")
    table = table.drop(columns=[c for c in table.columns if c.startswith("_neg_")])
    table["rank"] = table.groupby("K", dropna=False).cumcount() + 1
    first = ["K", "rank", "method", "strategy", "n"]
    return table[first + [c for c in table.columns if c not in first]].reset_index(drop=True)
