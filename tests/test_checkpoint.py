"""facebench.run.checkpoint: what a killed run needs to go on.

A save/load/restore round trip on a small run built by hand (a tiny generator in a real
fine-tuning template, a seeded replay plugin from the registry, the buffer history, an
evaluator's state through ``ProtocolEvaluator``'s own ``state_dict``/``load_state_dict``:
matrices, seconds, the latents its warm starts continue from): a freshly built run that restores
the checkpoint has the weights, the template's clock, the plugins' state (their random generator
included), the buffer history's hash, the evaluator's state, the seconds and the global random
generators of the run that saved it, and no optimizer state (a fresh Adam every session); and a
tiny run of three experiences (replay buffer, Adam) saved after two and restored into fresh
pieces trains the third to exactly the weights, buffer and buffer history of the uninterrupted
one (data order included). A checkpoint of another run, a corrupt, truncated or foreign file are refused
with a ``CheckpointError`` naming the file. The runner refuses such a checkpoint on ``--resume``
before it trains anything. The end-to-end resumes are in test_runner.py and
test_beyond_replay.py (slow).
"""

import random

import numpy as np
import pytest
import torch
from torch import nn

from facebench.data.items import items_dataset
from facebench.errors import FacebenchError
from facebench.protocol import Protocol
from facebench.registry import get_strategy
from facebench.run import checkpoint
from facebench.run.checkpoint import CheckpointError
from facebench.run.evaluator import ProtocolEvaluator
from facebench.run.history import BufferHistory
from facebench.run.runner import RunSpec, run
from facebench.run.template import PersonalizationTemplate, training_stream
from facebench.seeding import seed_globals

SPEC = RunSpec("er-rand", {"buffer_size": 2}, "faceworld-quick", "0", 3)
MODELS = {"generator": "g" * 64, "encoder": "e" * 64, "perceptual": "p" * 64, "identity": "i" * 64}


def _header(spec=SPEC, card="c" * 64, images="f" * 64, protocol=None, models=MODELS):
    return checkpoint.header(spec, card_sha256=card, images_sha256=images,
                             protocol=(protocol or Protocol()).record(), models=models)


HEADER = _header()


class _Distance(nn.Module):
    def forward(self, a, b):
        return (a - b).abs().flatten(1).mean(1)


class _Tiny(nn.Module):
    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.synthesis = nn.Sequential(nn.Linear(4, 12), nn.Unflatten(1, (3, 2, 2)))


class _Evaluator:
    """What a checkpoint keeps of a ``ProtocolEvaluator``, through its own ``state_dict`` and
    ``load_state_dict``, without its models: matrices, seconds, latents of 3 sessions."""

    state_dict = ProtocolEvaluator.state_dict
    load_state_dict = ProtocolEvaluator.load_state_dict

    def __init__(self):
        self.tests = [torch.zeros(1, 3, 2, 2)] * 3
        self.matrices = {"recon_psnr": np.full((3, 3), np.nan)}
        self.seconds = 0.0
        self.latents = [None] * 3


def _run(seed: int, steps: int = 1):
    """A run's pieces as the runner builds them: generator, template, plugins, evaluator, history."""
    generator = _Tiny(seed)
    plugins = get_strategy("er-rand").plugins({"buffer_size": 2}, seed=SPEC.seed, replay_batch_size=2)
    history = BufferHistory(plugins)
    template = PersonalizationTemplate(synthesis=generator.synthesis, perceptual=_Distance(),
                                       protocol=Protocol(steps_per_session=steps), plugins=[*plugins, history])
    return generator, template, plugins, _Evaluator(), history


def _global_draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()


def _saved(tmp_path):
    """A run two sessions in, checkpointed; returns (path, that run, what it draws next)."""
    generator, template, plugins, evaluator, history = pieces = _run(seed=0)
    loss = template.model(torch.ones(2, 4)).square().mean()  # model: the generator's synthesis
    loss.backward()
    template.optimizer.step()  # an optimizer with state
    template.clock.train_exp_counter = 2
    template.budget.seconds = 1.5
    plugins[0].storage_policy.rng.random()  # the buffer's generator has moved on
    evaluator.matrices["recon_psnr"][:2, :2] = [[20.0, np.nan], [19.0, 21.0]]
    evaluator.seconds = 0.7
    evaluator.latents[:2] = [torch.randn(3, 4), torch.randn(2, 4)]
    history.sha256 = "ab" * 32
    seed_globals(11)
    _global_draws()
    path = tmp_path / "person0-seed3.ckpt"
    checkpoint.save(path, HEADER, sessions_done=2, generator=generator, template=template, plugins=plugins,
                    evaluator=evaluator, history=history, anchors_s=0.25, elapsed_s=4.0)
    return path, pieces, _global_draws()


