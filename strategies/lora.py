"""lora: fine-tune low-rank adapters of the synthesis convolutions instead of all weights; alone or with ER-Hull."""

from __future__ import annotations

import math

import torch
from avalanche.core import SupervisedPlugin
from torch import nn
from torch.nn.utils import parametrize

from facebench import register_strategy
from facebench.models.generator import ModulatedConv
from facebench.registry import StrategyError, get_strategy

ALPHA = 16.0
"""The adapters' default alpha (their product is scaled by alpha / rank)."""


@register_strategy("lora")
def lora(rank: int = 4, alpha: float = ALPHA) -> list:
    """LoRA: fine-tune rank-r adapters of every synthesis convolution, sequentially, all other weights frozen.

    Every modulated convolution of the synthesis network (toRGB included) gets its weight
    W (O, I, k, k) replaced by W + (alpha / r) reshape(B A), with A (r, I k k) drawn like a
    convolution's initial weights and B (O, r) zero, so training starts at the generic generator. Only A and
    B train (Adam, the protocol's lr and steps), session after session, as the 3D variant of
    the paper's base model (My3DGen) personalises; nothing else of the generator changes.
    Kept memory: none besides the model (the adapters are the model). Default alpha: the lowest
    recon. perceptual AIP + forgetting (x10) on the quick card's person 0, a card the board does
    not use (naive: 1.90), at rank 4: 16 (tried 4: 2.49, 16: 2.41, 64: 2.50, 256: 2.87, 1024: 3.36).
    """
    return [LoRAPlugin(rank, alpha)]


@register_strategy("lora-er-hull")
def lora_er_hull(buffer_size: int, rank: int = 4, alpha: float = ALPHA, seed: int = 0,
                 replay_batch_size: int | None = None) -> list:
    """LoRA + ER-Hull: the rank-r adapters of ``lora``, trained with ER-Hull's replay buffer of K photos.

    The plugins of ``lora`` and of ``er-hull`` together: each mini-batch mixes the session's
    anchors with ``replay_batch_size`` items of ER-Hull's buffer, and only the adapters train.
    Kept memory: ER-Hull's K photos with their latents.
    """
    replay = get_strategy("er-hull").plugins({"buffer_size": buffer_size}, seed=seed,
                                             replay_batch_size=replay_batch_size)
    return [LoRAPlugin(rank, alpha), *replay]


class LowRankDelta(nn.Module):
    """A parametrisation of a convolution weight W (O, I, k, k): W + scale * reshape(B A, W's shape)."""

    def __init__(self, shape: torch.Size, rank: int, scale: float):
        super().__init__()
        self.scale = scale
        fan_in = math.prod(shape[1:])
        self.A = nn.Parameter(torch.empty(rank, fan_in).uniform_(-1, 1) / math.sqrt(fan_in))
        self.B = nn.Parameter(torch.zeros(shape[0], rank))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.scale * (self.B @ self.A).view_as(weight)


class LoRAPlugin(SupervisedPlugin):
    """Adds the adapters in ``adapt_model`` (called by the runner before training) and freezes
    every other weight of the synthesis network."""

    def __init__(self, rank: int, alpha: float):
        super().__init__()
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise StrategyError(f"lora: rank must be a positive integer, got {rank!r}")
        self.rank, self.alpha = rank, alpha

    def adapt_model(self, synthesis: nn.Module) -> None:
        convs = [m for m in synthesis.modules() if isinstance(m, ModulatedConv)]
        if not convs:  # e.g. a user's StyleGAN2 (its convolutions are another class): never train nothing
            raise StrategyError(f"lora: adapts facebench's ModulatedConv layers, and this generator "
                                f"({type(synthesis).__name__}) has none")
        synthesis.requires_grad_(False)
        for conv in convs:
            if not parametrize.is_parametrized(conv, "weight"):
                delta = LowRankDelta(conv.weight.shape, self.rank, self.alpha / self.rank).to(conv.weight.device)
                parametrize.register_parametrization(conv, "weight", delta)
        for conv in convs:
            for p in conv.parametrizations.weight[0].parameters():
                p.requires_grad_(True)

    def kept_memory(self) -> tuple[None, int]:
        return None, 0
