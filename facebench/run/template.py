"""The fine-tuning template of the MyStyle recipe, as an Avalanche template.

``PersonalizationTemplate`` is an Avalanche ``SupervisedTemplate`` whose input is the anchor w
(``facebench.run.anchors``), whose model is the generator's synthesis network and whose target
is the image; the criterion is ``perceptual(G(w), x) + l2_weight * mean((G(w) - x)^2)``
averaged over the mini-batch; a fresh Adam on all generator weights for every training
experience (protocol v2: no optimiser state carries over from one session to the next, so a
session's fine-tuning is the same function of the model, the data and the seed in a run, in the
headroom check and in the joint references). A training experience runs exactly its number of
mini-batches (``StepBudget``).
"""

from __future__ import annotations

import time
import warnings
from typing import Sequence

import torch
from torch import nn

from avalanche.core import SupervisedPlugin
from avalanche.training.templates import SupervisedTemplate
from facebench.errors import FacebenchError
from facebench.models import reconstruction_loss
from facebench.protocol import Protocol


class ReconstructionCriterion(nn.Module):
    """Mean over the mini-batch of perceptual(G(w), x) + l2_weight * mean_pixels (G(w) - x)^2."""

    def __init__(self, perceptual: nn.Module, l2_weight: float):
        super().__init__()
        self.perceptual, self.l2_weight = perceptual, l2_weight

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return reconstruction_loss(self.perceptual, output, target, self.l2_weight).mean()


class NonFiniteLoss(FacebenchError):
    """The fine-tuning loss became NaN or infinite."""


class StepBudget(SupervisedPlugin):
    """Stops each training experience after exactly its ``steps`` mini-batches (one count for
    every experience, or one per experience index of the stream), reports each step to
    ``progress(stage="train", done, total)`` if given, and stops the run with ``NonFiniteLoss``
    (naming the session and step) if the loss is not finite.

    ``seconds``: wall-clock seconds of fine-tuning summed over experiences, each from the start
    of the experience (this plugin runs first) to its last step; what plugins do after an
    experience (buffer selection, evaluation) is not in it.
    """

    def __init__(self, steps: int | Sequence[int], progress=None):
        super().__init__()
        self.schedule = steps
        self.steps, self.progress = self.most, progress
        self.done = 0
        self.seconds = 0.0
        self._started = 0.0

    @property
    def most(self) -> int:
        """The most steps any experience runs."""
        return self.schedule if isinstance(self.schedule, int) else max(self.schedule)

    def before_training_exp(self, strategy, **kwargs):
        self.done = 0
        index = strategy.experience.current_experience
        self.steps = self.schedule if isinstance(self.schedule, int) else self.schedule[index]
        self._started = time.perf_counter()

    def before_backward(self, strategy, **kwargs):
        if not torch.isfinite(strategy.loss):
            session = strategy.experience.current_experience
            raise NonFiniteLoss(f"non-finite fine-tuning loss ({float(strategy.loss.detach())}) at session {session}, "
                                f"step {self.done + 1}")

    def after_training_iteration(self, strategy, **kwargs):
        self.done += 1
        if self.progress:
            self.progress("train", self.done, self.steps)
        if self.done >= self.steps:
            self.seconds += time.perf_counter() - self._started
            strategy.stop_training()


class PersonalizationTemplate(SupervisedTemplate):
    """Avalanche template of the MyStyle recipe: input w, model G.synthesis, target image.

    Each training experience runs exactly ``steps`` mini-batches (one count, or one per
    experience index) of ``batch_size`` samples of the experience (replay plugins add their own
    samples to each mini-batch): ``train_epochs`` = the most steps covers that many for any
    dataset size (an epoch has at least one mini-batch) and ``StepBudget`` stops there
    (``budget``: that plugin, whose ``seconds`` time the fine-tuning). Before every experience
    the Adam state is reset (``make_optimizer``).

    ``protocol``: the run's settings, which plugins read as ``strategy.protocol``.
    """

    def __init__(self, *, synthesis: nn.Module, perceptual: nn.Module, protocol: Protocol, plugins=(),
                 steps: int | Sequence[int] | None = None, batch_size: int | None = None, progress=None, device: str = "cpu"):
        from avalanche.training.plugins import EvaluationPlugin

        steps = steps or protocol.steps_per_session
        batch_size = batch_size or protocol.batch_new
        budget = StepBudget(steps, progress)
        with warnings.catch_warnings():  # the protocol evaluator scores runs, not Avalanche's loggers
            warnings.filterwarnings("ignore", message="No loggers specified")
            evaluator = EvaluationPlugin(loggers=[])
        super().__init__(
            model=synthesis,
            optimizer=torch.optim.Adam(synthesis.parameters(), lr=protocol.lr),
            criterion=ReconstructionCriterion(perceptual, protocol.l2_weight),
            train_mb_size=batch_size,
            train_epochs=budget.most,
            eval_mb_size=64,
            device=device,
            plugins=[budget, *plugins],
            evaluator=evaluator,
        )
        self.protocol: Protocol = protocol
        self.budget = budget

    def make_optimizer(self, **kwargs):
        """Avalanche's optimizer update before an experience, with the Adam state reset."""
        super().make_optimizer(**{**kwargs, "reset_optimizer_state": True})


def training_stream(datasets) -> list:
    """The Avalanche training experiences of ``datasets``, one experience per dataset, in order
    (what ``PersonalizationTemplate.train`` takes)."""
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets

    return list(benchmark_from_datasets(train=list(datasets), test=list(datasets)).train_stream)
