"""Image sources and the Avalanche scenario of one person's photo sessions.

Definitions:

- An *image* is a float32 tensor 3xHxW with values in [0, 1]; H = W = the card's resolution.
- A *session* is one capture of a person: its train images and its test images, different
  frames of the same capture. A person's sessions are in stream order.
- A *frame* number names an image within its session: train images first, then test images.
  FaceWorld renders train frames 0..n_train-1 and test frames n_train..n_train+n_test-1; a
  folder session numbers its files in name order, train files first.
- ``Scenario.benchmark(person)`` is an Avalanche ``CLScenario`` whose ``train_stream[t]`` and
  ``test_stream[t]`` are the train and test images of session t. A sample is
  ``[image, session]``; each dataset carries the data attributes ``session`` (int, the stream
  index), ``person`` (str) and ``frame`` (int).

Images are read or rendered once per (source, person) and kept in memory (the last few
persons), so building a benchmark again is cheap.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from facebench.cards import Card, load_card
from facebench.errors import FacebenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


class DataError(FacebenchError):
    """An image that cannot be read, a folder without the expected layout, an unknown person."""


@dataclass(frozen=True)
class Images:
    """The images of one split of one session, their frame numbers and, for FaceWorld, factors."""

    images: torch.Tensor  # (N, 3, H, W), float32 in [0, 1]
    frames: list[int]
    factors: Any = None  # facebench.faceworld.Factors, or None for real photos


@dataclass(frozen=True)
class Session:
    """One capture session of a person."""

    name: str
    train: Images
    test: Images


@dataclass(frozen=True)
class FaceWorldSource:
    """Persons '0'..'persons-1' of ``FaceWorld(world_seed)``, rendered at ``resolution``."""

    world_seed: int
    persons: int
    sessions: int
    train_per_session: int
    test_per_session: int
    resolution: int

    def person_ids(self) -> list[str]:
        return [str(person) for person in range(self.persons)]

    def counts(self, person: str) -> list[tuple[int, int]]:
        return [(self.train_per_session, self.test_per_session)] * self.sessions

    def read(self, person: str) -> list[Session]:
        from facebench.faceworld import FaceWorld

        world = FaceWorld(world_seed=self.world_seed)

        def render(session: int, frames: range) -> Images:
            images, factors = world.render(
                person=int(person), session=session, frames=frames, size=self.resolution
            )
            return Images(images, list(frames), factors)

        n_train, n_test = self.train_per_session, self.test_per_session
        return [
            Session(str(t), render(t, range(n_train)), render(t, range(n_train, n_train + n_test)))
            for t in range(self.sessions)
        ]


@dataclass(frozen=True)
class FolderSource:
    """Real photos in ``root/<person>/<session>/{train,test}/*.{png,jpg,jpeg,webp}``.

    Persons and sessions are the sub-folders, in name order. Each image is converted to RGB,
    turned upright by its EXIF orientation, centre-cropped to a square and resized to
    ``resolution``. An unreadable file is an error, or with ``on_bad_image="skip"`` a warning
    and the file left out. A session without train or without test images is an error.
    """

    root: Path
    resolution: int
    on_bad_image: str

    def person_ids(self) -> list[str]:
        persons = _subfolders(self.root)
        if not persons:
            raise DataError(f"{self.root}: no person folders (expected root/<person>/<session>/)")
        return [person.name for person in persons]

    def counts(self, person: str) -> list[tuple[int, int]]:
        return [
            (len(_image_files(folder / "train")), len(_image_files(folder / "test")))
            for folder in self._sessions(person)
        ]

    def read(self, person: str) -> list[Session]:
        return [self._read_session(folder) for folder in self._sessions(person)]

    def _sessions(self, person: str) -> list[Path]:
        sessions = _subfolders(self.root / person)
        if not sessions:
            raise DataError(f"{self.root / person}: no session folders")
        return sessions

    def _read_session(self, folder: Path) -> Session:
        train, test = _image_files(folder / "train"), _image_files(folder / "test")
        return Session(
            folder.name,
            self._read_split(folder, "train", train, first_frame=0),
            self._read_split(folder, "test", test, first_frame=len(train)),
        )

    def _read_split(self, folder: Path, split: str, files: list[Path], first_frame: int) -> Images:
        images, frames = [], []
        for frame, path in enumerate(files, first_frame):
            image = self._read_image(path)
            if image is not None:
                images.append(image)
                frames.append(frame)
        if not images:
            readable = "readable " if files else ""
            raise DataError(f"session {folder}: no {readable}{split} images in {folder / split}")
        return Images(torch.stack(images), frames)

    def _read_image(self, path: Path) -> torch.Tensor | None:
        """The image in ``path``, or None where it cannot be read and bad images are skipped."""
        try:
            with Image.open(path) as image:
                square = ImageOps.fit(
                    ImageOps.exif_transpose(image).convert("RGB"),
                    (self.resolution, self.resolution),
                    method=Image.Resampling.LANCZOS,
                )
        except Exception as error:  # a broken file can fail in any decoder, in any way
            if self.on_bad_image == "skip":
                warnings.warn(f"left out unreadable image {path}: {error}")
                return None
            raise DataError(
                f"cannot read image {path}: {error} (on_bad_image: skip in the card's source "
                "leaves such files out)"
            ) from None
        pixels = np.asarray(square, dtype=np.float32) / 255.0
        return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


Source = FaceWorldSource | FolderSource


def source_of(card: Card) -> Source:
    """The image source a validated card describes."""
    params, resolution = dict(card.data["source"]), card.data["resolution"]
    kind = params.pop("kind")
    if kind == "faceworld":
        return FaceWorldSource(resolution=resolution, **params)
    root = card.path.parent / Path(params["root"]).expanduser()
    return FolderSource(root.resolve(), resolution, params["on_bad_image"])


@functools.lru_cache(maxsize=8)
def _read_person(source: Source, person: str) -> tuple[Session, ...]:
    return tuple(source.read(person))


class Scenario:
    """A scenario card and the photo sessions of its persons."""

    def __init__(self, card: Card):
        self.card = card
        self.source = source_of(card)

    @property
    def path(self) -> Path:
        """The card file."""
        return self.card.path

    @property
    def name(self) -> str:
        return self.card.name

    @functools.cached_property
    def persons(self) -> list[str]:
        """Person ids, in order."""
        return self.source.person_ids()

    def counts(self) -> dict[str, list[tuple[int, int]]]:
        """(train, test) image counts per session, per person, without reading any image."""
        return {person: self.source.counts(person) for person in self.persons}

    def sessions(self, person: str | int) -> tuple[Session, ...]:
        """A person's sessions in stream order, with their images and (FaceWorld) factors."""
        return _read_person(self.source, self._person_id(person))

    def benchmark(self, person: str | int):
        """The Avalanche ``CLScenario`` of a person: one experience per session (module doc)."""
        from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
        from avalanche.benchmarks.utils import AvalancheDataset, DataAttribute
        from avalanche.benchmarks.utils.flat_data import ConstantSequence

        person = self._person_id(person)

        def dataset(split: Images, session: int) -> AvalancheDataset:
            n = len(split.frames)
            return AvalancheDataset(
                [torch.utils.data.TensorDataset(split.images)],
                data_attributes=[
                    DataAttribute(ConstantSequence(session, n), "session", use_in_getitem=True),
                    DataAttribute(ConstantSequence(person, n), "person"),
                    DataAttribute(split.frames, "frame"),
                ],
            )

        sessions = self.sessions(person)
        return benchmark_from_datasets(
            train=[dataset(session.train, t) for t, session in enumerate(sessions)],
            test=[dataset(session.test, t) for t, session in enumerate(sessions)],
        )

    def _person_id(self, person: str | int) -> str:
        person = str(person)
        if person not in self.persons:
            raise DataError(
                f"unknown person '{person}' in scenario {self.name} ({self.path}); "
                f"persons: {', '.join(self.persons)}"
            )
        return person


def load_scenario(name_or_path: str | Path) -> Scenario:
    """The scenario of a stock card name or a card path (see ``facebench.cards``)."""
    return Scenario(load_card(name_or_path))


def _subfolders(folder: Path) -> list[Path]:
    """The visible sub-folders of ``folder`` in name order; an error if it is not a folder."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    """The visible image files in ``folder`` in name order (none if there is no such folder)."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )
