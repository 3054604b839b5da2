"""Bringing result files up to date: the previous schemas, ``facebench.result/1``, ``/2`` and
``/3``, as ``/4``; the strategy's defaults recorded; each file in the folder of its run's name.

Schema. A ``/1``, ``/2`` or ``/3`` document migrates when its ``/4`` document is valid
(:func:`facebench.board.schema.validate`). Its ``/4`` document is the same but for:

- ``schema``: ``facebench.result/4``;
- ``replay_buffer``: null (the replay buffers' record, which the per-session diagnosis reads:
  not recorded; only a rerun can say);
- from ``/1`` only: ``memory`` must be there (a migration cannot recover what the strategy kept:
  rerun the run); ``strategy.kind`` becomes the kind the registry gives the strategy's name
  (``facebench.registry.get_strategy(name).kind``: "cumulative" for a cumulative strategy,
  which ``/1`` wrote as "sequential"; the recorded kind for a strategy that is not registered);
- from ``/1`` and ``/2`` only: ``protocol``: the settings recorded, as protocol version 1 (every
  ``/1`` and ``/2`` file ran it), with their hash (``facebench.protocol.protocol_sha256``);
  ``seed_varies`` and ``buffer_history_sha256``: null (not recorded; only a rerun can say);
- ``provenance.migrated_from``: the schema it was first written with (a ``/3`` file migrated from
  ``/1`` keeps ``/1``).

Defaults. A valid ``/4`` document without ``strategy.defaults`` (written before facebench
recorded them) gets the defaults the installed registry gives its strategy's parameters, of the
parameters it has (``facebench.registry.StrategyEntry.defaults``), so that its run is named as a
new run is (``facebench.registry.named_params``). A parameter whose default has changed since the
run keeps naming it (its value is not the default recorded): a migrated name never claims a
configuration its run did not have. A strategy that is not installed here gives none: the file
keeps every parameter in its name, and the migration says so (install it and migrate again).

Folders. A file in the folder the runner gave it before the defaults were recorded (named with
every parameter, ``facebench.registry.folder_name(strategy, params, None)``), below the folder
migrated, moves by a plain rename to the folder of its run's name beside it
(``folder_name(strategy, params, defaults)``), unless a file is there already; a folder left
empty is removed. A checkpoint of an interrupted run (no result file yet) is not moved: that run
starts again.

:func:`migrate` does all three for every result file under a folder, rewriting a file atomically
(:func:`facebench.board.schema.write_result`), and leaves every other file as it is.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from facebench import registry
from facebench.board.load import read, result_files
from facebench.board.schema import PREVIOUS, SCHEMA, describe, validate, write_result
from facebench.errors import FacebenchError
from facebench.protocol import protocol_sha256

MIGRATED, CURRENT, REFUSED = "migrated", "current", "refused"


class MigrationError(FacebenchError):
    """A ``facebench.result/1`` document that cannot be migrated; ``problems``: (field, problem)."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(map(describe, problems)))
        self.problems = problems


@dataclass(frozen=True)
class Migration:
    """What :func:`migrate` did with the file it found at ``path``: ``outcome`` is MIGRATED (all it
    needed done), CURRENT (nothing to do: left alone) or REFUSED (not all it needed done:
    ``problems`` says what not and why). What was done: ``written``, the old schema of a file
    rewritten as ``facebench.result/4``, with ``kind`` (old kind, new kind); ``defaults``, the
    defaults recorded (None: none); ``moved``, its new path (None: not moved)."""

    path: Path
    outcome: str
    problems: tuple[tuple[str, str], ...] = ()
    kind: tuple[str, str] | None = None
    written: str | None = None
    defaults: dict | None = None
    moved: Path | None = None

    def lines(self) -> list[str]:
        """What was done, in a line (none for a file left alone), and a line per problem."""
        done = []
        if self.written:
            old, new = self.kind
            done.append(f"migrated from {self.written} to {SCHEMA}"
                        + (f", strategy.kind '{old}' -> '{new}'" if old != new else ""))
        if self.defaults is not None:
            recorded = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
            done.append(f"strategy.defaults recorded: {recorded or 'none'}")
        if self.moved:
            done.append(f"moved to {self.moved}")
        return ([f"{self.path}: {'; '.join(done)}"] if done else []) + [
            f"{self.path}: not migrated: {describe(problem)}" for problem in self.problems]


