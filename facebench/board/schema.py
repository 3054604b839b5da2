"""The standard result file, schema ``facebench.result/4``: writing it and validating it.

One JSON file per (scenario, strategy and its parameters, person, seed). For every score
(``facebench.protocol.SCORES``) it holds the direction, the factor the paper prints it with,
the full matrix a[t][k] (T x T, null where k > t; 1 x T for a joint strategy, whose one model
is scored on every session), and AIP, forgetting, final average and BWT. Beside them: the
card and its hash, the strategy (name, kind: "sequential", "cumulative", "joint" or
"joint-so-far", all its parameters, and ``defaults``: those parameters' defaults when it ran, or
for a file written without them, when ``--migrate`` recorded them; a board names the run by the
parameters that differ from them, from the file alone: ``facebench.registry.named_params``),
person, seed and what the seed varies, the protocol (version, hash, settings), seconds spent,
what the strategy kept besides the model (``memory``), the hash of its buffer's history, the
replay buffers' record (``replay_buffer``) and provenance (versions, git commit, device, threads, CPU; the generic models' sha256s by role,
``models``, and their backend names, ``backends``: ``faceworld`` for the shipped zoo's, a user's
model's otherwise, e.g. ``lpips-alex``; a file without ``backends``, such as one written before
they were recorded, was scored by FaceWorld's models in every role).

Changes from ``facebench.result/3``: ``replay_buffer``, the record the per-session diagnosis
reads (``facebench.run.history.BufferHistory.record``, ``facebench.board.diagnosis``): after
each experience t, the session of every item of the replay buffers (``sessions[t]``) and its
index among its session's training anchors (``items[t]``, null where no anchor equals it; an
entry of either is null for an experience a resumed run did not record), and for each session
k, ``hull_distance[k]``, the mean over session k's training anchors of their Euclidean distance
in latent space (latent units) to the convex hull of the final buffer's latents (null: the final
buffer is empty); null for a run without a replay buffer (``buffer_history_sha256`` null), and in
a file migrated from an earlier schema (not recorded: only a rerun can say).

Changes from ``facebench.result/2`` to ``/3``: ``protocol`` is ``{"version", "sha256", "settings"}``
(``/2`` held the settings alone, all of protocol version 1); ``scores`` holds the scores of the
file's protocol version (``facebench.protocol.SCORES_OF_VERSION``); ``seed_varies`` lists what
the run's seed changed (:data:`SEEDED`) and ``buffer_history_sha256`` identifies the sequence of
buffers a replay run trained with (null without a buffer), so that a board counts distinct
buffer histories rather than seeds. From ``/1``: ``memory`` is required and ``strategy.kind`` may
be "cumulative". ``facebench leaderboard DIR --migrate`` rewrites ``/1``, ``/2`` and ``/3`` files
(:mod:`facebench.board.migrate`); a file migrated from ``/1`` or ``/2`` cannot say what its seed
varied (null), nor one migrated from any of them its replay buffers' record (null).

A document is valid when :func:`validate` finds no problem:

- structure (the pydantic models below): every key present with a value of exactly its type
  (strict: no "3" or 3.0 or true for 3, no "0.5" or true for 0.5), strings not empty and text
  (no lone surrogate), no key the schema does not name, except inside ``provenance`` (a record
  of where the result was made, which may say more), ``strategy.params``, ``protocol`` and
  ``timing``; only finite numbers anywhere. ``protocol.version`` is one of
  ``facebench.protocol.VERSIONS`` and ``protocol.sha256`` the hash of version and settings; ``scenario.card`` is a card as
  :class:`facebench.data.cards.CardSchema` validates it, ``scenario.card_sha256`` a sha256 in
  hex; ``strategy.name`` is a registry name; ``strategy.params`` holds JSON scalars (string,
  number, boolean, null; an integer within int64), ``buffer_size``, where present, a positive
  integer within int64; ``strategy.defaults``, where present, JSON scalars too (absent in a file
  written before facebench recorded them, which the current schema still reads: its every
  parameter names its run until ``facebench leaderboard DIR --migrate`` records them); ``seed`` is a run seed, 0 to
  2**32 - 1; ``memory.items`` and ``memory.bytes`` are integers, ``memory.bytes_per_item`` a
  number, none negative, none over int64;
- meaning (explicit checks): the card hash ``scenario.card_sha256`` is the sha256 of the card
  content the file holds and, for a stock card name, the hash of that stock card; for a
  FaceWorld card (``source.kind`` "faceworld"), ``sessions`` is the card's ``source.sessions``
  and ``person`` one of its persons, "0" .. "persons-1" (a folder card names neither: the board
  checks that its files agree on ``sessions``, :mod:`facebench.board.load`); every score's
  direction and print scale are those of ``SCORES``; its matrix is T x T (T = ``sessions``)
  with every a[t][k], k <= t, a number and null above the diagonal, or 1 x T, every entry a
  number, for kind "joint"; its summaries equal those :func:`summaries` computes from it;
  ``scores`` holds exactly the scores of its protocol version; every key of ``strategy.defaults``
  is a key of ``strategy.params`` (a run's parameters are complete); ``replay_buffer`` is recorded
  exactly when ``buffer_history_sha256`` is (a migrated file may lack it), with one entry of
  ``sessions`` and of ``items`` per experience (T, or 1 for kind "joint"), ``items[t]`` as long as
  ``sessions[t]``, every session a session of the run (and, for a kind other than "joint", at
  most t after experience t) and ``hull_distance`` one number per session (checked once the
  run's sessions are the card's).

A problem is (field, problem): the dotted path of the key (``scores.recon_psnr.matrix[1][0]``;
"" for the whole document) and what is wrong with it.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import reprlib
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, create_model, model_validator
from pydantic_core import PydanticCustomError

from facebench import metrics
from facebench.atomic import write_json
from facebench.data import cards
from facebench.errors import FacebenchError
from facebench.protocol import SCORES, SCORES_OF_VERSION, VERSIONS, protocol_sha256

SCHEMA = "facebench.result/4"
PREVIOUS = ("facebench.result/1", "facebench.result/2", "facebench.result/3")
"""The schemas :mod:`facebench.board.migrate` rewrites as :data:`SCHEMA`."""
SEEDED = ("batch_order", "p0_samples", "buffer")
"""What a run's seed may vary (``seed_varies``): the order of the mini-batches, the P0 samples
of the synthesis scores, the replay buffer's random choices (only where the strategy drew from
the generator the seed gave it: ER-Hull's enumerated optimum draws nothing)."""
KINDS = ("sequential", "cumulative", "joint", "joint-so-far")
"""The values of ``strategy.kind`` (``facebench.run.kinds``)."""


