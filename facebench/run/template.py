"""Personalisation, the MyStyle recipe: anchors of a person, and the fine-tuning template.

Anchors: every training image x of a person is inverted once into W with the *generic*
generator (encoder start, then ``Protocol.anchor_steps`` steps of latent optimisation); the
pair (w, x) is a training sample from then on. Anchors are cached on disk, keyed by the zoo
assets' sha256s, the card hash, the person and the inversion settings, so that a changed
asset, card or setting never reuses a stale cache. The cache folder is ``$FACEBENCH_CACHE``
or ``~/.cache/facebench``.

Fine-tuning: ``PersonalizationTemplate`` is an Avalanche ``SupervisedTemplate`` whose input
is the anchor w, whose model is the generator's synthesis network and whose target is the
image; the criterion is ``perceptual(G(w), x) + l2_weight * mean((G(w) - x)^2)`` averaged
over the mini-batch; Adam on all generator weights. A session trains for exactly
``Protocol.steps_per_session`` mini-batches.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from avalanche.benchmarks.utils import AvalancheDataset, DataAttribute
from avalanche.core import SupervisedPlugin
from avalanche.training.templates import SupervisedTemplate
from facebench.errors import FacebenchError
from facebench.models import invert, reconstruction_loss
from facebench.protocol import Protocol


@dataclass(frozen=True)
class Zoo:
    """The four generic models of one resolution and their asset sha256s."""

    generator: nn.Module
    encoder: nn.Module
    perceptual: nn.Module
    identity: nn.Module
    sha256: dict[str, str]

    @classmethod
    def load(cls, resolution: int, device: str = "cpu") -> "Zoo":
        """The zoo's four assets at ``resolution``, frozen, on ``device``."""
        from facebench.models import zoo

        names = ("generator", "encoder", "perceptual", "identity")
        modules = {name: zoo.load(name, resolution).to(device) for name in names}
        for module in modules.values():
            module.requires_grad_(False)
        shas = {name: zoo.card(name, resolution)["sha256"] for name in names}
        return cls(**modules, sha256=shas)


def cache_dir() -> Path:
    """Where anchors are cached: $FACEBENCH_CACHE, else ~/.cache/facebench."""
    return Path(os.environ.get("FACEBENCH_CACHE") or Path.home() / ".cache" / "facebench")


def anchors_key(zoo: Zoo, card_sha256: str, person: str, protocol: Protocol) -> str:
    """The cache key of a person's anchors: sha256 of everything they depend on."""
    parts = {
        "zoo": zoo.sha256,
        "device": next(zoo.generator.parameters()).device.type,
        "card": card_sha256,
        "person": person,
        "anchor_steps": protocol.anchor_steps,
        "inversion_lr": protocol.inversion_lr,
        "l2_weight": protocol.l2_weight,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def person_anchors(zoo: Zoo, scenario, person: str, protocol: Protocol) -> list[torch.Tensor]:
    """Per session, the (n_train, w_dim) anchors of the person's training images (cached)."""
    key = anchors_key(zoo, scenario.card.sha256, person, protocol)
    path = cache_dir() / "anchors" / f"{key}.pt"
    if path.exists():
        try:
            return list(torch.load(path, weights_only=True))
        except Exception:  # a truncated or corrupt cache file is recomputed, never trusted
            path.unlink(missing_ok=True)
    sessions = scenario.sessions(person)
    device = next(zoo.generator.parameters()).device
    images = torch.cat([s.train.images for s in sessions]).to(device)
    latents, _ = invert(zoo.generator, zoo.encoder, images, steps=protocol.anchor_steps,
                        lr=protocol.inversion_lr, perceptual=zoo.perceptual, l2_weight=protocol.l2_weight)
    anchors = list(torch.split(latents.cpu(), [len(s.train.frames) for s in sessions]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(anchors, tmp)
    os.replace(tmp, path)
    return anchors


def anchor_dataset(latents: torch.Tensor, images: torch.Tensor, session: int) -> AvalancheDataset:
    """The training samples of one session: items ``(w, x, 0)``, with the data attributes
    ``targets_task_labels`` (all 0) and ``session``."""
    n = len(latents)
    return AvalancheDataset(
        [torch.utils.data.TensorDataset(latents, images, torch.zeros(n, dtype=torch.long))],
        data_attributes=[
            DataAttribute([0] * n, "targets_task_labels"),
            DataAttribute([session] * n, "session"),
        ],
    )


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
    """Stops each training experience after exactly ``steps`` mini-batches, reports each step to
    ``progress(stage="train", done, total)`` if given, and stops the run with ``NonFiniteLoss``
    (naming the session and step) if the loss is not finite."""

    def __init__(self, steps: int, progress=None):
        super().__init__()
        self.steps, self.progress = steps, progress
        self.done = 0

    def before_training_exp(self, strategy, **kwargs):
        self.done = 0

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
            strategy.stop_training()


class PersonalizationTemplate(SupervisedTemplate):
    """Avalanche template of the MyStyle recipe: input w, model G.synthesis, target image.

    Each training experience runs exactly ``steps`` mini-batches of ``batch_size`` samples of the
    experience (replay plugins add their own samples to each mini-batch): ``train_epochs`` =
    ``steps`` covers that many for any dataset size (an epoch has at least one mini-batch) and
    ``StepBudget`` stops there. ``protocol`` is kept as an attribute for plugins. ``pending_optimizer_state``, when set,
    is loaded into the optimizer once Avalanche has (re)built it for the next experience: this is
    how a resumed run continues with the optimizer state of the interrupted one.
    """

    def __init__(self, *, synthesis: nn.Module, perceptual: nn.Module, protocol: Protocol, plugins=(),
                 steps: int | None = None, batch_size: int | None = None, progress=None, device: str = "cpu"):
        from avalanche.training.plugins import EvaluationPlugin

        steps = steps or protocol.steps_per_session
        batch_size = batch_size or protocol.batch_new
        with warnings.catch_warnings():  # the protocol evaluator scores runs, not Avalanche's loggers
            warnings.filterwarnings("ignore", message="No loggers specified")
            evaluator = EvaluationPlugin(loggers=[])
        super().__init__(
            model=synthesis,
            optimizer=torch.optim.Adam(synthesis.parameters(), lr=protocol.lr),
            criterion=ReconstructionCriterion(perceptual, protocol.l2_weight),
            train_mb_size=batch_size,
            train_epochs=steps,
            eval_mb_size=64,
            device=device,
            plugins=[StepBudget(steps, progress), *plugins],
            evaluator=evaluator,
        )
        self.protocol = protocol
        self.pending_optimizer_state = None

    def check_model_and_optimizer(self, **kwargs):
        super().check_model_and_optimizer(**kwargs)
        if self.pending_optimizer_state is not None:
            self.optimizer.load_state_dict(self.pending_optimizer_state)
            self.pending_optimizer_state = None