def test_a_restored_run_is_the_run_that_saved(tmp_path):
    path, (generator, template, plugins, evaluator, history), next_draws = _saved(tmp_path)
    seed_globals(999)  # whatever happened in between
    fresh_generator, fresh_template, fresh_plugins, fresh_evaluator, fresh_history = _run(seed=1)
    assert not torch.equal(fresh_generator.synthesis[0].weight, generator.synthesis[0].weight)

    state = checkpoint.load(path, HEADER)
    done = checkpoint.restore(state, generator=fresh_generator, template=fresh_template, plugins=fresh_plugins,
                              evaluator=fresh_evaluator, history=fresh_history)
    assert done == 2
    assert _global_draws() == next_draws  # restored last, after everything that might draw
    assert all(torch.equal(a, b) for a, b in zip(fresh_generator.state_dict().values(),
                                                  generator.state_dict().values()))
    assert fresh_template.clock.train_exp_counter == 2
    assert fresh_template.budget.seconds == 1.5
    assert fresh_evaluator.seconds == 0.7
    np.testing.assert_array_equal(fresh_evaluator.matrices["recon_psnr"], evaluator.matrices["recon_psnr"])
    assert fresh_evaluator.latents[2] is None
    assert all(torch.equal(a, b) for a, b in zip(fresh_evaluator.latents[:2], evaluator.latents[:2]))
    assert fresh_history.sha256 == "ab" * 32
    assert not fresh_template.optimizer.state and "optimizer" not in state  # Adam starts afresh every session
    assert fresh_plugins[0].storage_policy.rng.random() == plugins[0].storage_policy.rng.random()
    assert state["seconds"]["anchors_s"] == 0.25 and state["seconds"]["elapsed_s"] == 4.0


def _stream():
    g = torch.Generator().manual_seed(5)
    return training_stream([items_dataset(torch.randn(4, 4, generator=g), torch.rand(4, 3, 2, 2, generator=g), t)
                            for t in range(3)])


def test_a_run_restored_after_a_session_goes_on_as_the_uninterrupted_one(tmp_path):
    stream, path = _stream(), tmp_path / "run.ckpt"
    generator, template, plugins, evaluator, history = _run(seed=0, steps=3)
    seed_globals(SPEC.seed)
    for t in range(3):
        template.train(stream[t], eval_streams=[])
        if t == 1:
            checkpoint.save(path, HEADER, sessions_done=2, generator=generator, template=template,
                            plugins=plugins, evaluator=evaluator, history=history, anchors_s=0.0, elapsed_s=1.0)

    seed_globals(12345)
    resumed = _run(seed=1, steps=3)
    done = checkpoint.restore(checkpoint.load(path, HEADER), generator=resumed[0], template=resumed[1],
                              plugins=resumed[2], evaluator=resumed[3], history=resumed[4])
    for t in range(done, 3):
        resumed[1].train(stream[t], eval_streams=[])
    assert all(torch.equal(a, b) for a, b in zip(resumed[0].state_dict().values(), generator.state_dict().values()))
    kept, kept_resumed = plugins[0].storage_policy.buffer, resumed[2][0].storage_policy.buffer
    assert len(kept) == len(kept_resumed) == 2
    assert all(torch.equal(kept[i][0], kept_resumed[i][0]) for i in range(2))
    assert resumed[1].clock.train_exp_counter == template.clock.train_exp_counter == 3
    assert resumed[4].sha256 == history.sha256 != BufferHistory(plugins).sha256  # the same buffers, in order


@pytest.mark.parametrize("other, changed", [
    (_header(spec=RunSpec("er-rand", {"buffer_size": 3}, "faceworld-quick", "0", 3)), "run"),
    (_header(card="d" * 64), "card_sha256"),  # the card was edited between the kill and --resume
    (_header(images="0" * 64), "images_sha256"),  # other photos behind the same card text
    (_header(protocol=Protocol(steps_per_session=5)), "protocol"),
    (_header(models={**MODELS, "generator": "x" * 64}), "models"),
], ids=["another run", "an edited card", "other photos", "another protocol", "another generator"])
def test_the_checkpoint_of_another_run_or_other_inputs_is_refused_by_name(tmp_path, other, changed):
    path, *_ = _saved(tmp_path)
    with pytest.raises(CheckpointError, match=f"belongs to something else: {changed} is") as error:
        checkpoint.load(path, other)
    assert str(path) in str(error.value)
    assert isinstance(error.value, FacebenchError)  # the CLI prints it as one line