class ResultError(FacebenchError):
    """A result document that :func:`write_result` refuses: it names the file and every problem."""


# Structure. -----------------------------------------------------------------------------------

_INT64 = 2**63 - 1
"""The largest integer a result holds: the board keeps integers as int64."""
_Text = Annotated[str, Field(min_length=1)]  # "" is not recorded
_Count = Annotated[int, Field(ge=0, le=_INT64)]
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
"""A strategy's name, as the registry accepts it (``facebench.registry.register_strategy``)."""


def _scalar(value):
    """``value`` if it is a JSON scalar: a string, a finite number, an integer within int64, a
    boolean or null."""
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite_number", "not a finite number")
    if isinstance(value, int) and not -_INT64 - 1 <= value <= _INT64:
        raise PydanticCustomError("int64", "must be an integer within int64")
    if value is None or isinstance(value, (str, int, float)):  # bool is an int
        return value
    raise PydanticCustomError("scalar_type", "expected a string, a number, true, false or null")


class _Closed(BaseModel):
    """An object with exactly the keys its model names, each of exactly its type (strict: no
    "0" for 0), numbers finite."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class _Scenario(_Closed):
    name: _Text
    card: cards.CardSchema
    card_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]  # a sha256, in hex


class _Params(BaseModel):
    """A strategy's parameters: ``buffer_size`` (K), present where the strategy has a buffer, a
    positive integer; any other parameter a JSON scalar."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)
    __pydantic_extra__: dict[str, Annotated[Any, PlainValidator(_scalar)]]

    buffer_size: Annotated[int, Field(ge=1, le=_INT64)] = None  # absent: no buffer (null is refused)


