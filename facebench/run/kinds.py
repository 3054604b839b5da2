"""Strategy kinds: how a strategy's training data, steps and mini-batches lie over the stream,
when its model is scored, and which training data it holds as memory.

Let own[t] be the anchors of session t (T sessions) and ``p`` the run's ``Protocol``.

- ``sequential``: experience t trains on own[t] for ``p.steps_per_session`` steps with
  mini-batches of ``p.batch_new`` samples (replay plugins add ``p.batch_replay`` of their own);
  after experience t the model is scored on sessions 0..t: row t of a T x T matrix.
  It holds no training data.
- ``cumulative``: experience t trains on own[0] + ... + own[t] for ``p.steps_per_session``
  steps, mini-batches of ``p.batch_new + p.batch_replay`` (the size of a replay run's
  mini-batches); scored like ``sequential``. It holds every photo seen.
- ``joint``: one experience on own[0] + ... + own[T-1] for ``T * p.steps_per_session`` steps
  (as many as a sequential run takes in all), mini-batches of ``p.batch_new + p.batch_replay``;
  its one model is scored on every session: a 1 x T matrix. It holds every photo.

``KINDS`` maps each name to its kind; the registry's ``kind=`` takes these names.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

from facebench.protocol import Protocol


def _concat(datasets: Sequence):
    out = datasets[0]
    for more in datasets[1:]:
        out = out.concat(more)
    return out


class SequentialKind:
    """The sequential kind, and the base of the others: each overrides what differs (module doc)."""

    name: ClassVar[str] = "sequential"

    def experiences(self, own: Sequence) -> list:
        """The training datasets of the run's experiences, in order, from the sessions' ``own``."""
        return list(own)

    def steps(self, protocol: Protocol, sessions: int) -> int:
        """Optimiser steps of each experience."""
        return protocol.steps_per_session

    def batch_size(self, protocol: Protocol) -> int:
        """Samples of an experience's own data per mini-batch (replay plugins add theirs)."""
        return protocol.batch_new

    def rows(self, sessions: int) -> int:
        """Rows of the score matrices: one per scored model."""
        return sessions

    def scored(self, experience: int, sessions: int) -> tuple[int, int]:
        """After ``experience``: (the matrix row it fills, the last session k it scores; 0..k are scored)."""
        return experience, experience

    def held(self, experiences: Sequence):
        """The training data the strategy holds after the last session, as kept memory (None: none)."""
        return None


class CumulativeKind(SequentialKind):
    name: ClassVar[str] = "cumulative"

    def experiences(self, own: Sequence) -> list:
        return [_concat(own[: t + 1]) for t in range(len(own))]

    def batch_size(self, protocol: Protocol) -> int:
        return protocol.batch_new + protocol.batch_replay

    def held(self, experiences: Sequence):
        return experiences[-1]


class JointKind(CumulativeKind):
    name: ClassVar[str] = "joint"

    def experiences(self, own: Sequence) -> list:
        return [_concat(own)]

    def steps(self, protocol: Protocol, sessions: int) -> int:
        return protocol.steps_per_session * sessions

    def rows(self, sessions: int) -> int:
        return 1

    def scored(self, experience: int, sessions: int) -> tuple[int, int]:
        return 0, sessions - 1


KINDS: dict[str, SequentialKind] = {kind.name: kind for kind in (SequentialKind(), CumulativeKind(), JointKind())}
"""Every strategy kind by name."""
