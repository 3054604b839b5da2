"""Rewriting result files of the previous schemas, ``facebench.result/1`` and ``/2``, as ``/3``.

A document migrates when its ``/3`` document is valid (:func:`facebench.board.schema.validate`).
Its ``/3`` document is the same but for:

- ``schema``: ``facebench.result/3``;
- from ``/1`` only: ``memory`` must be there (a migration cannot recover what the strategy kept:
  rerun the run); ``strategy.kind`` becomes the kind the registry gives the strategy's name
  (``facebench.registry.get_strategy(name).kind``: "cumulative" for a cumulative strategy,
  which ``/1`` wrote as "sequential"; the recorded kind for a strategy that is not registered);
- ``protocol``: the settings recorded, as protocol version 1 (every ``/1`` and ``/2`` file ran
  it), with their hash (``facebench.protocol.protocol_sha256``);
- ``seed_varies`` and ``buffer_history_sha256``: null (not recorded; only a rerun can say);
- ``provenance.migrated_from``: the schema it was first written with (a ``/2`` file migrated from
  ``/1`` keeps ``/1``).

:func:`migrate` rewrites every ``/1`` and ``/2`` file under a folder that migrates, atomically
(through :func:`facebench.board.schema.write_result`), and leaves every other file as it is.
"""

from __future__ import annotations

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
    """What :func:`migrate` did with one file: ``outcome`` is MIGRATED (rewritten as
    ``facebench.result/3``), CURRENT (already ``/3``, left alone) or REFUSED (left alone:
    ``problems`` says why); ``kind`` is (old kind, new kind) and ``written`` the old schema of a
    migrated file."""

    path: Path
    outcome: str
    problems: tuple[tuple[str, str], ...] = ()
    kind: tuple[str, str] | None = None
    written: str | None = None

    def lines(self) -> list[str]:
        """What was done: a line for a migrated file, a line per problem for a refused one, none
        for a file left alone because it is current."""
        if self.outcome == MIGRATED:
            old, new = self.kind
            return [f"{self.path}: migrated from {self.written} to {SCHEMA}" + (f", strategy.kind '{old}' -> '{new}'" if old != new else "")]
        if self.outcome == CURRENT:
            return []
        return [f"{self.path}: not migrated: {describe(problem)}" for problem in self.problems]


def upgrade(document: dict) -> dict:
    """The ``facebench.result/3`` document of a ``/1`` or ``/2`` one (see the module's
    docstring); :class:`MigrationError` if it does not migrate."""
    written = document.get("schema")
    if written not in PREVIOUS:
        raise MigrationError([("schema", f"{written!r}, expected one of {', '.join(map(repr, PREVIOUS))}")])
    if "memory" not in document:
        raise MigrationError([("memory", f"missing: {SCHEMA} requires what the strategy kept besides the model, "
                                         "which only a new run can record")])
    strategy = document["strategy"]
    if written == PREVIOUS[0] and isinstance(strategy, dict) and isinstance(strategy.get("name"), str):
        strategy = {**strategy, "kind": _registered_kind(strategy["name"], strategy.get("kind"))}
    settings = document.get("protocol")
    upgraded = {**document, "schema": SCHEMA, "strategy": strategy, "seed_varies": None,
                "buffer_history_sha256": None,
                "protocol": {"version": 1, "sha256": protocol_sha256(1, settings), "settings": settings},
                "provenance": {**document.get("provenance", {}),
                               "migrated_from": document.get("provenance", {}).get("migrated_from") or written}}
    problems = validate(upgraded)
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
    """Rewrite every ``facebench.result/1`` and ``/2`` file under ``folder`` that migrates as
    ``facebench.result/3``; what was done with each result file, in path order."""
    done = []
    for path in result_files(folder):
        document, unreadable = read(path)
        version = document.get("schema") if isinstance(document, dict) else None
        if version == SCHEMA:
            done.append(Migration(path, CURRENT))
            continue
        if version not in PREVIOUS:  # unreadable, or not a result file of either schema
            done.append(Migration(path, REFUSED, tuple([("", unreadable)] if unreadable else validate(document))))
            continue
        try:
            upgraded = upgrade(document)
        except MigrationError as error:
            done.append(Migration(path, REFUSED, tuple(error.problems)))
            continue
        write_result(path, upgraded)
        done.append(Migration(path, MIGRATED, kind=(document["strategy"]["kind"], upgraded["strategy"]["kind"]),
                              written=version))
    return done


def summary(done: list[Migration]) -> str:
    """One line that counts the files of each outcome."""
    count = {outcome: sum(m.outcome == outcome for m in done) for outcome in (MIGRATED, CURRENT, REFUSED)}
    return (f"{len(done)} result file{'s' * (len(done) != 1)}: {count[MIGRATED]} migrated to {SCHEMA}, "
            f"{count[CURRENT]} already {SCHEMA} (left alone), {count[REFUSED]} not migrated")
