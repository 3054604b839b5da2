"""Strategy kinds: how a strategy's training data, steps and mini-batches lie over the stream,
where each experience starts from, when its model is scored, and which training data it holds
as memory.

Let own[t] be the anchors of session t (T sessions) and ``p`` the run's ``Protocol``.

- ``sequential``: experience t trains on own[t] for ``p.steps_per_session`` steps with
  mini-batches of ``p.batch_new`` samples (replay plugins add ``p.batch_replay`` of their own),
  starting from the model after t - 1; after experience t the model is scored on sessions 0..t:
  row t of a T x T matrix. It holds no training data.
- ``cumulative``: experience t trains on own[0] + ... + own[t] for ``p.steps_per_session``
  steps, mini-batches of ``p.batch_new + p.batch_replay`` (the size of a replay run's
  mini-batches), from the model after t - 1; scored like ``sequential``. It holds every photo seen.
- ``joint``: one experience on own[0] + ... + own[T-1] for ``p.joint_steps`` steps (the upper
  bound, trained to convergence: ``docs/protocol-v2.md``), mini-batches of
  ``p.batch_new + p.batch_replay``; its one model is scored on every session: a 1 x T matrix.
  It holds every photo.
- ``joint-so-far``: experience t trains the *generic* model afresh on own[0] + ... + own[t] for
  ceil(``p.joint_steps`` * (t + 1) / T) steps (as many passes over its data as ``joint``),
  mini-batches of ``p.batch_new + p.batch_replay``; scored like ``sequential``, so its T x T
  matrix has exactly the AIP weights of every sequential row. It holds every photo.

``KINDS`` maps each name to its kind; the registry's ``kind=`` takes these names.
"""

from __future__ import annotations

import math
from typing import ClassVar, Sequence

from avalanche.core import SupervisedPlugin

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

    def steps(self, protocol: Protocol, sessions: int) -> list[int]:
        """Optimiser steps of each experience, in order."""
        return [protocol.steps_per_session] * sessions

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

    def plugins(self, generic) -> list:
        """Plugins that place each experience's start (``generic``: the generic generator); none:
        each experience continues from the model of the one before."""
        return []


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

    def steps(self, protocol: Protocol, sessions: int) -> list[int]:
        return [protocol.joint_steps]

    def rows(self, sessions: int) -> int:
        return 1

    def scored(self, experience: int, sessions: int) -> tuple[int, int]:
        return 0, sessions - 1


class JointSoFarKind(CumulativeKind):
    name: ClassVar[str] = "joint-so-far"

    def steps(self, protocol: Protocol, sessions: int) -> list[int]:
        return [math.ceil(protocol.joint_steps * (t + 1) / sessions) for t in range(sessions)]

    def plugins(self, generic) -> list:
        return [StartFromGeneric(generic.synthesis.state_dict())]


class StartFromGeneric(SupervisedPlugin):
    """Loads the generic synthesis weights ``state`` into the model before every training
    experience (a kind whose every experience trains the generic model afresh)."""

    def __init__(self, state: dict):
        super().__init__()
        self.state = {name: value.detach().clone() for name, value in state.items()}

    def before_training_exp(self, strategy, **kwargs):
        strategy.model.load_state_dict(self.state)


KINDS: dict[str, SequentialKind] = {kind.name: kind
                                    for kind in (SequentialKind(), CumulativeKind(), JointKind(), JointSoFarKind())}
"""Every strategy kind by name."""
