"""The Avalanche scenario of one person's photo sessions, from a scenario card.

``Scenario.benchmark(person)`` is an Avalanche ``CLScenario`` whose ``train_stream[t]`` and
``test_stream[t]`` are the train and test images of session t (``facebench.data.sources``
defines images, sessions and frames). A sample is ``[image, session]``; each dataset carries
the data attributes ``session`` (int, the stream index), ``person`` (str) and ``frame`` (int).

Images are read or rendered once per (source, person) and kept in memory (the last few
persons), so building a benchmark again is cheap.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from facebench.data.cards import Card, load_card
from facebench.data.sources import DataError, Images, Session, Source, source_of

@functools.lru_cache(maxsize=8)
def _read_person(source: Source, person: str) -> tuple[Session, ...]:
    return tuple(source.read(person))


@functools.lru_cache(maxsize=8)
def _images_sha256(source: Source, person: str) -> str:
    digest = hashlib.sha256()
    for session in _read_person(source, person):
        for split in (session.train, session.test):
            digest.update(split.images.float().contiguous().numpy().tobytes())
    return digest.hexdigest()


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

    def images_sha256(self, person: str | int) -> str:
        """sha256 of a person's images as a run sees them: for each session in stream order, its
        train images then its test images, each as float32 bytes (C order). Two folders of other
        photos behind the same card text, or an added photo, give another hash. Computed once per
        (source, person), like the images themselves."""
        return _images_sha256(self.source, self._person_id(person))

    def benchmark(self, person: str | int):
        """The Avalanche ``CLScenario`` of a person: one experience per session (module doc)."""
        from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
        from avalanche.benchmarks.utils import AvalancheDataset, DataAttribute
        from avalanche.benchmarks.utils.flat_data import ConstantSequence

        person = self._person_id(person)

        import torch

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
    """The scenario of a stock card name or a card path (see ``facebench.data.cards``)."""
    return Scenario(load_card(name_or_path))
