"""The standard result file, schema ``facebench.result/2``: writing it and validating it.

One JSON file per (scenario, strategy and its parameters, person, seed). For every score
(``facebench.protocol.SCORES``) it holds the direction, the factor the paper prints it with,
the full matrix a[t][k] (T x T, null where k > t; 1 x T for a joint strategy, whose one model
is scored on every session), and AIP, forgetting, final average and BWT. Beside them: the
card and its hash, the strategy (name, kind: "sequential", "cumulative" or "joint", and
parameters), person, seed, the protocol settings, seconds spent, what the strategy kept
besides the model (``memory``) and provenance (versions, git commit, device, threads).

Changes from ``facebench.result/1``: ``memory`` is required (``/1`` files written before it was
recorded lack it) and ``strategy.kind`` may be "cumulative" (``/1`` wrote a cumulative strategy
as "sequential"). ``facebench leaderboard DIR --migrate`` rewrites ``/1`` files
(:mod:`facebench.board.migrate`).

A document is valid when :func:`validate` finds no problem:

- structure (the pydantic models below): every key present with a value of its type, strings
  not empty, no key the schema does not name, except inside ``provenance`` (a record of where
  the result was made, which may say more) and inside the free-form objects ``scenario.card``,
  ``strategy.params``, ``protocol`` and ``timing``; only finite numbers anywhere;
- meaning (explicit checks): the card hash ``scenario.card_sha256`` is the sha256 of the card
  content the file holds and, for a stock card name, the hash of that stock card; every score's
  direction and print scale are those of ``SCORES``; its matrix is T x T (T = ``sessions``)
  with every a[t][k], k <= t, a number and null above the diagonal, or 1 x T, every entry a
  number, for kind "joint"; its summaries equal those :func:`summaries` computes from it.

A problem is (field, problem): the dotted path of the key (``scores.recon_psnr.matrix[1][0]``;
"" for the whole document) and what is wrong with it.
"""

from __future__ import annotations

import json
import math
import os
import platform
import reprlib
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from facebench import metrics
from facebench.atomic import write_json
from facebench.data import cards
from facebench.errors import FacebenchError
from facebench.protocol import SCORES

SCHEMA = "facebench.result/2"
PREVIOUS = "facebench.result/1"
"""The schema :mod:`facebench.board.migrate` rewrites as :data:`SCHEMA`."""
KINDS = ("sequential", "cumulative", "joint")
"""The values of ``strategy.kind`` (``facebench.run.kinds``)."""


class ResultError(FacebenchError):
    """A result document that :func:`write_result` refuses: it names the file and every problem."""


# Structure. -----------------------------------------------------------------------------------

_Text = Annotated[str, Field(min_length=1)]  # "" is not recorded
_Count = Annotated[int, Field(ge=0)]


class _Closed(BaseModel):
    """An object with exactly the keys its model names, each of exactly its type (strict: no
    "0" for 0), numbers finite."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class _Scenario(_Closed):
    name: _Text
    card: dict[str, Any]
    card_sha256: _Text


class _Strategy(_Closed):
    name: _Text
    kind: Literal[KINDS]
    params: dict[str, Any]


class _Score(_Closed):
    """One score: which way is better ("lower" or "higher"), the factor it is printed times, the
    matrix a[t][k] (null: not scored) and its summaries (null: not defined)."""

    direction: _Text
    print_scale: int
    matrix: list[list[float | None]]
    aip: float | None
    forgetting: float | None
    final_average: float | None
    bwt: float | None


_Scores = create_model("_Scores", __base__=_Closed, **{name: (_Score, ...) for name in SCORES})


class _Memory(_Closed):
    """What the strategy kept besides the model after the last session: items (null: it keeps
    no items), bytes in all, bytes per item (null without items)."""

    items: _Count | None
    bytes: _Count
    bytes_per_item: Annotated[float, Field(ge=0)] | None


class _Provenance(BaseModel):
    """Where and with what the result was made (:func:`provenance`; it may record more), and the
    schema a migrated file was written with."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)

    facebench: _Text
    git_commit: _Text
    torch: _Text
    avalanche: _Text
    python: _Text
    models: dict[str, _Text] | None = None
    images_sha256: _Text | None = None
    migrated_from: Literal[PREVIOUS] | None = None

    @model_validator(mode="after")
    def _inputs_recorded(self):
        """A file written as /2 names its inputs: the generic models' sha256s by role and the
        hash of the person's images; a file migrated from /1 cannot (they were not recorded)."""
        if self.migrated_from is None and (self.models is None or self.images_sha256 is None):
            raise ValueError("models and images_sha256 must be recorded")
        return self


class _Result(_Closed):
    """A result document."""

    schema_: _Text = Field(alias="schema")
    scenario: _Scenario
    strategy: _Strategy
    person: _Text
    seed: int
    sessions: Annotated[int, Field(ge=1)]
    scores: _Scores
    timing: dict[str, float]
    memory: _Memory
    protocol: dict[str, Any]
    provenance: _Provenance


# Writing. -------------------------------------------------------------------------------------

def make_result(*, spec, kind: str, scenario, protocol, matrices: dict[str, np.ndarray], timing: dict,
                memory: dict, device: str, models: dict[str, str], images_sha256: str) -> dict:
    """The result document of a finished run. ``spec``: the run (``.strategy``, ``.params``,
    ``.person``, ``.seed``); ``kind``: the strategy's kind (:data:`KINDS`); ``scenario``: its
    ``.name`` and ``.card`` (``.data``, ``.sha256``); ``protocol``: its ``.as_dict()``;
    ``matrices``: score -> a[t][k]; ``timing``: seconds by stage; ``memory``: what the strategy
    kept besides the model (``facebench.run.memory.kept_memory``); ``device``: the torch device;
    ``models``: the generic models' sha256s by role; ``images_sha256``: the hash of the person's
    images (``Scenario.images_sha256``)."""
    return {
        "schema": SCHEMA,
        "scenario": {"name": scenario.name, "card": scenario.card.data, "card_sha256": scenario.card.sha256},
        "strategy": {"name": spec.strategy, "kind": kind, "params": dict(spec.params)},
        "person": spec.person,
        "seed": spec.seed,
        "sessions": int(next(iter(matrices.values())).shape[1]),
        "scores": {name: score_entry(matrices[name], *SCORES[name]) for name in SCORES},
        "timing": {k: round(float(v), 3) for k, v in timing.items()},
        "memory": memory,
        "protocol": protocol.as_dict(),
        "provenance": {**provenance(device), "models": dict(models), "images_sha256": images_sha256},
    }


def write_result(path: str | Path, document: dict, overwrite: bool = True) -> Path:
    """Write ``document`` to ``path`` atomically if it is valid; :class:`ResultError` naming every
    problem (and nothing written) otherwise. ``overwrite=False``: ``FileExistsError`` if ``path``
    exists, even when another process creates it meanwhile."""
    problems = validate(document)
    if problems:
        raise ResultError(f"{path}: not written, the result is invalid: " + "; ".join(map(describe, problems)))
    return write_json(path, document, overwrite)


def score_entry(matrix: np.ndarray, direction: str, scale: int) -> dict:
    """One score of a result file: its matrix and the summaries computed from it."""
    return {
        "direction": direction,
        "print_scale": scale,
        "matrix": [[_num(v) for v in row] for row in matrix.tolist()],
        **summaries(matrix, direction),
    }


def summaries(matrix: np.ndarray, direction: str) -> dict:
    """The summaries of a score matrix as a result file holds them: aip, forgetting,
    final_average, bwt; forgetting and bwt are None for a joint (1 x T) matrix, and so is any
    value that is not finite. :func:`validate` checks a file's summaries against these."""
    higher = direction == "higher"
    joint = matrix.shape[0] == 1 and matrix.shape[1] > 1
    return {
        "aip": _num(metrics.aip(matrix, higher)),
        "forgetting": None if joint else _num(metrics.forgetting(matrix, higher)),
        "final_average": _num(metrics.final_average(matrix)),
        "bwt": None if joint else _num(metrics.bwt(matrix, higher)),
    }


def _num(x):
    return None if x is None or not math.isfinite(x) else float(x)


