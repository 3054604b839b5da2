"""``facebench data import``: a folder of a person's photos -> FFHQ-aligned images in a card's layout.

Input, PHOTOS: ``PHOTOS/<person>/<session>/<photo>``, any visible file in a session folder is a
photo (PIL reads it by its content: JPEG, PNG, WebP, ...); folders and files whose name starts
with a dot are not looked at; persons, sessions and photos are taken in name order.

Output, DIR (the layout of a card's folder source, :class:`facebench.data.sources.FolderSource`):

- ``DIR/<person>/<session>/{train,test}/<photo name>.png``: each usable photo turned upright by its
  EXIF orientation, read as 8-bit RGB like the folder source reads photos, its one face found
  (:mod:`.faces`) and aligned the FFHQ way at R x R (:mod:`.align`);
- ``DIR/<DIR name>.yaml``: a card of these images (``source: {kind: folder, root: .}``) whose
  identity scores come from dlib's face descriptor (``models: {identity: dlib}``: the photos
  extra the import needs ships it; the other roles stay the card default's until the user names
  their own, README "Bring your own models");
- ``DIR/import-report.json``: the settings, every imported photo (its image, the detectors'
  score and confidence, its face square's side) and every photo left out, with its
  :data:`REASONS` entry and a detail.

A photo is left out when it cannot be read, holds no face, holds several faces (which one was
meant is never guessed), or its face is too small: the side of the face's FFHQ square is less
than half the output side R, in the photo's pixels (the crop would be enlarged more than twice).
A file or folder where a session folder or a photo should be (directly in PHOTOS or in a person's
folder, or a folder inside a session) is reported too, and so are the usable photos of a session
with fewer than 2 of them (it needs a train and a test image).

The split, per session: of n usable photos in name order, n_test = n F rounded to the nearest
integer, halves down (ceil(n F - 1/2)), then clipped to 1..n-1 (F: the test fraction); the photos
are cut into n_test runs of equal length n / n_test and the one in the middle of each run, the
photo at floor((j + 1/2) n / n_test) for j < n_test, is a test image, the others are train
images. F = 1/2 alternates train and test, train first; 3 photos give 2 train, 1 test.

Nothing is lost: DIR is written in full in a hidden folder beside it (each file with
:func:`facebench.atomic.write_atomic`) and renamed to DIR at the end. An existing DIR is an error;
with ``force`` it is replaced, only once the new one is complete, and only if it holds an import
report (a folder this command wrote). DIR and PHOTOS may not contain each other. Where no photo
is usable nothing is written and :class:`NothingImported` carries the report.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml
from PIL import Image, ImageOps
from pydantic import ValidationError

from facebench.atomic import write_atomic, write_json
from facebench.data.cards import CardSchema
from facebench.data.photos.align import align, ffhq_square
from facebench.data.photos.faces import (
    CONFIRM_SIDE, CONTEXT, DETECT_SIDE, UPSAMPLE, Proposal, landmarks, load_models, propose,
)
from facebench.data.sources import DataError, _rgb

REPORT = "import-report.json"
UNREADABLE, NO_FACE, SEVERAL_FACES, TOO_SMALL = "unreadable", "no face", "several faces", "face too small"
MISPLACED, SMALL_SESSION = "out of place", "session too small"
REASONS = (UNREADABLE, NO_FACE, SEVERAL_FACES, TOO_SMALL, MISPLACED, SMALL_SESSION)
"""Why a photo is left out, as the report says it."""
MIN_FACE_FRACTION = 0.5
"""The least side of a face's FFHQ square in the photo, as a fraction of the output side."""


class PhotoImportError(DataError):
    """An import that cannot start or finish: a bad resolution or test fraction, a missing
    PHOTOS, an existing DIR."""


@dataclass(frozen=True)
class Imported:
    """A photo that became an image: paths relative to PHOTOS and to DIR, the frontal
    detector's score and the CNN's confidence in its face, the side of its FFHQ square (photo
    pixels)."""

    photo: str
    image: str
    score: float
    confidence: float
    face_side: float


