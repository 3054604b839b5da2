"""The protocol's settings and scores: how a person's generator is fine-tuned and scored.

This facebench runs protocol version :data:`VERSION` (2). Every setting of version 2 that
PAPER.md leaves open was measured on the development card ``faceworld-dev`` (which no board
uses) and frozen before any board was swept; ``docs/protocol-v2.md`` has the rule behind each
value and the numbers (``benchmarks/protocol_v2_dev.py``). From PAPER.md: Adam, lr 3e-4,
perceptual + 1.0 x L2, mini-batches of 2 new + 2 replayed samples, P0 samples as convex
combinations of 3 anchors. What version 2 fixes for every run and is no setting:

- the replay dose: every step of a replay run holds exactly ``batch_new`` new and
  ``batch_replay`` replayed samples once the buffer holds anything (``facebench.replay``);
- the optimiser: a fresh Adam for every training experience (no state carried from one
  session to the next), in runs, the headroom check and the tests alike
  (``facebench.run.template``).

Its evaluation inverts every test image from the encoder for 400 steps, every time: within 1%
of an inversion 4x as long on the development card, while a warm start from the previous
evaluation's latents (``eval_warm_steps``) stayed 6% away, so warm starts are off by default.

Version 1 (the v1 board) differs: 50 steps per session and ``T x 50`` for joint, one Adam for
the whole run, 10 evaluation steps from the encoder, 20 P0 samples, no kernel distance, short
replay batches. Its result files are read and rendered, not rerun: :data:`VERSIONS` names the
last commit that ran each earlier version.

A card's ``protocol`` section sets values over these defaults; a result file records the
version, the settings and :func:`protocol_sha256` of both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

VERSION = 2
"""The protocol version this facebench runs."""

VERSIONS: dict[int, str] = {
    1: "last run by commit 20c46f1 (git checkout 20c46f1 to rerun a version 1 file)",
    2: "this facebench",
}
"""Every protocol version a result file may hold, with where it runs."""


@dataclass(frozen=True)
class Protocol:
    """Fine-tuning and evaluation settings of one run (protocol version :data:`VERSION`).

    Attributes:
        steps_per_session: optimiser steps of fine-tuning per session (one step = one mini-batch)
            of a sequential or cumulative run.
        joint_steps: optimiser steps of the joint upper bound on all T sessions; the reference
            ``joint-so-far`` trains ceil(joint_steps * (t + 1) / T) steps on sessions 0..t
            (the same number of passes over its data).
        batch_new: new samples per mini-batch.
        batch_replay: replayed samples per mini-batch, when a buffer exists.
        lr: Adam learning rate on all generator weights.
        l2_weight: weight of the mean squared pixel error beside the perceptual distance.
        anchor_steps: latent-optimisation steps when inverting training images into the generic
            model (the anchors, computed once per person).
        eval_steps: latent-optimisation steps when a test image is inverted from the encoder's
            latent (its first evaluation in a run; every evaluation when ``eval_warm_steps`` is 0).
        eval_warm_steps: latent-optimisation steps when a test image is inverted from its latent
            of the run's previous evaluation (a warm start); 0: no warm starts.
        inversion_lr: Adam learning rate of the latent optimisation (anchors and evaluation).
        synthesis_samples: P0 samples per evaluated session.
        synthesis_mix: anchors per P0 sample (a uniformly random convex combination of them).
    """

    steps_per_session: int = 400
    joint_steps: int = 4000
    batch_new: int = 2
    batch_replay: int = 2
    lr: float = 3e-4
    l2_weight: float = 1.0
    anchor_steps: int = 60
    eval_steps: int = 400
    eval_warm_steps: int = 0
    inversion_lr: float = 0.1
    synthesis_samples: int = 50
    synthesis_mix: int = 3

    @classmethod
    def from_card(cls, card) -> "Protocol":
        """The card's ``protocol`` section over the defaults."""
        section = (card.data.get("protocol") or {}) if card is not None else {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in section.items() if k in known})

    def as_dict(self) -> dict:
        return asdict(self)

    def record(self) -> dict:
        """What a result file holds of the protocol: ``{"version", "sha256", "settings"}``."""
        settings = self.as_dict()
        return {"version": VERSION, "sha256": protocol_sha256(VERSION, settings), "settings": settings}


def protocol_sha256(version: int, settings: dict) -> str:
    """sha256 (hex) of the canonical JSON (keys sorted, no spaces) of ``{"version", "settings"}``:
    two runs with the same hash ran the same protocol."""
    canonical = json.dumps({"version": version, "settings": settings}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


#: Every score of the protocol: name -> (direction, the factor the paper prints it with).
SCORES: dict[str, tuple[str, int]] = {
    "recon_perceptual": ("lower", 10),  # facebench perceptual distance of test reconstructions
    "recon_identity": ("higher", 10),  # cosine similarity of identity embeddings, input vs reconstruction
    "recon_psnr": ("higher", 1),  # dB
    "recon_ssim": ("higher", 1),
    "synth_frechet": ("lower", 1),  # Fréchet distance, identity features, P0 samples vs test images
    "synth_identity": ("higher", 10),  # mean over samples of the best cosine similarity to a test image
    "synth_kid": ("lower", 100),  # kernel distance (unbiased), identity features, P0 samples vs test images
}

SCORES_OF_VERSION: dict[int, tuple[str, ...]] = {1: tuple(SCORES)[:6], 2: tuple(SCORES)}
"""The scores a result file of each protocol version holds (version 1 had no kernel distance)."""

TOLERANCES: dict[str, float] = {
    "recon_perceptual": 1e-2,
    "recon_identity": 3e-2,
    "recon_psnr": 2e-1,
    "recon_ssim": 3e-3,
    "synth_frechet": 2e-1,
    "synth_identity": 6e-2,
    "synth_kid": 3e-3,
}
"""How far a rerun's summary (AIP, forgetting, final average) of each score may lie from a
result file's and still reproduce it (absolute, in the score's units, unscaled): ``facebench
verify``. Each is 3x the largest difference between the same run with 1 and with 2 torch
threads, over naive, er-rand K = 2 and joint-so-far runs of the quick card's persons, rounded
up to one significant digit (``docs/protocol-v2.md``). On the same machine with the same
threads a rerun is bit-identical."""