class _Strategy(_Closed):
    """The strategy: its name, kind and parameters, and the defaults of those that had one when
    it ran (absent in a file written before facebench recorded them, until ``--migrate`` records
    the registry's; null is refused)."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    kind: Literal[KINDS]
    params: _Params
    defaults: dict[str, Annotated[Any, PlainValidator(_scalar)]] = None


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


_Scores = create_model("_Scores", __base__=_Closed, **{name: (_Score | None, None) for name in SCORES})
"""Every score, each optional: which are required depends on the protocol version (:func:`validate`)."""


class _Protocol(_Closed):
    """The protocol of the run: its version, its hash, its settings."""

    version: Literal[tuple(VERSIONS)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    settings: dict[str, Any]


class _Memory(_Closed):
    """What the strategy kept besides the model after the last session: items (null: it keeps
    no items), bytes in all, bytes per item (null without items)."""

    items: _Count | None
    bytes: _Count
    bytes_per_item: Annotated[float, Field(ge=0)] | None


_Backends = create_model("_Backends", __base__=_Closed, **{role: (_Text, ...) for role in cards.ROLES})
"""The backend name of each generic model role (``facebench.models.generic``): ``faceworld`` for
the shipped zoo's, else the user's model's (``lpips-alex``, ``dlib-resnet-v1``, ...)."""
BACKENDS_DEFAULT = dict.fromkeys(cards.ROLES, cards.FACEWORLD)
"""The backends of a file that records none (written before they were recorded, or by a run of
the zoo's models only): FaceWorld's, every role."""


def backends_of(provenance: dict) -> dict[str, str]:
    """The backend of each role that scored a result, from its ``provenance`` (:data:`BACKENDS_DEFAULT`
    where it records none)."""
    return provenance.get("backends") or dict(BACKENDS_DEFAULT)


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
    backends: _Backends | None = None  # absent: every role FaceWorld's (BACKENDS_DEFAULT)
    images_sha256: _Text | None = None
    migrated_from: Literal[PREVIOUS] | None = None

    @model_validator(mode="after")
    def _inputs_recorded(self):
        """A file written as /2 or later names its inputs: the generic models' sha256s by role and
        the hash of the person's images; a file migrated from /1 cannot (they were not recorded)."""
        if self.migrated_from != PREVIOUS[0] and (self.models is None or self.images_sha256 is None):
            raise ValueError("models and images_sha256 must be recorded")
        return self


class _ReplayBuffer(_Closed):
    """The replay buffers' record (``facebench.run.history.BufferHistory.record``): per experience,
    the sessions of the buffers' items and their indices among their session's anchors (null: not
    recorded; an index null: no anchor equals the item); per session, the mean distance of its
    anchors to the final buffer's hull (null: an empty final buffer)."""

    sessions: list[list[_Count] | None]
    items: list[list[_Count | None] | None]
    hull_distance: list[Annotated[float, Field(ge=0)]] | None


class _Result(_Closed):
    """A result document."""

    schema_: _Text = Field(alias="schema")
    scenario: _Scenario
    strategy: _Strategy
    person: _Text
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)]  # facebench.run.runner.check_seed
    seed_varies: list[Literal[SEEDED]] | None  # null: not recorded (a migrated file)
    sessions: Annotated[int, Field(ge=1, le=_INT64)]
    scores: _Scores
    timing: dict[str, float]
    memory: _Memory
    buffer_history_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None
    replay_buffer: _ReplayBuffer | None  # null: no replay buffer, or not recorded (a migrated file)
    protocol: _Protocol
    provenance: _Provenance

    @model_validator(mode="after")
    def _seeding_recorded(self):
        """A run of this schema says what its seed varied."""
        if self.seed_varies is None and self.provenance.migrated_from is None:
            raise ValueError("seed_varies must be recorded")
        return self


# Writing. -------------------------------------------------------------------------------------