def provenance(device: str = "cpu") -> dict:
    """Where and with what a result was made (``device``: the torch device of the run)."""
    import avalanche

    import facebench

    return {
        "facebench": facebench.__version__,
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "avalanche": avalanche.__version__,
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def git_commit() -> str | None:
    """HEAD of the checkout facebench runs from (with "-dirty" for uncommitted changes), else
    $FACEBENCH_GIT_COMMIT (set it where a copy without .git runs, e.g. a remote machine)."""
    if os.environ.get("FACEBENCH_GIT_COMMIT"):
        return os.environ["FACEBENCH_GIT_COMMIT"]
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def summary_rows(path: Path) -> list[tuple[str, ...]]:
    """Rows (score, better, AIP, forgetting, final average, print scale) of a result file, each
    number multiplied by the score's print scale, for a terminal table."""
    scores = json.loads(Path(path).read_text())["scores"]

    def fmt(value, scale):
        return "-" if value is None else f"{value * scale:.3f}"

    return [(name, s["direction"], fmt(s["aip"], s["print_scale"]), fmt(s["forgetting"], s["print_scale"]),
             fmt(s["final_average"], s["print_scale"]), f"x{s['print_scale']}") for name, s in scores.items()]


# Validating. ----------------------------------------------------------------------------------

def describe(problem: tuple[str, str]) -> str:
    """A problem as text: ``field: problem``, or the problem alone where it is the document's."""
    field, what = problem
    return f"{field}: {what}" if field else what


def validate(document) -> list[tuple[str, str]]:
    """Every problem of one parsed result document as (field, problem); [] when it is valid
    (see the module's docstring). The meaning is checked once the structure is right."""
    if not isinstance(document, dict):
        return [("", "not a result file: expected a JSON object")]
    version = document.get("schema")
    if version == PREVIOUS:
        return [("schema", f"{version!r}, the previous schema: rewrite it as {SCHEMA!r} with "
                           "`facebench leaderboard <its folder> --migrate`")]
    if version != SCHEMA:
        return [("schema", f"{version!r}, expected {SCHEMA!r}")]
    found = _structure_problems(document) or _non_finite_problems(document)
    if found:
        return found
    found = _card_problems(document["scenario"])
    joint = document["strategy"]["kind"] == "joint"
    for name in SCORES:
        found += _score_problems(name, document["scores"][name], document["sessions"], joint)
    return found


_EXPECTED = {"string_type": "a string", "int_type": "an integer", "float_type": "a number",
             "dict_type": "an object", "model_type": "an object", "list_type": "a list"}
_reprs = reprlib.Repr()
_reprs.maxstring = _reprs.maxother = 60
_show = _reprs.repr  # a value as a problem quotes it: long ones shortened with "..."


def _structure_problems(document: dict) -> list[tuple[str, str]]:
    """The problems pydantic finds with the models above, in this module's words."""
    try:
        _Result.model_validate(document)
    except ValidationError as error:
        return [(_dotted(e["loc"]), _problem(e)) for e in error.errors(include_url=False)]
    return []


def _dotted(loc: tuple) -> str:
    """A pydantic location as a field: ``scores.recon_psnr.matrix[1][0]``."""
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _problem(error: dict) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        return f"unknown key (not in {SCHEMA})"
    if value is None or value == "":
        return "not recorded"
    if kind == "finite_number":
        return f"not a finite number: {value!r}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_show(value)}"
    if kind == "literal_error":
        return f"must be {error['ctx']['expected']}, got {_show(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {error['ctx']['ge']}, got {_show(value)}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {_show(value)}"


def _non_finite_problems(document: dict) -> list[tuple[str, str]]:
    """A problem for every NaN or infinite number inside the objects whose values the models
    leave free (they refuse a non-finite number where they type one)."""
    free = {"scenario.card": document["scenario"]["card"], "strategy.params": document["strategy"]["params"],
            "protocol": document["protocol"], "provenance": document["provenance"]}
    return [(field, f"not a finite number: {value!r}")
            for where, section in free.items() for field, value in _non_finite(section, where)]


def _non_finite(value, where: str):
    """(field, value) of every NaN or infinite number inside ``value``."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, f"{where}.{key}")
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
    if entry["direction"] != direction:
        return [(f"{where}.direction", f"{entry['direction']!r}, expected {direction!r}")]
    if entry["print_scale"] != scale:
        return [(f"{where}.print_scale", f"{entry['print_scale']!r}, expected {scale}")]
    matrix = entry["matrix"]
    rows = 1 if joint else sessions
    if len(matrix) != rows or any(len(row) != sessions for row in matrix):
        return [(f"{where}.matrix", f"expected {rows} x {sessions}" + (" (joint)" if joint else ""))]
    filled = np.ones((1, sessions), bool) if joint else np.tri(sessions, dtype=bool)
    values = np.array(matrix, dtype=float)  # null as NaN; the numbers are finite
    found = [(f"{where}.matrix[{t}][{k}]", "missing" if filled[t, k] else
              f"expected null above the diagonal, got {matrix[t][k]!r}")
             for t, k in np.argwhere(np.isnan(values) == filled)]
    if found:
        return found
    for summary, right in summaries(values, direction).items():
        mine = entry[summary]
        if (mine is None) != (right is None) or (right is not None and not math.isclose(
                mine, right, rel_tol=1e-6, abs_tol=1e-9)):
            found.append((f"{where}.{summary}", f"{mine!r}, but the matrix gives {right!r}"))
    return found
