"""Result files under a folder: which they are, their problems, and the valid runs among them.

Files. Every ``*.json`` under the folder, at any depth, is a result file, except the board's
own ``leaderboard.json``. :func:`check` lists every problem of every file, one line each,
``<file>: <field>: <problem>``; :func:`load` keeps the valid runs and counts the others as
skipped (never a silently wrong mean).

A file is valid when it is UTF-8 JSON of at most :data:`MAX_BYTES` bytes, nested at most
:data:`MAX_DEPTH` deep, that :func:`facebench.board.schema.validate` finds no problem with
(schema ``facebench.result/4``; a file of an earlier schema is a problem that says how to
migrate it), and across files: of the board's protocol (version and hash: the most common among
the files; a file of another protocol is "mixed in", with how to rerun it), of the board's scenario (name and card hash: the most common
among the files; the others are "mixed in"), of the board's number of sessions (the most
common among the files of its scenario: a folder card does not say it), of the board's generic
models' backends (``provenance.backends``, FaceWorld's in every role where a file records none:
the most common among the files of its scenario; a run scored by another backend in any role is
"mixed in"), not a second file of
the same (strategy, named parameters, person, seed), not a run of the name of another file's run
with another value of a parameter that names neither (the strategy's default changed between
them: one name for two configurations), and not a copy of another file's run: score
matrices equal to another file's, all of them (a run copied under another person, seed or
strategy). Of a second file, a second configuration of a name and a copy, the first in path
order is kept.

Names. A run is named by its strategy and the parameters that differ from the defaults its file
records (``facebench.registry.named_params``; every parameter where the file records none), from
the file alone: its strategy need not be installed, and a file that records a parameter at its
default is the same method, and the same run, as one that does not record it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from facebench import registry
from facebench.board.schema import backends_of, describe, validate
from facebench.errors import FacebenchError
from facebench.protocol import SCORES, VERSION, VERSIONS

#: What the leaderboard writes; ``leaderboard.json`` is never read as a result file.
MARKDOWN, CSV, JSON = "LEADERBOARD.md", "leaderboard.csv", "leaderboard.json"
MAX_BYTES = 4_000_000
"""The largest result file read, in bytes (a result of 10 sessions is about 20 kB)."""
MAX_DEPTH = 32
"""The deepest nesting of arrays and objects in a result file read (a result nests 5 deep)."""
_NOT_BRACKETS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[^\[\]{}"]+', re.DOTALL)
"""A JSON string (or the unterminated rest of one), or text without brackets or strings."""


class LeaderboardError(FacebenchError):
    """Result files that make no board: none at all, or none valid."""


@dataclass(frozen=True)
class Board:
    """The valid runs of one scenario, and the files left out: ``skipped`` has one line per
    problem, ``skipped_files`` counts the files, ``files`` all the files read.

    ``runs`` has one row per valid file: path, strategy, method (the strategy's name with the
    parameters that name the run but ``buffer_size``: ``facebench.registry.method_name``), K
    (its ``buffer_size``, nullable Int64: none for a strategy without a buffer), person, seed, a column ``<score>.<summary>`` per score and
    summary (aip, forgetting, final_average; raw, unscaled; NaN for null or for a score the
    file's protocol version lacks), ``protocol`` (its version), ``buffer_history`` (the buffer
    history's hash, None without one), ``replay_buffer`` (the replay buffers' record,
    ``facebench.run.history.BufferHistory.record``, as the file holds it: a dict of
    ``sessions``, ``items`` and ``hull_distance``; None without a replay buffer, or not recorded:
    a file migrated from an earlier schema), ``memory.items`` (NaN: it keeps no items),
    ``memory.bytes`` and ``matrices`` (score -> a[t][k] as an array, NaN for null).
    ``protocol_version``: the protocol every run of the board ran (a board holds one).
    """

    scenario: str
    card_sha256: str
    runs: pd.DataFrame
    skipped: tuple[str, ...]
    skipped_files: int
    files: int
    protocol_version: int = VERSION


def result_files(folder: str | Path) -> list[Path]:
    """Every result file under ``folder``, in path order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LeaderboardError(f"{folder}: no such folder")
    return sorted(path for path in folder.rglob("*.json") if path.name != JSON and path.is_file())


def check(folder: str | Path) -> list[str]:
    """Every problem of every result file under ``folder``, one line each; [] when all are valid."""
    return audit(folder).problems


@dataclass(frozen=True)
class Audit:
    """One reading of a folder's result files: every problem, one line each (as :func:`check`),
    the environment warnings of the valid files (:func:`_environment_warnings`), and the valid
    files' documents by path."""

    problems: list[str]
    warnings: list[str]
    valid: dict[Path, dict]


def audit(folder: str | Path) -> Audit:
    """The :class:`Audit` of the result files under ``folder``."""
    files = result_files(folder)
    if not files:
        return Audit([f"{folder}: no result files (*.json) under it"], [], {})
    documents, problems = _scan(files)
    valid = {path: data for path, data in documents.items() if path not in problems}
    return Audit([line for lines in problems.values() for line in lines],
                 _environment_warnings({path: data["provenance"] for path, data in valid.items()}), valid)