def make_result(*, spec, kind: str, scenario, protocol, matrices: dict[str, np.ndarray], timing: dict,
                memory: dict, device: str, models: dict[str, str], images_sha256: str,
                seed_varies: list[str], buffer_history_sha256: str | None, strategy_source: dict,
                replay_buffer: dict | None = None, backends: dict[str, str] | None = None) -> dict:
    """The result document of a finished run. ``spec``: the run (``.strategy``, ``.params``,
    ``.person``, ``.seed``, ``.defaults``: recorded as ``strategy.defaults`` unless None); ``kind``: the strategy's kind (:data:`KINDS`); ``scenario``: its
    ``.name`` and ``.card`` (``.data``, ``.sha256``); ``protocol``: the run's ``Protocol``;
    ``matrices``: score -> a[t][k]; ``timing``: seconds by stage; ``memory``: what the strategy
    kept besides the model (``facebench.run.memory.kept_memory``); ``device``: the torch device;
    ``models``: the generic models' sha256s by role; ``images_sha256``: the hash of the person's
    images (``Scenario.images_sha256``); ``seed_varies``: what the seed changed (:data:`SEEDED`);
    ``buffer_history_sha256``: the buffer history's hash (None: no buffer); ``replay_buffer``: the
    replay buffers' record (``facebench.run.history.BufferHistory.record``; None: no buffer);
    ``strategy_source``:
    which code the strategy is (``facebench.registry.StrategyEntry.source``), recorded as
    ``provenance.strategy``; ``backends``: the generic models' backend names by role
    (``facebench.models.generic.GenericModels.backends``; None: not recorded, FaceWorld's)."""
    return {
        "schema": SCHEMA,
        "scenario": {"name": scenario.name, "card": scenario.card.data, "card_sha256": scenario.card.sha256},
        "strategy": {"name": spec.strategy, "kind": kind, "params": dict(spec.params),
                     **({} if spec.defaults is None else {"defaults": dict(spec.defaults)})},
        "person": spec.person,
        "seed": spec.seed,
        "seed_varies": list(seed_varies),
        "sessions": int(next(iter(matrices.values())).shape[1]),
        "scores": {name: score_entry(matrices[name], *SCORES[name]) for name in SCORES},
        "timing": {k: round(float(v), 3) for k, v in timing.items()},
        "memory": memory,
        "buffer_history_sha256": buffer_history_sha256,
        "replay_buffer": replay_buffer,
        "protocol": protocol.record(),
        "provenance": {**provenance(device), "models": dict(models), "images_sha256": images_sha256,
                       "strategy": dict(strategy_source), **({} if backends is None else {"backends": dict(backends)})},
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


CODE_PATHS = ("facebench", "strategies", "scenarios", "pyproject.toml", "constraints.txt")
"""The checkout's paths whose changes make a run's code differ from its commit."""


def git_commit() -> str | None:
    """HEAD of the checkout facebench runs from, with "-dirty" when :data:`CODE_PATHS` hold a
    change, a new file included (an untracked strategies/herding.py is code the commit lacks);
    else $FACEBENCH_GIT_COMMIT (set it where a copy without .git runs, e.g. a remote machine)."""
    if os.environ.get("FACEBENCH_GIT_COMMIT"):
        return os.environ["FACEBENCH_GIT_COMMIT"]
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", *CODE_PATHS],
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
    if version in PREVIOUS:
        return [("schema", f"{version!r}, a previous schema: rewrite it as {SCHEMA!r} with "
                           "`facebench leaderboard <its folder> --migrate`")]
    if version != SCHEMA:
        return [("schema", f"{version!r}, expected {SCHEMA!r}")]
    found = _structure_problems(document) or _value_problems(document)
    if found:
        return found
    found = (_protocol_problems(document["protocol"]) or _card_problems(document["scenario"], document["protocol"])
             or _card_run_problems(document) or _replay_problems(document)) + _defaults_problems(document["strategy"])
    joint = document["strategy"]["kind"] == "joint"
    expected = SCORES_OF_VERSION[document["protocol"]["version"]]
    for name in SCORES:
        entry = document["scores"].get(name)
        if entry is None and name in expected:
            found.append((f"scores.{name}", "missing"))
        elif entry is not None and name not in expected:
            found.append((f"scores.{name}", f"not a score of protocol version {document['protocol']['version']}"))
        elif entry is not None:
            found += _score_problems(name, entry, document["sessions"], joint)
    return found


def _protocol_problems(protocol: dict) -> list[tuple[str, str]]:
    """A hash that is not that of the protocol's version and settings."""
    right = protocol_sha256(protocol["version"], protocol["settings"])
    if protocol["sha256"] != right:
        return [("protocol.sha256", f"{protocol['sha256'][:12]} is not the hash of the protocol in the file "
                                    f"({right[:12]})")]
    return []


_EXPECTED = {"string_type": "a string", "int_type": "an integer", "float_type": "a number",
             "dict_type": "an object", "model_type": "an object", "list_type": "a list"}
_reprs = reprlib.Repr()
_reprs.maxstring = _reprs.maxother = 60
_show = _reprs.repr  # a value as a problem quotes it: long ones shortened with "..."


def _structure_problems(document: dict) -> list[tuple[str, str]]:
    """The problems pydantic finds with the models above, in this module's words, one per field
    (the last pydantic names: a card's number, int | float, is "a number")."""
    try:
        _Result.model_validate(document)
    except ValidationError as error:
        return list({_dotted(e["loc"]): _problem(e) for e in error.errors(include_url=False)}.items())
    return []


_SOURCE, _PROTOCOL = ("scenario", "card", "source"), ("scenario", "card", "protocol")


def _dotted(loc: tuple) -> str:
    """A pydantic location as a field: ``scores.recon_psnr.matrix[1][0]``. Left out, being no
    key of the file: the card source's kind, which pydantic puts after ``scenario.card.source``
    to say which model it tried, and the type, int or float, it puts after a card's protocol
    setting to say which it tried."""
    if loc[:3] == _SOURCE and len(loc) > 3 and loc[3] in cards.SOURCES:
        loc = loc[:3] + loc[4:]
    if loc[:3] == _PROTOCOL and len(loc) == 5:
        loc = loc[:4]
    out = ""
    for key in loc:
        out = _field(out, key)
    return out


def _field(where: str, key: str | int) -> str:
    """The field of ``key`` inside the field ``where``: ``where.key``, ``where[3]`` for an index,
    ``where['a b']`` for a key that is not printable or holds a dot, a bracket or a space."""
    if isinstance(key, int) or not key or not key.isprintable() or any(c in key for c in ".[] "):
        return f"{where}[{key!r}]"
    return f"{where}.{key}" if where else key


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
    if kind == "less_than_equal":
        return f"must be at most {error['ctx']['le']}, got {_show(value)}"
    if kind == "string_pattern_mismatch":
        return f"must match {error['ctx']['pattern']}, got {_show(value)}"
    if kind == "string_unicode":
        return f"not text (a lone surrogate): {_show(value)}"
    if kind == "union_tag_not_found":  # the card's source without a kind
        return f"kind missing (one of: {', '.join(cards.SOURCES)})"
    if kind == "union_tag_invalid":
        return f"kind must be one of {error['ctx']['expected_tags']}, got {_show(error['ctx']['tag'])}"
    if kind == "value_error":  # a model's own check
        return str(error["ctx"]["error"])
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {_show(value)}"


def _value_problems(document: dict) -> list[tuple[str, str]]:
    """A problem for every NaN or infinite number and for every string or key that is not text
    (one holding a lone surrogate, which JSON can write, ``"\\ud800"``, but no UTF-8 file or
    terminal can show) outside ``scores``. The models refuse a non-finite number where they type
    a number, but not in the objects they leave free; they refuse a lone surrogate in some
    strings only. In ``scores``, the models type every value and :func:`_score_problems` compares
    the strings with :data:`SCORES`."""
    return [problem for key, section in document.items() if key != "scores" for problem in _bad_values(section, key)]


def _bad_values(value, where: str):
    """(field, problem) of every non-finite number and every string or key that is not text
    inside ``value``."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where, f"not a finite number: {value!r}"
    elif isinstance(value, str) and not _is_text(value):
        yield where, f"not text (a lone surrogate): {_show(value)}"
    elif isinstance(value, dict):
        for key, item in value.items():
            if _is_text(key):
                yield from _bad_values(item, _field(where, key))
            else:
                yield where, f"a key that is not text (a lone surrogate): {_show(key)}"
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_values(item, _field(where, index))


def _is_text(value: str) -> bool:
    """Whether ``value`` is Unicode text, without a lone surrogate."""
    return value.isascii() or not any("\ud800" <= c <= "\udfff" for c in value)


@lru_cache(maxsize=None)
def _stock_hash(name: str) -> str | None:
    return cards.load_card(name).sha256 if name in cards.stock_cards() else None


def _card_problems(scenario: dict, protocol: dict) -> list[tuple[str, str]]:
    """A card hash that is not the hash of the card in the file, or, for a stock card's name, not
    the stock card's hash under the file's protocol version (:data:`cards.RETIRED_STOCK_HASHES`
    for an earlier one)."""
    content = cards.Card(Path(scenario["name"]), scenario["card"]).sha256
    stock = _stock_hash(scenario["name"])
    recorded = scenario["card_sha256"]
    if content != recorded:
        return [("scenario.card_sha256", f"{recorded[:12]} is not the hash of the card in the file ({content[:12]})")]
    retired = cards.RETIRED_STOCK_HASHES.get(scenario["name"], {})
    if stock is not None and stock != recorded and retired.get(recorded) != protocol["version"]:
        return [("scenario.card_sha256",
                 f"{recorded[:12]} differs from stock card '{scenario['name']}' ({stock[:12]})")]
    return []


def _card_run_problems(document: dict) -> list[tuple[str, str]]:
    """For a FaceWorld card: ``sessions`` that are not the card's, a person that is not one of its."""
    source = document["scenario"]["card"]["source"]
    if source["kind"] != "faceworld":
        return []
    found = []
    if document["sessions"] != source["sessions"]:
        found.append(("sessions", f"{document['sessions']}, but the card has {source['sessions']} sessions"))
    if not _is_person(document["person"], source["persons"]):
        found.append(("person", f"{_show(document['person'])} is not a person of the card "
                                f"('0' .. '{source['persons'] - 1}')"))
    return found


def _defaults_problems(strategy: dict) -> list[tuple[str, str]]:
    """A recorded default of a parameter that the run's parameters lack."""
    return [(_field("strategy.defaults", name), "not a parameter of the run (strategy.params)")
            for name in strategy.get("defaults", {}) if name not in strategy["params"]]


def _replay_problems(document: dict) -> list[tuple[str, str]]:
    """A replay buffers' record that does not agree with the run: recorded without a buffer
    history, missing beside one (unless migrated), of another number of experiences or sessions,
    an item list not as long as its session list, a session that is not one of the run's or, for
    a kind other than "joint", later than the experience after which it was in the buffer."""
    record, history = document["replay_buffer"], document["buffer_history_sha256"]
    if record is None:
        if history is not None and document["provenance"].get("migrated_from") is None:
            return [("replay_buffer", "not recorded, but the run had a replay buffer (buffer_history_sha256): a run "
                                      "of this schema records it")]
        return []
    if history is None:
        return [("replay_buffer", "recorded, but the run had no replay buffer (buffer_history_sha256 is null)")]
    sessions = document["sessions"]
    joint = document["strategy"]["kind"] == "joint"
    experiences = 1 if joint else sessions
    found = []
    for key in ("sessions", "items"):
        if len(record[key]) != experiences:
            found.append((f"replay_buffer.{key}", f"{len(record[key])} entries, expected one per experience "
                                                  f"({experiences})"))
    distances = record["hull_distance"]
    if distances is not None and len(distances) != sessions:
        found.append(("replay_buffer.hull_distance", f"{len(distances)} entries, expected one per session ({sessions})"))
    for t, (held, items) in enumerate(zip(record["sessions"], record["items"])):
        if (held is None) != (items is None) or (held is not None and len(held) != len(items)):
            found.append((f"replay_buffer.items[{t}]", "not one entry per item of replay_buffer.sessions"
                                                       f"[{t}]"))
        last = sessions - 1 if joint else min(t, sessions - 1)
        for i, session in enumerate(held or []):
            if session > last:
                found.append((f"replay_buffer.sessions[{t}][{i}]", f"session {session} in the buffer after "
                                                                   f"experience {t} (sessions 0 .. {last})"))
    return found


def _is_person(person: str, persons: int) -> bool:
    """Whether ``person`` is one of a FaceWorld card's persons, "0" .. "persons-1"."""
    return (re.fullmatch(r"0|[1-9][0-9]*", person) is not None and len(person) <= len(str(persons))
            and int(person) < persons)


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