@pytest.mark.parametrize("content", [
    b"not a checkpoint at all",
    None,  # a checkpoint cut in half
])
def test_a_corrupt_checkpoint_is_refused_by_name(tmp_path, content):
    path, *_ = _saved(tmp_path)
    path.write_bytes(content if content is not None else path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cannot be read") as error:
        checkpoint.load(path, HEADER)
    assert str(path) in str(error.value) and "delete it" in str(error.value)


def test_a_file_that_is_no_checkpoint_is_refused_by_name(tmp_path):
    path = tmp_path / "list.ckpt"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError) as error:
        checkpoint.load(path, HEADER)
    assert str(path) in str(error.value)


def test_resume_refuses_a_corrupt_checkpoint_before_training(tmp_path, monkeypatch):
    from facebench.run import runner

    def no_models(*args, **kwargs):
        raise AssertionError("the run went on past a corrupt checkpoint")

    monkeypatch.setattr(runner, "_generic_models", no_models)
    spec = RunSpec("naive", {}, "faceworld-quick", "0", 0)
    ckpt = spec.result_path(tmp_path, "faceworld-quick").with_suffix(".ckpt")
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="cannot be read") as error:
        run(spec, tmp_path, resume=True)
    assert str(ckpt) in str(error.value)
    assert ckpt.read_bytes() == b"\x00garbage"  # left for the user to look at or delete


class Planted:
    """What an attacker pickles: unpickling it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(path, marker, signed: bool):
    """A checkpoint at ``path`` whose unpickling would create ``marker``: in the signed format with
    the right header but a signature made with another key, or as a plain pickle."""
    import hashlib
    import hmac
    import io

    path.parent.mkdir(parents=True, exist_ok=True)
    if not signed:
        torch.save({"spec": SPEC, "plugins": Planted(marker)}, path)
        return
    buffer = io.BytesIO()
    torch.save({"plugins": Planted(marker)}, buffer)
    payload = buffer.getvalue()
    mac = hmac.new(b"k" * 32, payload, hashlib.sha256).hexdigest()
    torch.save({"format": "facebench.signed/1", "header": HEADER, "payload": payload, "mac": mac}, path)


@pytest.mark.parametrize("signed", [True, False], ids=["signed with another key", "a plain pickle"])
def test_a_planted_checkpoint_is_refused_and_runs_nothing(tmp_path, signed):
    path, marker = tmp_path / "planted.ckpt", tmp_path / "pwned"
    _plant(path, marker, signed)
    with pytest.raises(CheckpointError, match=str(path)):
        checkpoint.load(path, HEADER)
    assert not marker.exists()


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_run_resume_and_sweep_refuse_a_planted_checkpoint_before_running_anything(tmp_path):
    from facebench.run.sweep import sweep

    spec = RunSpec("naive", {}, "faceworld-quick", "0", 0)
    ckpt = spec.result_path(tmp_path, "faceworld-quick").with_suffix(".ckpt")
    marker = tmp_path / "pwned"
    _plant(ckpt, marker, signed=False)
    with pytest.raises(CheckpointError, match="cannot be read"):
        run(spec, tmp_path, resume=True)
    report = sweep([spec], tmp_path, jobs=1, threads=1)  # a sweep resumes every checkpoint it finds
    assert [o.spec for o in report.failed] == [spec] and "cannot be read" in report.failed[0].error
    assert not marker.exists() and not spec.result_path(tmp_path, "faceworld-quick").exists()


def test_a_checkpoint_survives_the_round_trip_only_with_this_machines_key(tmp_path, monkeypatch):
    path, *_ = _saved(tmp_path)
    assert checkpoint.load(path, HEADER)["sessions_done"] == 2
    monkeypatch.setenv("FACEBENCH_CACHE", str(tmp_path / "another-user"))  # another key
    with pytest.raises(CheckpointError, match="was not written by facebench as this user on this machine"):
        checkpoint.load(path, HEADER)


def test_the_signing_key_is_private_and_made_once(tmp_path, monkeypatch):
    import stat

    from facebench import signed

    monkeypatch.setenv("FACEBENCH_CACHE", str(tmp_path))
    first = signed._key()
    assert signed._key() == first and len(first) == 32
    assert stat.S_IMODE(signed.key_path().stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signing.key"]  # no temporary file left