ENVIRONMENT = ("threads", "device", "cpu")
"""What a run's numbers depend on slightly besides its inputs (``provenance``): torch's CPU
threads, the device and the CPU (``facebench.protocol.TOLERANCES`` says how much)."""


def _environment_warnings(valid: dict[Path, dict]) -> list[str]:
    """One line per valid result file (path -> its provenance) whose threads, device or CPU differ
    from the most common among them: not a problem (its numbers stand), but its differences from
    the others hold the environment's share (``facebench verify`` measures it)."""
    if not valid:
        return []
    usual = {key: _most_common(str(p.get(key)) for p in valid.values()) for key in ENVIRONMENT}
    lines = []
    for path, provenance in valid.items():
        other = [f"{key} {provenance.get(key)} (the board's: {usual[key]})" for key in ENVIRONMENT
                 if str(provenance.get(key)) != usual[key]]
        if other:
            lines.append(f"{path}: ran elsewhere: {', '.join(other)}")
    return lines


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
    first = valid[0][1]
    rows = [_run_row(path, data) for path, data in valid]
    runs = pd.DataFrame(rows).assign(K=pd.array([row["K"] for row in rows], dtype="Int64"))  # not through float
    return Board(first["scenario"]["name"], first["scenario"]["card_sha256"], runs, skipped, len(problems), len(files),
                 first["protocol"]["version"])


def read(path: Path) -> tuple[object, str | None]:
    """A file's parsed JSON (NaN and Infinity read as floats, for the schema to name), or None
    and why it cannot be read: a file over :data:`MAX_BYTES` is not read, one nested deeper than
    :data:`MAX_DEPTH` not parsed."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, f"{size} bytes, over the {MAX_BYTES} a result file may have"
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, f"cannot read the file: {error}"
    if not text.strip():
        return None, "empty file"
    if depth(text) > MAX_DEPTH:
        return None, f"nested deeper than the {MAX_DEPTH} levels a result file may have"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        return None, f"not valid JSON (truncated or corrupt?): {error.msg} at line {error.lineno} column {error.colno}"
    except ValueError as error:  # a number Python refuses to read, like an integer of 5000 digits
        return None, f"not valid JSON: {error}"


def depth(text: str) -> int:
    """How deep the arrays and objects of JSON ``text`` nest: the most brackets open at once,
    counting those outside strings only (read without parsing: no recursion)."""
    deepest = level = 0
    for bracket in _NOT_BRACKETS.sub("", text):
        level += 1 if bracket in "[{" else -1
        deepest = max(deepest, level)
    return deepest


def _scan(files: list[Path]) -> tuple[dict[Path, dict], dict[Path, list[str]]]:
    """Parsed documents by path, and the problem lines of each file that has any."""
    documents, problems = {}, {}
    for path in files:
        data, unreadable = read(path)
        found = [("", unreadable)] if unreadable else validate(data)
        if isinstance(data, dict):
            documents[path] = data
        if found:
            problems[path] = [f"{path}: {describe(problem)}" for problem in found]
    for path, line in _cross_file_problems({p: d for p, d in documents.items() if p not in problems}):
        problems.setdefault(path, []).append(line)
    return documents, problems


def _named(data: dict) -> dict:
    """The parameters that name the file's run."""
    return registry.named_params(data["strategy"]["params"], data["strategy"].get("defaults"))


def _run_key(data: dict) -> tuple:
    return data["strategy"]["name"], json.dumps(_named(data), sort_keys=True), data["person"], data["seed"]


