"""facebench.run.template: ``StepBudget`` runs each experience's own number of steps (one count
for all, or one per experience), and ``PersonalizationTemplate`` trains every experience with a
fresh Adam (protocol v2): no optimiser state carries over from one session to the next, so an
experience trains exactly as a new template would from the same model.

Tiny runs on the conformance kit's tiny generator with a mean squared error for the perceptual
network.
"""

import copy

import pytest
import torch
from avalanche.core import SupervisedPlugin

from facebench.data.items import items_dataset
from facebench.models.generator import Generator
from facebench.protocol import Protocol
from facebench.run.template import PersonalizationTemplate, StepBudget, training_stream
from facebench.testing import TINY_GENERATOR

SIZES = (3, 2, 4)
PROTOCOL = Protocol(steps_per_session=3, batch_new=2, batch_replay=2, lr=1e-2)


class _Squared(torch.nn.Module):
    def forward(self, output, target):
        return (output - target).square().mean(dim=(1, 2, 3))


class _Adam(SupervisedPlugin):
    """Per experience: the optimiser's state entries before its first step, the Adam step count
    after each of its steps, and the optimiser object."""

    def __init__(self):
        super().__init__()
        self.state_at_start, self.step_counts, self.optimizers = [], [], []

    def before_training_exp(self, strategy, **kwargs):
        self.step_counts.append([])

    def before_forward(self, strategy, **kwargs):
        if not self.step_counts[-1]:
            self.state_at_start.append(len(strategy.optimizer.state))
            self.optimizers.append(strategy.optimizer)

    def after_training_iteration(self, strategy, **kwargs):
        counts = {int(s["step"]) for s in strategy.optimizer.state.values()}
        assert len(counts) == 1, counts
        self.step_counts[-1].append(counts.pop())


def _sessions():
    g = torch.Generator().manual_seed(1)
    size, dim = TINY_GENERATOR["resolution"], TINY_GENERATOR["w_dim"]
    return [items_dataset(torch.randn(n, dim, generator=g), torch.rand(n, 3, size, size, generator=g), t)
            for t, n in enumerate(SIZES)]


def _template(generator, plugins=(), steps=None):
    return PersonalizationTemplate(synthesis=generator.synthesis, perceptual=_Squared(), protocol=PROTOCOL,
                                   plugins=list(plugins), steps=steps)


def _generic():
    torch.manual_seed(0)
    return Generator(**TINY_GENERATOR).requires_grad_(True)


def test_every_experience_starts_with_a_fresh_adam_state():
    watch = _Adam()
    template = _template(_generic(), [watch])
    for experience in training_stream(_sessions()):
        template.train(experience, eval_streams=[])
    assert watch.state_at_start == [0, 0, 0]  # empty before the first step of each experience
    assert watch.step_counts == [[1, 2, 3]] * 3  # Adam's step count (bias correction) restarts too
    n = sum(1 for p in template.model.parameters() if p.requires_grad)
    assert len(template.optimizer.state) == n  # the last experience did build a state
    assert template.optimizer.param_groups[0]["lr"] == PROTOCOL.lr


def test_an_experience_trains_as_a_new_template_would_from_the_same_model():
    """The second experience of a run ends with the weights a fresh template reaches from the
    model after the first, with the same shuffling seed: nothing but the weights carries over."""
    sessions = _sessions()
    generator = _generic()
    template = _template(generator)
    stream = training_stream(sessions)
    torch.manual_seed(3)
    template.train(stream[0], eval_streams=[])
    after_first = copy.deepcopy(generator)
    torch.manual_seed(4)
    template.train(stream[1], eval_streams=[])

    fresh = _template(after_first)
    [second] = training_stream(sessions[1:2])
    torch.manual_seed(4)
    fresh.train(second, eval_streams=[])
    for (name, a), b in zip(generator.synthesis.state_dict().items(), after_first.synthesis.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("steps, expected", [(2, [2, 2, 2]), ([1, 3, 2], [1, 3, 2]), (None, [3, 3, 3])])
def test_the_step_budget_runs_each_experience_its_own_steps(steps, expected):
    watch = _Adam()
    template = _template(_generic(), [watch], steps=steps)
    assert isinstance(template.budget, StepBudget) and template.budget.most == max(expected)
    assert template.train_epochs == max(expected)  # enough epochs for the longest experience
    for experience in training_stream(_sessions()):
        template.train(experience, eval_streams=[])
    assert [len(c) for c in watch.step_counts] == expected
    assert template.budget.seconds > 0