@dataclass(frozen=True)
class LeftOut:
    """A photo that was not imported (path relative to PHOTOS), why (one of :data:`REASONS`)
    and a detail."""

    photo: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Report:
    """What an import did."""

    photos: Path
    out: Path
    resolution: int
    test_fraction: float
    imported: list[Imported]
    left_out: list[LeftOut]

    @property
    def card(self) -> Path:
        """The card written in ``out``."""
        return self.out / f"{self.out.name}.yaml"

    def document(self) -> dict:
        """The report as JSON-ready data (the content of ``import-report.json``)."""
        return {
            "photos": str(self.photos),
            "out": str(self.out),
            "resolution": self.resolution,
            "test_fraction": self.test_fraction,
            "detect_side": DETECT_SIDE,
            "upsample": UPSAMPLE,
            "confirm_context": CONTEXT,
            "confirm_side": CONFIRM_SIDE,
            "min_face_side": self.resolution * MIN_FACE_FRACTION,
            "imported": [vars(item) for item in self.imported],
            "left_out": [vars(item) for item in self.left_out],
        }

    def summary(self) -> str:
        """One line: how many photos were imported and left out, and why."""
        return (f"imported {len(self.imported)} photos into {self.out}; left out "
                f"{len(self.left_out)}{f' ({self.reasons()})' if self.left_out else ''}")

    def reasons(self) -> str:
        """How many photos were left out for each reason: '2 no face, 1 unreadable'."""
        return ", ".join(f"{count} {reason}" for reason, count in Counter(item.reason for item in self.left_out).items())


class NothingImported(PhotoImportError):
    """No photo was usable; ``report`` says why for each."""

    def __init__(self, report: Report):
        self.report = report
        super().__init__(f"{report.photos}: no photo could be imported ({report.reasons()}); nothing written")


@dataclass(frozen=True)
class _Aligned:
    photo: Path
    image: Image.Image
    face: Proposal
    side: float


def import_photos(photos: str | Path, out: str | Path, resolution: int = 64, test_fraction: float = 0.5,
                  force: bool = False, progress: Callable[[int, int], None] | None = None) -> Report:
    """Import the photos in ``photos`` into ``out`` (module doc); ``progress(done, total)`` is
    called after each photo. Returns the report, also written to ``out``."""
    photos, out = Path(photos).resolve(), Path(out).resolve()
    card = _card(resolution)
    _check_places(photos, out, force)
    if not 0 < test_fraction < 1:
        raise PhotoImportError(f"the test fraction must be between 0 and 1, got {test_fraction}")
    sessions, misplaced = _layout(photos)
    load_models()  # a missing photos extra is told before any work
    left_out = [LeftOut(_relative(path, photos), MISPLACED, "expected PHOTOS/<person>/<session>/<photo>")
                for path in misplaced]
    total, done = sum(len(files) for files in sessions.values()), 0
    staging = _beside(out, "partial")
    staging.mkdir()
    try:
        imported = []
        for folder, files in sessions.items():
            aligned = []
            for path in files:
                outcome = _prepare(path, photos, resolution)
                (aligned if isinstance(outcome, _Aligned) else left_out).append(outcome)
                done += 1
                if progress:
                    progress(done, total)
            imported += _write_session(staging, photos, folder, aligned, test_fraction, left_out)
        report = Report(photos, out, resolution, test_fraction, imported, left_out)
        if not imported:
            raise NothingImported(report)
        card["description"] = (f"real photos imported by facebench data import: {len(imported)} "
                               f"images, FFHQ-aligned at {resolution} px")
        write_atomic(staging / report.card.name, yaml.safe_dump(card, sort_keys=False))
        write_json(staging / REPORT, report.document())
        _replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _card(resolution: int) -> dict:
    """The card of an imported folder at ``resolution``; an error if no card takes it."""
    card = {"description": "", "resolution": resolution, "source": {"kind": "folder", "root": "."},
            "models": {"identity": "dlib"}}
    try:
        CardSchema.model_validate(card)
    except ValidationError as error:
        problem = error.errors()[0]["msg"].lower()
        raise PhotoImportError(f"resolution {resolution}: not a card's resolution ({problem})") from None
    return card


def _check_places(photos: Path, out: Path, force: bool) -> None:
    """Refuse a missing PHOTOS, a DIR overlapping it, an existing DIR (or with ``force``, one
    that is not an import's output)."""
    if not photos.is_dir():
        raise PhotoImportError(f"{photos}: no such folder")
    if out == photos or out.is_relative_to(photos) or photos.is_relative_to(out):
        raise PhotoImportError(f"{out}: the output folder and {photos} may not contain each other")
    if not out.parent.is_dir():
        raise PhotoImportError(f"{out.parent}: no such folder")
    if not (out.exists() or out.is_symlink()):
        return
    if not force:
        raise PhotoImportError(f"{out} exists: choose another folder, or --force to replace it")
    if not (out.is_dir() and (out / REPORT).is_file()):
        raise PhotoImportError(f"{out}: --force replaces only a folder written by facebench data "
                               f"import (with its {REPORT}); remove it yourself")