def _cross_file_problems(documents: dict[Path, dict]):
    """(path, line) for files of another scenario than the most common one, of another number
    of sessions than the most common one of that scenario, of other generic models than the
    most common ones, of other images of a person than that person's most common ones (a folder
    card's text says nothing of its photos), runs of another configuration than the first of
    their name, second files of a run, and copies of another file's run (see the module's
    docstring)."""
    if not documents:
        return
    scenario = lambda d: (d["scenario"]["name"], d["scenario"]["card_sha256"])  # noqa: E731
    protocol = lambda d: (d["protocol"]["version"], d["protocol"]["sha256"])  # noqa: E731
    ran = _most_common(protocol(d) for d in documents.values())
    for path in [path for path, data in documents.items() if protocol(data) != ran]:
        yield path, f"{path}: {_protocol_mixed(documents[path]['protocol'], ran)}"
    documents = {path: data for path, data in documents.items() if protocol(data) == ran}
    board = _most_common(scenario(d) for d in documents.values())
    sessions = _most_common(d["sessions"] for d in documents.values() if scenario(d) == board)
    scored = _most_common(json.dumps(backends_of(d["provenance"]), sort_keys=True) for d in documents.values()
                          if scenario(d) == board)
    recorded = [d for d in documents.values() if scenario(d) == board and d["provenance"].get("models")]
    models = _most_common(json.dumps(d["provenance"]["models"], sort_keys=True) for d in recorded) if recorded else None
    images = {person: _most_common(d["provenance"]["images_sha256"] for d in recorded if d["person"] == person)
              for person in {d["person"] for d in recorded}}
    runs: dict[tuple, Path] = {}
    names: dict[tuple, tuple[dict, Path]] = {}  # (strategy, named parameters) -> its first file's parameters, path
    matrices: dict[str, Path] = {}
    for path, data in documents.items():
        name, sha = scenario(data)
        if (name, sha) != board:
            problem = (f"scenario.name: '{name}' mixed into a board of '{board[0]}'" if name != board[0] else
                       f"scenario.card_sha256: card {sha[:12]} mixed into a board of card {board[1][:12]}")
            yield path, f"{path}: {problem}"
            continue
        if data["sessions"] != sessions:
            yield path, f"{path}: sessions: {data['sessions']} mixed into a board of {sessions} sessions"
            continue
        inputs = data["provenance"]
        mixed = _backends_mixed(backends_of(inputs), json.loads(scored))
        if mixed:
            yield path, f"{path}: {mixed}"
            continue
        if inputs.get("models") and json.dumps(inputs["models"], sort_keys=True) != models:
            yield path, f"{path}: provenance.models: other generic models than the rest of the board's runs"
            continue
        if inputs.get("images_sha256") and inputs["images_sha256"] != images[data["person"]]:
            yield path, (f"{path}: provenance.images_sha256: other images of person {data['person']} than the "
                         f"board's other runs of that person ({images[data['person']][:12]}); same card, other photos")
            continue
        key = _run_key(data)
        params = data["strategy"]["params"]
        changed = _default_changed(params, *names.setdefault(key[:2], (params, path)))
        if changed:
            yield path, f"{path}: {changed}"
            continue
        scores = json.dumps([entry["matrix"] for entry in data["scores"].values() if entry is not None])
        if key in runs:
            run = registry.run_label(key[0], _named(data))
            yield path, f"{path}: strategy: the same run ({run}, person {key[2]}, seed {key[3]}) as {runs[key]}"
        elif scores in matrices:
            yield path, (f"{path}: scores: every score matrix is that of {matrices[scores]}: a copy of its run "
                         "under another person, seed or strategy")
        else:
            runs[key], matrices[scores] = path, path


def _backends_mixed(mine: dict[str, str], board: dict[str, str]) -> str | None:
    """Why a run scored by the backends ``mine`` (role -> name) is not of a board scored by
    ``board``: the first role whose backend differs; None when none does."""
    for role, name in board.items():
        if mine[role] != name:
            return (f"provenance.backends.{role}: '{mine[role]}' mixed into a board whose {role} is '{name}' "
                    "(scores of other backends are not comparable: keep them on separate boards)")
    return None


def _default_changed(mine: dict, first: dict, where: Path) -> str | None:
    """Why a run of parameters ``mine`` is not the method of the first run of its name (of
    parameters ``first``, at ``where``): a parameter that names neither, at another value; None
    when there is none."""
    for name in sorted(set(mine) & set(first)):
        if not registry.same_value(mine[name], first[name]):
            return (f"strategy.params.{name}: {mine[name]} here, {first[name]} in {where}, and it names neither run: "
                    "the strategy's default changed between them, so they are not one method (keep them on "
                    "separate boards)")
    return None


def _protocol_mixed(mine: dict, board: tuple[int, str]) -> str:
    """Why a file of protocol ``mine`` is no run of a board of protocol ``board`` (version, hash)."""
    version, sha = board
    if mine["version"] != version:
        return (f"protocol.version: {mine['version']} mixed into a board of protocol version {version}; a board "
                f"ranks runs of one protocol: rerun it with the facebench that runs version {version} "
                f"({VERSIONS.get(version, 'unknown version')}), e.g. `facebench sweep`, or keep the versions in "
                "separate folders")
    return (f"protocol.sha256: settings {mine['sha256'][:12]} mixed into a board of settings {sha[:12]} "
            "(same version, another card protocol section): rerun it with the board's card")


def _most_common(values):
    """The value that occurs most often; of those tied, the least."""
    counts = Counter(values)
    return min(counts, key=lambda value: (-counts[value], value))


def _run_row(path: Path, data: dict) -> dict:
    strategy = data["strategy"]
    row = {
        "path": str(path),
        "strategy": strategy["name"],
        "method": registry.method_name(strategy["name"], strategy["params"], strategy.get("defaults")),
        "K": strategy["params"].get("buffer_size"),
        "person": data["person"],
        "seed": data["seed"],
        "matrices": {name: np.array(entry["matrix"], dtype=float) for name, entry in data["scores"].items()
                     if entry is not None},
        "protocol": data["protocol"]["version"],
        "buffer_history": data["buffer_history_sha256"],
        "replay_buffer": data["replay_buffer"],
    }
    for name in SCORES:
        for summary in ("aip", "forgetting", "final_average"):
            value = (data["scores"].get(name) or {}).get(summary)
            row[f"{name}.{summary}"] = np.nan if value is None else value
    memory = data["memory"]
    row["memory.items"] = np.nan if memory["items"] is None else memory["items"]
    row["memory.bytes"] = memory["bytes"]
    return row
