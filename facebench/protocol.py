"""The protocol's settings and scores: how a person's generator is fine-tuned and scored.

Defaults follow PAPER.md (Adam, lr 3e-4, perceptual + 1.0 x L2, mini-batches of 2 new +
2 replayed samples, P0 samples as convex combinations of 3 anchors, 20 synthesis samples).
What PAPER.md leaves open is chosen here for the 2-core CPU budget and can be set per card in
its ``protocol`` section: 50 steps per session (fine-tuning on session 0 alone then lowers the
perceptual distance of its test reconstructions by 39% on the default card's person 0, and
naive fine-tuning through the other 9 sessions loses 98% of that gain: the headroom check,
``facebench.run.headroom``, through the runs' own template), 60
inversion steps for anchors and 10 for evaluation (from the encoder's start). Every result
file records the values it ran with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Protocol:
    """Fine-tuning and evaluation settings of one run.

    Attributes:
        steps_per_session: optimiser steps of fine-tuning per session (one step = one mini-batch).
        batch_new: new samples per mini-batch.
        batch_replay: replayed samples per mini-batch, when a buffer exists.
        lr: Adam learning rate on all generator weights.
        l2_weight: weight of the mean squared pixel error beside the perceptual distance.
        anchor_steps: latent-optimisation steps when inverting training images into the generic
            model (the anchors, computed once per person).
        eval_steps: latent-optimisation steps when inverting test images into the current model.
        inversion_lr: Adam learning rate of the latent optimisation.
        synthesis_samples: P0 samples per evaluated session.
        synthesis_mix: anchors per P0 sample (a uniformly random convex combination of them).
    """

    steps_per_session: int = 50
    batch_new: int = 2
    batch_replay: int = 2
    lr: float = 3e-4
    l2_weight: float = 1.0
    anchor_steps: int = 60
    eval_steps: int = 10
    inversion_lr: float = 0.05
    synthesis_samples: int = 20
    synthesis_mix: int = 3

    @classmethod
    def from_card(cls, card) -> "Protocol":
        """The card's ``protocol`` section over the defaults."""
        section = (card.data.get("protocol") or {}) if card is not None else {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in section.items() if k in known})

    def as_dict(self) -> dict:
        return asdict(self)


#: Every score of the protocol: name -> (direction, the factor the paper prints it with).
SCORES: dict[str, tuple[str, int]] = {
    "recon_perceptual": ("lower", 10),  # facebench perceptual distance of test reconstructions
    "recon_identity": ("higher", 10),  # cosine similarity of identity embeddings, input vs reconstruction
    "recon_psnr": ("higher", 1),  # dB
    "recon_ssim": ("higher", 1),
    "synth_frechet": ("lower", 1),  # Fréchet distance, identity features, P0 samples vs test images
    "synth_identity": ("higher", 10),  # mean over samples of the best cosine similarity to a test image
}