def upgrade(document: dict) -> dict:
    """The ``facebench.result/4`` document of a ``/1``, ``/2`` or ``/3`` one (see the module's
    docstring); :class:`MigrationError` if it does not migrate."""
    written = document.get("schema")
    if written not in PREVIOUS:
        raise MigrationError([("schema", f"{written!r}, expected one of {', '.join(map(repr, PREVIOUS))}")])
    if "memory" not in document:
        raise MigrationError([("memory", f"missing: {SCHEMA} requires what the strategy kept besides the model, "
                                         "which only a new run can record")])
    upgraded = {**document, "schema": SCHEMA, "replay_buffer": None,
                "provenance": {**document.get("provenance", {}),
                               "migrated_from": document.get("provenance", {}).get("migrated_from") or written}}
    if written in PREVIOUS[:2]:  # before /3: no protocol version, nothing on seeding
        strategy = document["strategy"]
        if written == PREVIOUS[0] and isinstance(strategy, dict) and isinstance(strategy.get("name"), str):
            strategy = {**strategy, "kind": _registered_kind(strategy["name"], strategy.get("kind"))}
        settings = document.get("protocol")
        upgraded.update(strategy=strategy, seed_varies=None, buffer_history_sha256=None,
                        protocol={"version": 1, "sha256": protocol_sha256(1, settings), "settings": settings})
    upgraded = {**{key: upgraded[key] for key in _ORDER if key in upgraded}, **upgraded}  # in the schema's order
    problems = validate(upgraded)
    if problems:
        raise MigrationError(problems)
    return upgraded


_ORDER = ("schema", "scenario", "strategy", "person", "seed", "seed_varies", "sessions", "scores", "timing", "memory",
          "buffer_history_sha256", "replay_buffer", "protocol", "provenance")
"""The keys of a result document in the order ``facebench.board.schema.make_result`` writes them."""


def _registered_kind(name: str, recorded: str) -> str:
    """The registry's kind of strategy ``name``; ``recorded`` if no strategy has that name."""
    entry = _registered(name)
    return recorded if entry is None else entry.kind


def _registered(name: str):
    """The registry's strategy ``name``; None where no strategy has that name here."""
    try:
        return registry.get_strategy(name)
    except registry.StrategyError:
        return None


def migrate(folder: str | Path) -> list[Migration]:
    """Bring every result file under ``folder`` up to date (see the module's docstring); what was
    done with each, in path order."""
    return [_migrate_file(path, Path(folder)) for path in result_files(folder)]


def _migrate_file(path: Path, folder: Path) -> Migration:
    """Bring the result file ``path``, under ``folder``, up to date: schema, defaults, folder."""
    document, unreadable = read(path)
    version = document.get("schema") if isinstance(document, dict) else None
    if version not in (SCHEMA, *PREVIOUS):  # unreadable, or not a result file of any schema
        return Migration(path, REFUSED, tuple([("", unreadable)] if unreadable else validate(document)))
    done = {}
    if version == SCHEMA:
        problems = validate(document)
        if problems:
            return Migration(path, REFUSED, tuple(problems))
    else:
        try:
            upgraded = upgrade(document)
        except MigrationError as error:
            return Migration(path, REFUSED, tuple(error.problems))
        done.update(written=version, kind=(document["strategy"]["kind"], upgraded["strategy"]["kind"]))
        document, problems = upgraded, []
    strategy = document["strategy"]
    if "defaults" not in strategy:
        entry = _registered(strategy["name"])
        if entry is None:
            problems.append(("strategy.defaults", f"not recorded: strategy '{strategy['name']}' is not installed here, "
                                                  "so every parameter names its runs; install it and migrate again"))
        else:
            strategy = {**strategy, "defaults": {k: v for k, v in entry.defaults.items() if k in strategy["params"]}}
            document = {**document, "strategy": strategy}
            done["defaults"] = strategy["defaults"]
    if done:
        write_result(path, document)
    target = _place(path, folder, strategy)
    if target != path and target.exists():
        problems.append(("", f"not moved to {target}: a file is there already"))
    elif target != path:
        target.parent.mkdir(exist_ok=True)
        path.rename(target)  # a plain rename, within the folder migrated
        done["moved"] = target
        with contextlib.suppress(OSError):  # a folder that holds more stays
            path.parent.rmdir()
    outcome = REFUSED if problems else MIGRATED if done else CURRENT
    return Migration(path, outcome, tuple(problems), **done)


def _place(path: Path, folder: Path, strategy: dict) -> Path:
    """Where the file belongs: in the folder of its run's name, beside its own folder, if its own
    folder, below ``folder``, is named with every parameter as the runner named it before; else
    where it is."""
    name, params = strategy["name"], strategy["params"]
    if path.parent == folder or path.parent.name != registry.folder_name(name, params, None):
        return path
    return path.parent.parent / registry.folder_name(name, params, strategy.get("defaults")) / path.name


def summary(done: list[Migration]) -> str:
    """One line that counts the files of each outcome."""
    count = {outcome: sum(m.outcome == outcome for m in done) for outcome in (MIGRATED, CURRENT, REFUSED)}
    return (f"{len(done)} result file{'s' * (len(done) != 1)}: {count[MIGRATED]} migrated, {count[CURRENT]} "
            f"already current (left alone), {count[REFUSED]} not (fully) migrated")
