"""Verifying a result file: rerun the run it describes and compare, score by score.

``verify(path)`` reads a result file (it must be valid, :func:`facebench.board.schema.validate`,
and of the protocol version this facebench runs) and writes the card it holds into a temporary
folder under the file's card name (so a folder card, or a stock card since changed, is rerun on
exactly the recorded card). It checks that a rerun here has the run's inputs (the card hash,
the protocol hash, the generic models' and the images' hashes) before starting one, then reruns
(strategy, parameters, person, seed) with this machine's threads and the given device (by
default the file's own kind of device), and compares every summary (AIP, forgetting, final
average) of every score: a difference |rerun - file| within ``facebench.protocol.TOLERANCES``
(absolute, in the score's units) passes.

``verify_sample(folder, n, seed)`` verifies a board: it draws ``n`` of the folder's result files
of this protocol version at random (``numpy.random.default_rng(seed)``, without replacement, so
the same seed draws the same files), reruns each as above, and returns one :class:`Sampled` per
drawn file: its :class:`Verification`, or the reason it could not be rerun (a file whose inputs
differ here is reported and the others still run).
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facebench.board.load import ENVIRONMENT, read, result_files
from facebench.board.schema import describe, validate
from facebench.errors import FacebenchError
from facebench.protocol import SCORES, TOLERANCES, VERSION, VERSIONS

SUMMARIES = ("aip", "forgetting", "final_average")


class VerifyError(FacebenchError):
    """A result file that cannot be verified; the message says why."""


@dataclass(frozen=True)
class Check:
    """One summary of one score: the file's value, the rerun's, |difference| and the tolerance."""

    score: str
    summary: str
    recorded: float | None
    rerun: float | None
    tolerance: float

    @property
    def difference(self) -> float:
        if self.recorded is None or self.rerun is None:
            return 0.0 if self.recorded is self.rerun else math.inf
        return abs(self.rerun - self.recorded)

    @property
    def passes(self) -> bool:
        return self.difference <= self.tolerance


@dataclass(frozen=True)
class Verification:
    """The checks of one result file against its rerun (``rerun``: the rerun's result file), and
    where the two runs ran (threads, device, CPU)."""

    path: Path
    rerun: Path
    checks: tuple[Check, ...]
    recorded_on: dict
    rerun_on: dict

    @property
    def passes(self) -> bool:
        return all(check.passes for check in self.checks)


@dataclass(frozen=True)
class Sampled:
    """One drawn file of :func:`verify_sample`: its verification, or why it could not be rerun."""

    path: Path
    verification: Verification | None
    error: str | None = None

    @property
    def passes(self) -> bool:
        return self.verification is not None and self.verification.passes


def sample(folder: str | Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` result files of this protocol version under ``folder``, drawn at random without
    replacement by ``seed`` (module docstring), in path order; ``VerifyError`` when the folder has
    fewer than ``n`` such files."""
    candidates = [path for path in result_files(folder) if _version(path) == VERSION]
    if len(candidates) < n:
        raise VerifyError(f"{folder}: {len(candidates)} result files of protocol version {VERSION} under it, "
                          f"fewer than the {n} to draw")
    drawn = np.random.default_rng(seed).choice(len(candidates), size=n, replace=False)
    return [candidates[i] for i in sorted(drawn)]


def verify_sample(folder: str | Path, n: int, seed: int = 0, out: str | Path | None = None,
                  device: str | None = None, progress=None, on_file=None) -> list[Sampled]:
    """Verify ``n`` random result files of ``folder`` (module docstring), each rerun into its own
    folder under ``out``; ``on_file(i, path)`` is called before the i-th rerun (from 0)."""
    out = Path(out or tempfile.mkdtemp(prefix="facebench-verify-"))
    results = []
    for i, path in enumerate(sample(folder, n, seed)):
        if on_file:
            on_file(i, path)
        try:
            results.append(Sampled(path, verify(path, out=out / f"{i}", device=device, progress=progress)))
        except VerifyError as error:
            results.append(Sampled(path, None, str(error)))
    return results


def _version(path: Path) -> int | None:
    """The protocol version a result file records; None when it cannot be read."""
    document, unreadable = read(path)
    try:
        return None if unreadable else document["protocol"]["version"]
    except (KeyError, TypeError):
        return None


def verify(path: str | Path, out: str | Path | None = None, device: str | None = None, progress=None) -> Verification:
    """Rerun the run of the result file ``path`` (into ``out``, default a temporary folder) and
    compare (module docstring)."""
    from facebench.data import load_scenario
    from facebench.models.generic import card_sha256s
    from facebench.protocol import Protocol
    from facebench.run.runner import RunSpec, run

    path = Path(path)
    document = _readable(path)
    out = Path(out or tempfile.mkdtemp(prefix="facebench-verify-"))
    card = out / "cards" / f"{document['scenario']['name']}.yaml"
    card.parent.mkdir(parents=True, exist_ok=True)
    card.write_text(json.dumps(document["scenario"]["card"], indent=1) + "\n")  # JSON is YAML
    scenario = load_scenario(str(card))
    if document["person"] not in scenario.persons:
        raise VerifyError(f"{path}: person {document['person']!r} has no photos here (the card's folder differs)")
    _same_inputs(path, document, {
        "scenario.card_sha256": scenario.card.sha256,
        "protocol.sha256": Protocol.from_card(scenario.card).record()["sha256"],
        "provenance.models": card_sha256s(scenario.card),
        "provenance.images_sha256": scenario.images_sha256(document["person"]),
    })
    spec = RunSpec(document["strategy"]["name"], document["strategy"]["params"], str(card), document["person"],
                   document["seed"])
    rerun_path = run(spec, out / "runs", force=True, device=device or _device(document), progress=progress)
    return compare(path, document, rerun_path, json.loads(rerun_path.read_text()))


def compare(path: Path, document: dict, rerun_path: Path, rerun: dict) -> Verification:
    """The checks of the result ``document`` (of file ``path``) against the rerun's result."""
    checks = tuple(Check(score, summary, document["scores"][score][summary], rerun["scores"][score][summary],
                         TOLERANCES[score])
                   for score in SCORES if document["scores"].get(score) for summary in SUMMARIES)
    return Verification(Path(path), Path(rerun_path), checks, _where(document), _where(rerun))


def _readable(path: Path) -> dict:
    """The result file at ``path`` if it is valid and of this protocol version; ``VerifyError`` otherwise."""
    document, unreadable = read(path)
    if unreadable:
        raise VerifyError(f"{path}: {unreadable}")
    problems = validate(document)
    if problems:
        raise VerifyError(f"{path}: not a valid result file: " + "; ".join(map(describe, problems[:3])))
    version = document["protocol"]["version"]
    if version != VERSION:
        raise VerifyError(f"{path}: protocol version {version}, but this facebench runs version {VERSION}; "
                          f"version {version} was {VERSIONS[version]}")
    return document


def _device(document: dict) -> str:
    """The torch device to rerun on: the CPU for a run recorded on the CPU, else cuda."""
    return "cpu" if document["provenance"].get("device", "cpu") == "cpu" else "cuda"


def _where(document: dict) -> dict:
    provenance = document["provenance"]
    return {key: provenance.get(key) for key in (*ENVIRONMENT, "git_commit")}


def _same_inputs(path: Path, document: dict, here: dict) -> None:
    """``VerifyError`` naming the first input (card, protocol, models, images) that this machine
    would give the rerun other than the file's run had."""
    recorded = {
        "scenario.card_sha256": document["scenario"]["card_sha256"],
        "protocol.sha256": document["protocol"]["sha256"],
        "provenance.models": document["provenance"]["models"],
        "provenance.images_sha256": document["provenance"]["images_sha256"],
    }
    for field, value in recorded.items():
        if value != here[field]:
            raise VerifyError(f"{path}: {field}: this machine's input differs from the run's ({str(here[field])[:24]} "
                              f"against {str(value)[:24]}): a rerun here would not be the same run")
