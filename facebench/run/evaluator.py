"""The protocol evaluator: the score matrices a[t][k] of a run, filled after every session.

See ``facebench.protocol.SCORES`` for the scores, their directions and print scales.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from avalanche.core import SupervisedPlugin

from facebench import metrics
from facebench.models import invert
from facebench.models.generic import GenericModels
from facebench.protocol import SCORES, Protocol
from facebench.run.kinds import KINDS, SequentialKind


def p0_latents(anchors: torch.Tensor, count: int, mix: int, rng: np.random.Generator) -> torch.Tensor:
    """``count`` samples of P0, the convex hull of ``anchors`` (n, D): each is sum_i a_i w_i over
    ``mix`` distinct random anchors with weights a uniform on the simplex (Dirichlet(1, ..., 1))."""
    mix = min(mix, len(anchors))
    picks = np.stack([rng.choice(len(anchors), size=mix, replace=False) for _ in range(count)])
    weights = torch.as_tensor(rng.dirichlet(np.ones(mix), size=count), dtype=anchors.dtype)
    return (weights.unsqueeze(-1) * anchors[torch.as_tensor(picks)]).sum(1)


class ProtocolEvaluator(SupervisedPlugin):
    """Avalanche plugin: after every training experience, scores the current generator on the
    test images of the sessions its strategy kind says (``facebench.run.kinds``: for a
    sequential run, after experience t every seen session k <= t, filling row t of a[t][k]).

    Reconstruction: the test images of all seen sessions are inverted together into the current
    generator (encoder start, ``eval_steps`` steps); each session's scores are the means over
    its images. Synthesis: ``synthesis_samples`` P0 samples of session k (drawn once per run
    from the run seed and k, so every model is scored on the same latents) through the current
    generator, against k's test images in identity-network features.
    """

    def __init__(self, generator, models: GenericModels, sessions, anchors, protocol: Protocol, seed: int,
                 kind: SequentialKind = KINDS["sequential"]):
        super().__init__()
        self.generator, self.models, self.protocol, self.kind = generator, models, protocol, kind
        device = next(generator.parameters()).device
        self.tests = [s.test.images.to(device) for s in sessions]
        with torch.no_grad():
            self.test_embeddings = [models.identity(images).cpu() for images in self.tests]
        self.synth_latents = [
            p0_latents(a, protocol.synthesis_samples, protocol.synthesis_mix, np.random.default_rng([seed, 7, k])).to(device)
            for k, a in enumerate(anchors)
        ]
        n = len(sessions)
        self.matrices = {name: np.full((kind.rows(n), n), np.nan) for name in SCORES}
        self.seconds = 0.0

    def after_training_exp(self, strategy, **kwargs):
        row, last = self.kind.scored(strategy.experience.current_experience, len(self.tests))
        for name, values in self.scores(last).items():
            self.matrices[name][row, : len(values)] = values

    def scores(self, last: int) -> dict[str, np.ndarray]:
        """Scores of the current generator on sessions 0..last: name -> (last + 1,) array."""
        start = time.perf_counter()
        models, p = self.models, self.protocol
        images = torch.cat(self.tests[: last + 1])
        _, recon = invert(self.generator, models.encoder, images, steps=p.eval_steps, lr=p.inversion_lr,
                          perceptual=models.perceptual, l2_weight=p.l2_weight)
        with torch.no_grad():
            per_image = {
                "recon_perceptual": models.perceptual(recon, images),
                "recon_identity": (torch.cat(self.test_embeddings[: last + 1]).to(recon.device)
                                   * models.identity(recon)).sum(1),
                "recon_psnr": torch.as_tensor(metrics.psnr(recon, images)),
                "recon_ssim": torch.as_tensor(metrics.ssim(recon, images)),
            }
            sizes = [len(t) for t in self.tests[: last + 1]]
            out = {name: np.array([float(v.mean()) for v in torch.split(vals.cpu(), sizes)])
                   for name, vals in per_image.items()}
            samples = self.generator.synthesis(torch.cat(self.synth_latents[: last + 1])).clamp(0, 1)
            feats = torch.split(models.identity(samples).cpu(), p.synthesis_samples)
            out["synth_frechet"] = np.array([metrics.frechet_distance(f.numpy(), r.numpy())
                                             for f, r in zip(feats, self.test_embeddings)])
            out["synth_identity"] = np.array([metrics.best_match_similarity(f.numpy(), r.numpy())
                                              for f, r in zip(feats, self.test_embeddings)])
        self.seconds += time.perf_counter() - start
        return out
