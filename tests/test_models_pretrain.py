"""Pretraining is seeded, checkpoints on Ctrl-C, and --resume finishes with exactly the same weights;
its PSNR figures are ``facebench.metrics.psnr``'s."""

import math
import os
import signal

import pytest
import torch

from facebench import metrics
from facebench.errors import FacebenchError
from facebench.models import pretrain as pt
from facebench.models.zoo import load

POOL = (8, 2)


def _run(tmp_path, name, **kw):
    return pt.pretrain("perceptual", steps=6, folder=tmp_path / name, workdir=tmp_path / "work",
                       pool_size=POOL, **kw)


@pytest.mark.slow
def test_an_interrupted_run_resumed_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    monkeypatch.setattr(pt._PerceptualJob, "held_out_images", 8)  # figures are not what this test checks
    straight = _run(tmp_path, "straight")[0]

    step = pt._PerceptualJob.step

    def step_then_ctrl_c(self, i, rng):
        loss = step(self, i, rng)
        if i == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return loss

    monkeypatch.setattr(pt._PerceptualJob, "step", step_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt, match="step 3"):
        _run(tmp_path, "resumed")
    monkeypatch.setattr(pt._PerceptualJob, "step", step)
    resumed = _run(tmp_path, "resumed", resume=True)[0]
    assert resumed["sha256"] == straight["sha256"]
    assert resumed["command"] == "facebench pretrain perceptual --steps 6 --seed 0 --threads 1 --resolution 64"
    load("perceptual", folder=tmp_path / "resumed")


def test_resume_without_a_checkpoint_is_an_error(tmp_path):
    with pytest.raises(FacebenchError, match="no checkpoint"):
        _run(tmp_path, "none", resume=True)


def test_an_unknown_job_is_an_error():
    with pytest.raises(FacebenchError, match="perceptual, identity, generator"):
        pt.pretrain("lpips")


def test_pretrain_reports_psnr_as_metrics_defines_it():
    """Worked example, per image, peak 1: PSNR = 10 log10(1 / MSE)."""
    x = torch.zeros(3, 3, 4, 4)
    y = x.clone()
    y[0] = 0.1                    # MSE 0.01: 20 dB
    y[1, :, :2] = 0.2             # half the pixels off by 0.2: MSE 0.02, 10 log10(50) = 16.9897 dB
    db = metrics.psnr(y, x)       # y[2] == x[2]: MSE 0, +inf (no clamp)
    assert db[:2].tolist() == pytest.approx([20.0, 16.9897], abs=1e-4)
    assert math.isinf(db[2]) and db[2] > 0
    assert pt.psnr is metrics.psnr


class Planted:
    """What an attacker pickles: unpickling it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_pretraining_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "work").mkdir()
    torch.save({"job": Planted(marker)}, tmp_path / "work" / "perceptual-64px-seed0-steps6.pt")
    with pytest.raises(FacebenchError, match="cannot be read as a pretraining checkpoint"):
        _run(tmp_path, "planted", resume=True)
    assert not marker.exists()


def test_a_renderer_that_draws_other_images_gets_a_new_pool_not_the_cached_one(tmp_path, monkeypatch):
    from facebench.data.faceworld import Population
    from facebench.models.pretrain import population_pool

    first = population_pool(32, tmp_path, 3, 2)
    assert population_pool(32, tmp_path, 3, 2)["images"].equal(first["images"])  # read from the cache
    drawn = Population.render

    def darker(self, *args):
        images, factors = drawn(self, *args)
        return images * 0.5, factors

    monkeypatch.setattr(Population, "render", darker)
    changed = population_pool(32, tmp_path, 3, 2)
    assert not changed["images"].equal(first["images"])
    assert len(list(tmp_path.glob("pool-*.pt"))) == 2
