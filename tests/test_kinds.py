"""facebench.run.kinds: how each strategy kind (sequential, cumulative, joint, joint-so-far) lays
a stream of T sessions out as experiences, their steps (one count per experience) and
mini-batch sizes, where each experience starts from, which matrix row each experience fills and
which sessions it scores, and what training data the kind holds.

A tiny example: three sessions of 2, 3 and 1 items, told apart by their ``session`` attribute.
And joint-so-far trained for real through ``PersonalizationTemplate`` on the conformance kit's
tiny generator: experience t starts from the generic weights, sees sessions 0..t and runs
ceil(joint_steps * (t + 1) / T) steps.
"""

import pytest
import torch
from avalanche.core import SupervisedPlugin

from facebench.data.items import items_dataset
from facebench.protocol import Protocol
from facebench.registry import get_strategy
from facebench.run.kinds import KINDS, CumulativeKind, JointKind, JointSoFarKind, SequentialKind, StartFromGeneric

SIZES = (2, 3, 1)
T = len(SIZES)
PROTOCOL = Protocol(steps_per_session=7, joint_steps=10, batch_new=2, batch_replay=3)


def _own():
    g = torch.Generator().manual_seed(0)
    return [items_dataset(torch.randn(n, 4, generator=g), torch.rand(n, 3, 2, 2, generator=g), t)
            for t, n in enumerate(SIZES)]


def _sessions(dataset) -> list[int]:
    return [int(s) for s in dataset.session]