def _layout(photos: Path) -> tuple[dict[Path, list[Path]], list[Path]]:
    """The session folders of ``photos`` with their photo files, and the entries out of place."""
    sessions, misplaced = {}, []
    for person in _visible(photos):
        if not person.is_dir():
            misplaced.append(person)
            continue
        for session in _visible(person):
            if not session.is_dir():
                misplaced.append(session)
                continue
            entries = _visible(session)
            sessions[session] = [path for path in entries if path.is_file()]
            misplaced += [path for path in entries if not path.is_file()]
    if not sessions:
        raise PhotoImportError(f"{photos}: no session folders (expected PHOTOS/<person>/<session>/<photo>)")
    return sessions, misplaced


def _visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` whose names do not start with a dot, in name order."""
    return sorted(path for path in folder.iterdir() if not path.name.startswith("."))


def _prepare(path: Path, photos: Path, resolution: int) -> _Aligned | LeftOut:
    """The aligned image of the photo in ``path`` (in ``photos``), or why it is left out."""
    name = _relative(path, photos)
    try:
        with Image.open(path) as image:
            photo = _rgb(ImageOps.exif_transpose(image), path)
    except Exception as error:  # a broken file can fail in any decoder, in any way
        return LeftOut(name, UNREADABLE, " ".join(str(error).split()) or type(error).__name__)
    proposals = propose(photo)
    faces = [proposal for proposal in proposals if proposal.confidence is not None]
    if not faces:
        scores = ", ".join(f"{proposal.score:.2f}" for proposal in proposals)
        detail = f"{len(proposals)} proposed (scores {scores}), none confirmed" if proposals else "none found"
        return LeftOut(name, NO_FACE, detail)
    if len(faces) > 1:
        found = ", ".join(f"{face.box} score {face.score:.2f}" for face in faces)
        return LeftOut(name, SEVERAL_FACES, f"{len(faces)} faces: {found}")
    square = ffhq_square(landmarks(photo, faces[0].box))
    least = resolution * MIN_FACE_FRACTION
    if square.side < least:
        return LeftOut(name, TOO_SMALL, f"face square {square.side:.0f} px, less than {least:g} px "
                                        f"(half the {resolution} px output)")
    return _Aligned(path, align(photo, square, resolution), faces[0], square.side)


def held_out_positions(n: int, test_fraction: float) -> list[int]:
    """Which of n photos in name order are test images (module doc)."""
    n_test = min(max(math.ceil(n * test_fraction - 0.5), 1), n - 1)
    return [math.floor((j + 0.5) * n / n_test) for j in range(n_test)]


def _write_session(staging: Path, photos: Path, folder: Path, aligned: list[_Aligned],
                   test_fraction: float, left_out: list) -> list[Imported]:
    """Write a session's aligned images, split, under ``staging``; a session of fewer than 2
    adds its photos to ``left_out``."""
    if len(aligned) < 2:
        left_out += [LeftOut(_relative(item.photo, photos), SMALL_SESSION, f"{len(aligned)} usable photo in "
                             f"{_relative(folder, photos)}; a session needs a train and a test image")
                     for item in aligned]
        return []
    tests, imported = set(held_out_positions(len(aligned), test_fraction)), []
    for index, item in enumerate(aligned):
        image = Path(_relative(folder, photos)) / ("test" if index in tests else "train") / f"{item.photo.name}.png"
        (staging / image).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(staging / image, lambda file, item=item: item.image.save(file, format="PNG"))
        imported.append(Imported(_relative(item.photo, photos), str(image), round(item.face.score, 3),
                                 round(item.face.confidence, 3), round(item.side, 1)))
    return imported


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


def _beside(out: Path, kind: str) -> Path:
    """A new hidden name beside ``out``, unique to this call: '.<name>.<random>.<kind>'."""
    return out.parent / f".{out.name}.{secrets.token_hex(6)}.{kind}"


def _replace(staging: Path, out: Path) -> None:
    """Rename the complete ``staging`` folder to ``out``; an old ``out`` (checked to be an
    import's output) is moved aside first, put back if the rename fails, removed after."""
    if not out.exists():
        os.rename(staging, out)
        return
    old = _beside(out, "old")
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old)
