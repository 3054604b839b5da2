"""Which code made a board's runs, method by method: what ``facebench leaderboard DIR --check`` shows.

For each method (``facebench.registry.method_name``) of the valid result files, from their
``provenance``: how many files; the commits of the facebench checkout that ran them
(``git_commit`` less its "-dirty"); how many ran from a dirty checkout (changes, new files
included, that the commit lacks); the strategy's source hashes (``strategy.sha256``: the sha256
of the module that defines the strategy, ``facebench.registry.StrategyEntry.source``); and the
packages it came from (``strategy.distribution`` and ``version``, and for a plugin installed
editable the commit of its checkout, ``strategy.commit``). A file written before these were
recorded counts as "not recorded".

A method is *mixed* when its files come from more than one source hash: one name, several
codes (a strategy edited between runs), so its mean may not be one method's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table
from rich.text import Text

from facebench import registry
from facebench.style import table as styled_table

DIRTY = "-dirty"
"""The suffix of a commit whose checkout held changes (``facebench.board.schema.git_commit``)."""
UNRECORDED = "not recorded"


@dataclass(frozen=True)
class MethodCode:
    """The code behind one method's files. ``commits``: the facebench checkouts' commits, without
    "-dirty"; ``dirty``: the files made from a dirty checkout; ``sources``: each strategy source
    hash with the first file made by it, in path order; ``unrecorded``: the files that record
    no source; ``packages``: "distribution version", with " @ commit" (12 hex digits and its
    "-dirty") for an editable plugin."""

    method: str
    files: int
    commits: tuple[str, ...]
    dirty: int
    sources: tuple[tuple[str, Path], ...]
    unrecorded: int
    packages: tuple[str, ...]

    @property
    def mixed(self) -> bool:
        """Whether the files come from more than one strategy source."""
        return len(self.sources) > 1


def method_code(documents: Mapping[Path, dict]) -> list[MethodCode]:
    """The code behind each method of ``documents`` (path -> a valid result document), by method."""
    grouped: dict[str, list[tuple[Path, dict]]] = {}
    for path, data in sorted(documents.items()):
        strategy = data["strategy"]
        method = registry.method_name(strategy["name"], strategy["params"], strategy.get("defaults"))
        grouped.setdefault(method, []).append((path, data["provenance"]))
    return [_code(method, files) for method, files in sorted(grouped.items())]


def _code(method: str, files: list[tuple[Path, dict]]) -> MethodCode:
    """The :class:`MethodCode` of one method's files (path, provenance), in path order."""
    commits = [str(provenance["git_commit"]) for _, provenance in files]
    sources: dict[str, Path] = {}
    digests = [((provenance.get("strategy") or {}).get("sha256"), path) for path, provenance in files]
    for digest, path in digests:
        if digest:
            sources.setdefault(digest, path)
    return MethodCode(method=method, files=len(files),
                      commits=tuple(sorted({commit.removesuffix(DIRTY) for commit in commits})),
                      dirty=sum(commit.endswith(DIRTY) for commit in commits), sources=tuple(sources.items()),
                      unrecorded=sum(not digest for digest, _ in digests),
                      packages=tuple(sorted({_package(provenance.get("strategy")) for _, provenance in files})))


def _package(source: dict | None) -> str:
    """Where a file's strategy came from: "distribution version[ @ commit]", "module M (no
    package)" for a module outside any, or "not recorded"."""
    if not source:
        return UNRECORDED
    if not source.get("distribution"):
        return f"module {source.get('module')} (no package)"
    commit = f" @ {_short(source['commit'])}" if source.get("commit") else ""
    return f"{source['distribution']} {source.get('version')}{commit}"


def _short(commit: str) -> str:
    """A commit's first 12 hex digits, with its "-dirty"."""
    return commit.removesuffix(DIRTY)[:12] + DIRTY * commit.endswith(DIRTY)


def code_table(codes: list[MethodCode]) -> Table:
    """One row per method: files, commits, dirty files, strategy sources (12 hex digits; a
    mixed method's in red) and packages."""
    out = styled_table(Text("code of the runs, per method"))
    for title in ("method", "files", "facebench commit", "dirty", "strategy source", "package"):
        out.add_column(title, justify="right" if title == "files" else "left", overflow="fold")
    for code in codes:
        sources = [digest[:12] for digest, _ in code.sources] + [UNRECORDED] * bool(code.unrecorded)
        out.add_row(Text(code.method), str(code.files), "\n".join(commit[:12] for commit in code.commits),
                    f"{code.dirty} of {code.files}" if code.dirty else "no",
                    Text("\n".join(sources), style="red" if code.mixed else ""), Text("\n".join(code.packages)))
    return out


def mixed_lines(codes: list[MethodCode]) -> list[str]:
    """One line per mixed method: its source hashes, each with the first file made by it."""
    return [f"method {code.method}: its files come from {len(code.sources)} strategy sources, not one code: "
            + ", ".join(f"{digest[:12]} ({path})" for digest, path in code.sources)
            for code in codes if code.mixed]