def _latents(dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def test_kinds_by_name():
    assert set(KINDS) == {"sequential", "cumulative", "joint", "joint-so-far"}
    assert all(kind.name == name for name, kind in KINDS.items())
    assert isinstance(KINDS["sequential"], SequentialKind)
    assert isinstance(KINDS["cumulative"], CumulativeKind) and isinstance(KINDS["joint"], JointKind)
    assert isinstance(KINDS["joint-so-far"], JointSoFarKind)


def test_sequential_trains_each_session_on_its_own_and_scores_the_seen_ones():
    kind, own = KINDS["sequential"], _own()
    experiences = kind.experiences(own)
    assert [_sessions(e) for e in experiences] == [[0, 0], [1, 1, 1], [2]]
    assert all(torch.equal(_latents(e), _latents(o)) for e, o in zip(experiences, own))
    assert kind.steps(PROTOCOL, T) == [7, 7, 7]
    assert kind.batch_size(PROTOCOL) == 2  # replay plugins add batch_replay of their own
    assert kind.rows(T) == T
    assert [kind.scored(t, T) for t in range(T)] == [(0, 0), (1, 1), (2, 2)]
    assert kind.held(experiences) is None
    assert kind.plugins(object()) == []  # each experience continues from the one before


def test_cumulative_trains_on_everything_seen_so_far_with_a_replay_runs_batch():
    kind, own = KINDS["cumulative"], _own()
    experiences = kind.experiences(own)
    assert [_sessions(e) for e in experiences] == [[0, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 2]]
    everything = torch.cat([_latents(o) for o in own])
    for t, e in enumerate(experiences):
        assert torch.equal(_latents(e), everything[: sum(SIZES[: t + 1])])
    assert kind.steps(PROTOCOL, T) == [7, 7, 7]
    assert kind.batch_size(PROTOCOL) == 2 + 3
    assert kind.rows(T) == T
    assert kind.plugins(object()) == []
    assert [kind.scored(t, T) for t in range(T)] == [(0, 0), (1, 1), (2, 2)]
    held = kind.held(experiences)
    assert len(held) == sum(SIZES) and torch.equal(_latents(held), everything)


def test_joint_trains_once_on_everything_for_its_own_steps():
    kind, own = KINDS["joint"], _own()
    [experience] = kind.experiences(own)
    assert _sessions(experience) == [0, 0, 1, 1, 1, 2]
    assert torch.equal(_latents(experience), torch.cat([_latents(o) for o in own]))
    assert kind.steps(PROTOCOL, T) == [10]  # joint_steps, not tied to steps_per_session
    assert kind.steps(Protocol(steps_per_session=7, joint_steps=4), T) == [4]
    assert kind.batch_size(PROTOCOL) == 2 + 3
    assert kind.rows(T) == 1
    assert kind.scored(0, T) == (0, T - 1)  # its one model, on every session
    assert len(kind.held([experience])) == sum(SIZES)
    assert kind.plugins(object()) == []


@pytest.mark.parametrize("name", ["sequential", "cumulative", "joint", "joint-so-far"])
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
        assert kind.steps(PROTOCOL, 1) == ([10] if kind.name.startswith("joint") else [7])


@pytest.mark.parametrize("strategy, kind", [("naive", "sequential"), ("er-hull", "sequential"),
                                            ("cumulative", "cumulative"), ("joint", "joint"),
                                            ("joint-so-far", "joint-so-far")])
def test_built_in_strategies_have_their_kind(strategy, kind):
    entry = get_strategy(strategy)
    assert entry.kind == kind and entry.strategy_kind is KINDS[kind]


def test_joint_so_far_trains_the_sessions_so_far_for_their_share_of_the_joint_steps():
    kind, own = KINDS["joint-so-far"], _own()
    experiences = kind.experiences(own)
    assert [_sessions(e) for e in experiences] == [[0, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 2]]
    assert kind.steps(PROTOCOL, T) == [4, 7, 10]  # ceil(10 * (t + 1) / 3): the last is joint's
    assert kind.steps(Protocol(joint_steps=6), T) == [2, 4, 6]
    assert kind.steps(Protocol(joint_steps=6), 4) == [2, 3, 5, 6]
    assert kind.steps(PROTOCOL, T)[-1] == KINDS["joint"].steps(PROTOCOL, T)[0]
    assert kind.batch_size(PROTOCOL) == 2 + 3
    assert kind.rows(T) == T  # scored like sequential: row t, sessions 0..t
    assert [kind.scored(t, T) for t in range(T)] == [(0, 0), (1, 1), (2, 2)]
    held = kind.held(experiences)
    assert len(held) == sum(SIZES) and torch.equal(_latents(held), torch.cat([_latents(o) for o in own]))


def test_joint_so_far_starts_every_experience_from_a_copy_of_the_generic_weights():
    from facebench.models.generator import Generator
    from facebench.testing import TINY_GENERATOR

    torch.manual_seed(0)
    generic = Generator(**TINY_GENERATOR)
    [start] = KINDS["joint-so-far"].plugins(generic)
    assert isinstance(start, StartFromGeneric)
    expected = {k: v.clone() for k, v in generic.synthesis.state_dict().items()}
    with torch.no_grad():
        for p in generic.synthesis.parameters():
            p.add_(1.0)  # the plugin keeps a copy: later changes to the generic model do not reach it
    assert all(torch.equal(start.state[k], v) for k, v in expected.items())


class _Watch(SupervisedPlugin):
    """Per experience: the synthesis weights before its first step, the sessions of every
    latent its mini-batches held, its steps, and the weights after it."""

    def __init__(self, session_of: dict):
        super().__init__()
        self.session_of = session_of
        self.first, self.seen, self.steps, self.last = [], [], [], []

    def before_training_exp(self, strategy, **kwargs):
        self.seen.append(set())
        self.steps.append(0)

    def before_forward(self, strategy, **kwargs):
        if self.steps[-1] == 0:
            self.first.append({k: v.detach().clone() for k, v in strategy.model.state_dict().items()})
        self.seen[-1] |= {self.session_of[tuple(w.tolist())] for w in strategy.mb_x}

    def after_training_iteration(self, strategy, **kwargs):
        self.steps[-1] += 1

    def after_training_exp(self, strategy, **kwargs):
        self.last.append({k: v.detach().clone() for k, v in strategy.model.state_dict().items()})


class _Squared(torch.nn.Module):
    def forward(self, output, target):
        return (output - target).square().mean(dim=(1, 2, 3))


def _tiny(kind, protocol, plugins=()):
    """(generic generator, generator, template, stream, session of each latent) of a tiny run of ``kind``."""
    import copy

    from facebench.models.generator import Generator
    from facebench.run.template import PersonalizationTemplate, training_stream
    from facebench.testing import TINY_GENERATOR

    torch.manual_seed(0)
    generic = Generator(**TINY_GENERATOR)
    generator = copy.deepcopy(generic).requires_grad_(True)
    g = torch.Generator().manual_seed(1)
    size, dim = TINY_GENERATOR["resolution"], TINY_GENERATOR["w_dim"]
    own = [items_dataset(torch.randn(n, dim, generator=g), torch.rand(n, 3, size, size, generator=g), t)
           for t, n in enumerate(SIZES)]
    session_of = {tuple(w.tolist()): t for t, o in enumerate(own) for w in _latents(o)}
    template = PersonalizationTemplate(synthesis=generator.synthesis, perceptual=_Squared(), protocol=protocol,
                                       plugins=[*kind.plugins(generic), *plugins], steps=kind.steps(protocol, T),
                                       batch_size=kind.batch_size(protocol))
    return generic, generator, template, training_stream(kind.experiences(own)), session_of


def _watched(kind, protocol) -> tuple:
    """(generic generator, generator, its ``_Watch``) after a whole tiny run of ``kind``."""
    watch = _Watch({})
    generic, generator, template, stream, watch.session_of = _tiny(kind, protocol, [watch])
    for experience in stream:
        template.train(experience, eval_streams=[])
    return generic, generator, watch


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_joint_so_far_retrains_the_generic_model_on_sessions_0_to_t_for_each_row():
    kind, protocol = KINDS["joint-so-far"], Protocol(joint_steps=5, batch_new=1, batch_replay=1, lr=1e-2)
    generic, generator, watch = _watched(kind, protocol)
    generic_state = generic.synthesis.state_dict()
    assert watch.steps == [2, 4, 5] == kind.steps(protocol, T)  # ceil(5 * (t + 1) / 3)
    for t in range(T):
        assert _equal(watch.first[t], generic_state), t  # afresh from the generic weights ...
        assert not _equal(watch.last[t], generic_state), t  # ... and trained
        assert watch.seen[t] <= set(range(t + 1)), (t, watch.seen[t])  # on sessions 0..t only
    assert watch.seen[T - 1] == set(range(T))
    assert _equal(generator.synthesis.state_dict(), watch.last[-1])


def test_a_sequential_run_continues_from_the_model_before():
    kind, protocol = KINDS["sequential"], Protocol(steps_per_session=2, batch_new=1, batch_replay=1, lr=1e-2)
    generic, _, watch = _watched(kind, protocol)
    assert watch.steps == [2, 2, 2] and watch.seen == [{0}, {1}, {2}]
    assert _equal(watch.first[0], generic.synthesis.state_dict())
    assert all(_equal(watch.first[t], watch.last[t - 1]) for t in range(1, T))


def test_the_last_joint_so_far_model_is_the_joint_model():
    """Same data, same steps, same start, a fresh Adam, the same shuffling seed: the same weights."""
    protocol = Protocol(joint_steps=4, batch_new=1, batch_replay=1, lr=1e-2)
    _, so_far, template, stream, _ = _tiny(KINDS["joint-so-far"], protocol)
    for experience in stream:
        torch.manual_seed(5)
        template.train(experience, eval_streams=[])
    _, joint, template, [experience], _ = _tiny(KINDS["joint"], protocol)
    torch.manual_seed(5)
    template.train(experience, eval_streams=[])
    assert _equal(so_far.synthesis.state_dict(), joint.synthesis.state_dict())
