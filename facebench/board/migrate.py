"""Rewriting result files of the previous schema, ``facebench.result/1``, as ``facebench.result/2``.

A ``/1`` document migrates when it holds ``memory`` (a migration cannot recover what the
strategy kept: rerun the run) and both it, read as ``/2``, and its ``/2`` document are valid
(:func:`facebench.board.schema.validate`). Its ``/2`` document is the same but for:

- ``schema``: ``facebench.result/2``;
- ``strategy.kind``: the kind the registry gives the strategy's name
  (``facebench.registry.get_strategy(name).kind``: "cumulative" for a cumulative strategy, which
  ``/1`` wrote as "sequential"); the ``/1`` kind for a strategy that is not registered;
- ``provenance.migrated_from``: ``facebench.result/1``.

:func:`migrate` rewrites every ``/1`` file under a folder that migrates, atomically (through
:func:`facebench.board.schema.write_result`), and leaves every other file as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facebench import registry
from facebench.board.load import read, result_files
from facebench.board.schema import PREVIOUS, SCHEMA, describe, validate, write_result
from facebench.errors import FacebenchError

MIGRATED, CURRENT, REFUSED = "migrated", "current", "refused"


class MigrationError(FacebenchError):
    """A ``facebench.result/1`` document that cannot be migrated; ``problems``: (field, problem)."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(map(describe, problems)))
        self.problems = problems


@dataclass(frozen=True)
class Migration:
    """What :func:`migrate` did with one file: ``outcome`` is MIGRATED (rewritten as
    ``facebench.result/2``), CURRENT (already ``/2``, left alone) or REFUSED (left alone:
    ``problems`` says why); ``kind`` is (``/1`` kind, ``/2`` kind) of a migrated file."""

    path: Path
    outcome: str
    problems: tuple[tuple[str, str], ...] = ()
    kind: tuple[str, str] | None = None

    def lines(self) -> list[str]:
        """What was done: a line for a migrated file, a line per problem for a refused one, none
        for a file left alone because it is current."""
        if self.outcome == MIGRATED:
            old, new = self.kind
            return [f"{self.path}: migrated to {SCHEMA}" + (f", strategy.kind '{old}' -> '{new}'" if old != new else "")]
        if self.outcome == CURRENT:
            return []
        return [f"{self.path}: not migrated: {describe(problem)}" for problem in self.problems]


def upgrade(document: dict) -> dict:
    """The ``facebench.result/2`` document of a ``facebench.result/1`` one (see the module's
    docstring); :class:`MigrationError` if it does not migrate."""
    if document.get("schema") != PREVIOUS:
        raise MigrationError([("schema", f"{document.get('schema')!r}, expected {PREVIOUS!r}")])
    if "memory" not in document:
        raise MigrationError([("memory", f"missing: {SCHEMA} requires what the strategy kept besides the model, "
                                         "which only a new run can record")])
    problems = validate({**document, "schema": SCHEMA})
    if problems:
        raise MigrationError(problems)
    strategy = document["strategy"]
    upgraded = {**document, "schema": SCHEMA,
                "strategy": {**strategy, "kind": _registered_kind(strategy["name"], strategy["kind"])},
                "provenance": {**document["provenance"], "migrated_from": PREVIOUS}}
    problems = validate(upgraded)  # the registered kind may not fit the matrices (1 x T is joint's)
    if problems:
        raise MigrationError(problems)
    return upgraded


def _registered_kind(name: str, recorded: str) -> str:
    """The registry's kind of strategy ``name``; ``recorded`` if no strategy has that name."""
    try:
        return registry.get_strategy(name).kind
    except registry.StrategyError:
        return recorded


def migrate(folder: str | Path) -> list[Migration]:
    """Rewrite every ``facebench.result/1`` file under ``folder`` that migrates as
    ``facebench.result/2``; what was done with each result file, in path order."""
    done = []
    for path in result_files(folder):
        document, unreadable = read(path)
        version = document.get("schema") if isinstance(document, dict) else None
        if version == SCHEMA:
            done.append(Migration(path, CURRENT))
            continue
        if version != PREVIOUS:  # unreadable, or not a result file of either schema
            done.append(Migration(path, REFUSED, tuple([("", unreadable)] if unreadable else validate(document))))
            continue
        try:
            upgraded = upgrade(document)
        except MigrationError as error:
            done.append(Migration(path, REFUSED, tuple(error.problems)))
            continue
        write_result(path, upgraded)
        done.append(Migration(path, MIGRATED, kind=(document["strategy"]["kind"], upgraded["strategy"]["kind"])))
    return done


def summary(done: list[Migration]) -> str:
    """One line that counts the files of each outcome."""
    count = {outcome: sum(m.outcome == outcome for m in done) for outcome in (MIGRATED, CURRENT, REFUSED)}
    return (f"{len(done)} result file{'s' * (len(done) != 1)}: {count[MIGRATED]} migrated to {SCHEMA}, "
            f"{count[CURRENT]} already {SCHEMA} (left alone), {count[REFUSED]} not migrated")
