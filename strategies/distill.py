"""distill: output distillation towards the previous generator at random points of the person's P0."""

from __future__ import annotations

import copy

import numpy as np
import torch
from avalanche.core import SupervisedPlugin

from facebench import register_strategy
from facebench.run.evaluator import p0_latents
from facebench.data.items import item_tensors


@register_strategy("distill")
def distill(weight: float = 1.0, samples: int = 2, mix: int = 3, seed: int = 0) -> list:
    """Output distillation: pull the generator towards the previous one at random points of P0; keeps latents, no photo.

    The latents of every earlier session's training anchors are kept (no image). While session
    t >= 1 trains, each mini-batch adds

        weight * mean over j of loss(G(w_j), G_prev(w_j))

    with ``loss`` the fine-tuning criterion (perceptual + L2), G_prev the generator as it was
    when session t began (frozen), and w_1..w_samples fresh random points of P0 (each a convex
    combination, weights Dirichlet(1, ..., 1), of ``mix`` distinct random kept latents, as the
    evaluator samples P0). ``samples`` = 2 matches the 2 replayed photos of a replay mini-batch.
    Kept memory: the latents (the frozen copy exists only while a session trains).
    """
    return [DistillPlugin(weight, samples, mix, seed)]


class DistillPlugin(SupervisedPlugin):
    """The distillation term of ``distill``; ``latents`` holds the kept anchor latents (n, D)."""

    def __init__(self, weight: float, samples: int, mix: int, seed: int = 0):
        super().__init__()
        self.weight, self.samples, self.mix = weight, samples, mix
        self.rng = np.random.default_rng(seed)
        self.latents = None
        self.teacher = None

    def before_training_exp(self, strategy, **kwargs):
        if self.latents is not None:
            self.teacher = copy.deepcopy(strategy.model).eval().requires_grad_(False)

    def before_backward(self, strategy, **kwargs):
        if self.teacher is None:
            return
        w = p0_latents(self.latents, self.samples, self.mix, self.rng).to(strategy.device)
        with torch.no_grad():
            target = self.teacher(w)
        strategy.loss = strategy.loss + self.weight * strategy._criterion(strategy.model(w), target)

    def after_training_exp(self, strategy, **kwargs):
        (new,) = item_tensors(strategy.experience.dataset, 0)
        new = new.cpu()
        self.latents = new if self.latents is None else torch.cat([self.latents, new])
        self.teacher = None

    def kept_memory(self) -> tuple[int, int]:
        if self.latents is None:
            return 0, 0
        return len(self.latents), self.latents.numel() * self.latents.element_size()
