"""Pretraining is seeded, checkpoints on Ctrl-C, and --resume finishes with exactly the same weights."""

import os
import signal

import pytest

from facebench.errors import FacebenchError
from facebench.models import pretrain as pt
from facebench.models.zoo import load

POOL = (8, 2)


def _run(tmp_path, name, **kw):
    return pt.pretrain("perceptual", steps=6, out=tmp_path / name, workdir=tmp_path / "work",
                       pool_size=POOL, **kw)


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
    load("perceptual", zoo=tmp_path / "resumed")


def test_resume_without_a_checkpoint_is_an_error(tmp_path):
    with pytest.raises(FacebenchError, match="no checkpoint"):
        _run(tmp_path, "none", resume=True)


def test_an_unknown_job_is_an_error():
    with pytest.raises(FacebenchError, match="perceptual, identity, generator"):
        pt.pretrain("lpips")
