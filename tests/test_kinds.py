"""facebench.run.kinds: how each strategy kind (sequential, cumulative, joint) lays a stream of
T sessions out as experiences, their steps and mini-batch sizes, which matrix row each
experience fills and which sessions it scores, and what training data the kind holds.

A tiny example: three sessions of 2, 3 and 1 items, told apart by their ``session`` attribute.
"""

import pytest
import torch

from facebench.data.items import items_dataset
from facebench.protocol import Protocol
from facebench.registry import get_strategy
from facebench.run.kinds import KINDS, CumulativeKind, JointKind, SequentialKind

SIZES = (2, 3, 1)
T = len(SIZES)
PROTOCOL = Protocol(steps_per_session=7, batch_new=2, batch_replay=3)


def _own():
    g = torch.Generator().manual_seed(0)
    return [items_dataset(torch.randn(n, 4, generator=g), torch.rand(n, 3, 2, 2, generator=g), t)
            for t, n in enumerate(SIZES)]


def _sessions(dataset) -> list[int]:
    return [int(s) for s in dataset.session]


def _latents(dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def test_kinds_by_name():
    assert set(KINDS) == {"sequential", "cumulative", "joint"}
    assert all(kind.name == name for name, kind in KINDS.items())
    assert isinstance(KINDS["sequential"], SequentialKind)
    assert isinstance(KINDS["cumulative"], CumulativeKind) and isinstance(KINDS["joint"], JointKind)


def test_sequential_trains_each_session_on_its_own_and_scores_the_seen_ones():
    kind, own = KINDS["sequential"], _own()
    experiences = kind.experiences(own)
    assert [_sessions(e) for e in experiences] == [[0, 0], [1, 1, 1], [2]]
    assert all(torch.equal(_latents(e), _latents(o)) for e, o in zip(experiences, own))
    assert kind.steps(PROTOCOL, T) == 7
    assert kind.batch_size(PROTOCOL) == 2  # replay plugins add batch_replay of their own
    assert kind.rows(T) == T
    assert [kind.scored(t, T) for t in range(T)] == [(0, 0), (1, 1), (2, 2)]
    assert kind.held(experiences) is None


def test_cumulative_trains_on_everything_seen_so_far_with_a_replay_runs_batch():
    kind, own = KINDS["cumulative"], _own()
    experiences = kind.experiences(own)
    assert [_sessions(e) for e in experiences] == [[0, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 2]]
    everything = torch.cat([_latents(o) for o in own])
    for t, e in enumerate(experiences):
        assert torch.equal(_latents(e), everything[: sum(SIZES[: t + 1])])
    assert kind.steps(PROTOCOL, T) == 7
    assert kind.batch_size(PROTOCOL) == 2 + 3
    assert kind.rows(T) == T
    assert [kind.scored(t, T) for t in range(T)] == [(0, 0), (1, 1), (2, 2)]
    held = kind.held(experiences)
    assert len(held) == sum(SIZES) and torch.equal(_latents(held), everything)


def test_joint_trains_once_on_everything_for_as_many_steps_as_a_sequential_run():
    kind, own = KINDS["joint"], _own()
    [experience] = kind.experiences(own)
    assert _sessions(experience) == [0, 0, 1, 1, 1, 2]
    assert torch.equal(_latents(experience), torch.cat([_latents(o) for o in own]))
    assert kind.steps(PROTOCOL, T) == T * 7 == T * KINDS["sequential"].steps(PROTOCOL, T)
    assert kind.batch_size(PROTOCOL) == 2 + 3
    assert kind.rows(T) == 1
    assert kind.scored(0, T) == (0, T - 1)  # its one model, on every session
    assert len(kind.held([experience])) == sum(SIZES)


@pytest.mark.parametrize("name", ["sequential", "cumulative", "joint"])
def test_every_session_is_scored_once_the_last_experience_is_done(name):
    kind = KINDS[name]
    experiences = kind.experiences(_own())
    rows = [kind.scored(t, T) for t in range(len(experiences))]
    assert rows[-1] == (kind.rows(T) - 1, T - 1)
    assert sorted({row for row, _ in rows}) == list(range(kind.rows(T)))


def test_one_session_stream():
    [own] = _own()[:1]
    for kind in KINDS.values():
        [experience] = kind.experiences([own])
        assert len(experience) == len(own)
        assert kind.rows(1) == 1 and kind.scored(0, 1) == (0, 0)
        assert kind.steps(PROTOCOL, 1) == 7


@pytest.mark.parametrize("strategy, kind", [("naive", "sequential"), ("er-hull", "sequential"),
                                            ("cumulative", "cumulative"), ("joint", "joint")])
def test_built_in_strategies_have_their_kind(strategy, kind):
    entry = get_strategy(strategy)
    assert entry.kind == kind and entry.strategy_kind is KINDS[kind]
