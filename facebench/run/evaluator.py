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

    Reconstruction: the test images of all seen sessions are inverted into the current generator
    (Adam on w, rate ``inversion_lr``): a session scored for the first time from the encoder's
    latents for ``eval_steps`` steps, a session scored before from the latents this evaluator
    found for its images the last time for ``eval_warm_steps`` steps (with ``eval_warm_steps``
    0, every session from the encoder for ``eval_steps``); each session's scores are the means
    over its images. Synthesis: ``synthesis_samples`` P0 samples of session k (drawn once
    per run from the run seed and k, so every strategy is scored on the same latents for the
    same person, seed and session) through the current generator, against k's test images in
    identity-network features: the Fréchet distance, the kernel distance and the best-match
    identity similarity.

    ``state_dict``/``load_state_dict``: the matrices so far, the seconds spent and the latents
    warm starts continue from (a resumed run continues exactly).
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
        self.latents: list[torch.Tensor | None] = [None] * n

    def state_dict(self) -> dict:
        return {"matrices": self.matrices, "seconds": self.seconds,
                "latents": [None if w is None else w.cpu() for w in self.latents]}

    def load_state_dict(self, state: dict) -> None:
        device = self.tests[0].device
        self.matrices, self.seconds = state["matrices"], state["seconds"]
        self.latents = [None if w is None else w.to(device) for w in state["latents"]]

    def after_training_exp(self, strategy, **kwargs):
        row, last = self.kind.scored(strategy.experience.current_experience, len(self.tests))
        for name, values in self.scores(last).items():
            self.matrices[name][row, : len(values)] = values

    def scores(self, last: int) -> dict[str, np.ndarray]:
        """Scores of the current generator on sessions 0..last: name -> (last + 1,) array."""
        start = time.perf_counter()
        models, p = self.models, self.protocol
        images = torch.cat(self.tests[: last + 1])
        sizes = [len(t) for t in self.tests[: last + 1]]
        warm = [k for k in range(last + 1) if p.eval_warm_steps and self.latents[k] is not None]
        cold = [k for k in range(last + 1) if k not in warm]
        latents = [None] * (last + 1)
        for group, steps in ((cold, p.eval_steps), (warm, p.eval_warm_steps)):
            if group:
                w0 = None if group is cold else torch.cat([self.latents[k] for k in group])
                found, _ = invert(self.generator, models.encoder, torch.cat([self.tests[k] for k in group]),
                                  steps=steps, lr=p.inversion_lr, perceptual=models.perceptual,
                                  l2_weight=p.l2_weight, start=w0)
                for k, w in zip(group, torch.split(found, [sizes[k] for k in group])):
                    latents[k] = w
        if p.eval_warm_steps:
            self.latents[: last + 1] = latents
        with torch.no_grad():
            recon = self.generator.synthesis(torch.cat(latents)).clamp(0, 1)
            per_image = {
                "recon_perceptual": models.perceptual(recon, images),
                "recon_identity": (torch.cat(self.test_embeddings[: last + 1]).to(recon.device)
                                   * models.identity(recon)).sum(1),
                "recon_psnr": torch.as_tensor(metrics.psnr(recon, images)),
                "recon_ssim": torch.as_tensor(metrics.ssim(recon, images)),
            }
            out = {name: np.array([float(v.mean()) for v in torch.split(vals.cpu(), sizes)])
                   for name, vals in per_image.items()}
            samples = self.generator.synthesis(torch.cat(self.synth_latents[: last + 1])).clamp(0, 1)
            feats = torch.split(models.identity(samples).cpu(), p.synthesis_samples)
            out["synth_frechet"] = np.array([metrics.frechet_distance(f.numpy(), r.numpy())
                                             for f, r in zip(feats, self.test_embeddings)])
            out["synth_kid"] = np.array([metrics.kernel_inception_distance(f, r)
                                         for f, r in zip(feats, self.test_embeddings)])
            out["synth_identity"] = np.array([metrics.best_match_similarity(f.numpy(), r.numpy())
                                              for f, r in zip(feats, self.test_embeddings)])
        self.seconds += time.perf_counter() - start
        return out
