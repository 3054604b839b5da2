"""facebench.run.evaluator: P0 sampling (``p0_latents``) and the protocol evaluator.

``p0_latents``: every sample is a convex combination of ``mix`` distinct anchors (worked on
one-hot anchors, whose coordinates are the weights, and on random anchors by least squares),
count and shape, ``mix`` beyond the anchors, determinism from the generator it is given.

``ProtocolEvaluator``, with the real generic models at the quick card's resolution (64 px), a
few tiny sessions built by hand (test images rendered by the generic generator, anchors drawn
through its mapping network) and a protocol with ``eval_steps=1``: after each experience it
fills row t with sessions 0..t for a sequential, cumulative or joint-so-far kind and the one
1 x T row for the joint kind, every filled score (the kernel distance included) finite and in
its range, nothing else; its synthesis latents lie in each session's P0, are the same for a seed
and differ across seeds; the same generator gets the same scores; its seconds add up. And it
fills the matrices through a real fine-tuning template (the kind's steps per experience).

Warm starts: a session scored for the first time is inverted from the encoder's latents for
``eval_steps``, a session scored before from the latents of its previous evaluation for
``eval_warm_steps`` (none kept when that is 0); ``state_dict``/``load_state_dict`` carry the
matrices, the seconds and those latents, so a restored evaluator scores as the original.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from facebench.data.items import items_dataset
from facebench.models.generic import GenericModels
from facebench.protocol import SCORES, Protocol
from facebench.run.evaluator import ProtocolEvaluator, p0_latents
from facebench.run.kinds import KINDS
from facebench.run.template import PersonalizationTemplate, training_stream

# ---------------------------------------------------------------- p0_latents


def _weights_over(anchors: torch.Tensor, samples: torch.Tensor) -> np.ndarray:
    """The coefficients c (count, n) with samples = c @ anchors; exact for linearly independent anchors."""
    c, *_ = np.linalg.lstsq(anchors.double().numpy().T, samples.double().numpy().T, rcond=None)
    return c.T


def test_one_hot_anchors_show_the_weights_of_mix_distinct_anchors():
    anchors = torch.eye(6)  # sample coordinates = its weights over the anchors
    samples = p0_latents(anchors, count=200, mix=3, rng=np.random.default_rng(0))
    assert samples.shape == (200, 6) and samples.dtype == anchors.dtype
    assert (samples >= 0).all()
    torch.testing.assert_close(samples.sum(1), torch.ones(200))
    assert ((samples > 0).sum(1) == 3).all()  # three distinct anchors, each with a positive weight
    used = (samples > 0).sum(0)
    assert (used > 0).all()  # every anchor gets picked over 200 samples


def test_random_anchors_give_points_of_their_convex_hull():
    g = torch.Generator().manual_seed(0)
    anchors = 3.0 * torch.randn(5, 16, generator=g, dtype=torch.float64) + 10.0
    samples = p0_latents(anchors, count=50, mix=3, rng=np.random.default_rng(1))
    weights = _weights_over(anchors, samples)
    np.testing.assert_allclose(anchors.numpy().T @ weights.T, samples.numpy().T, atol=1e-9)  # in their span
    assert (weights > -1e-9).all()
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-9)
    assert ((np.abs(weights) > 1e-9).sum(1) == 3).all()


def test_mix_larger_than_the_anchors_mixes_all_of_them():
    anchors = torch.eye(2)
    samples = p0_latents(anchors, count=10, mix=5, rng=np.random.default_rng(0))
    assert samples.shape == (10, 2) and (samples > 0).all()
    torch.testing.assert_close(samples.sum(1), torch.ones(10))


def test_mix_one_gives_anchors_themselves():
    anchors = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))
    samples = p0_latents(anchors, count=12, mix=1, rng=np.random.default_rng(0))
    assert all(any(torch.allclose(s, a) for a in anchors) for s in samples)


def test_the_generator_decides_the_samples():
    anchors = torch.randn(7, 8, generator=torch.Generator().manual_seed(3))
    a = p0_latents(anchors, 20, 3, np.random.default_rng(5))
    b = p0_latents(anchors, 20, 3, np.random.default_rng(5))
    c = p0_latents(anchors, 20, 3, np.random.default_rng(6))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    rng = np.random.default_rng(5)
    first, second = p0_latents(anchors, 20, 3, rng), p0_latents(anchors, 20, 3, rng)
    assert torch.equal(first, a) and not torch.allclose(second, a)  # it draws from the generator given


# ---------------------------------------------------------------- ProtocolEvaluator

PROTOCOL = Protocol(eval_steps=1, eval_warm_steps=1, synthesis_samples=4, synthesis_mix=3, steps_per_session=1,
                    joint_steps=3)
RANGES = {  # score -> (lowest, highest) it can take
    "recon_perceptual": (0.0, np.inf),
    "recon_identity": (-1.0, 1.0),
    "recon_psnr": (0.0, np.inf),
    "recon_ssim": (-1.0, 1.0),
    "synth_frechet": (0.0, np.inf),
    "synth_identity": (-1.0, 1.0),
    "synth_kid": (-np.inf, np.inf),  # unbiased: may be slightly negative
}
T = 3


@pytest.fixture(scope="module")
def models():
    return GenericModels.load(64)


@pytest.fixture(scope="module")
def stream(models):
    """(sessions, anchors) of T tiny sessions: 3 test images each, rendered by the generic
    generator from latents of the session's own region of W, and 4 anchors each in that region."""
    g = torch.Generator().manual_seed(0)
    mapping, synthesis = models.generator.mapping, models.generator.synthesis
    sessions, anchors = [], []
    with torch.no_grad():
        for _ in range(T):
            centre = mapping(torch.randn(1, models.generator.z_dim, generator=g))
            w = centre + 0.1 * torch.randn(7, centre.shape[1], generator=g)
            images = synthesis(w[:3]).clamp(0, 1)
            sessions.append(SimpleNamespace(train=SimpleNamespace(images=synthesis(w[3:]).clamp(0, 1)),
                                            test=SimpleNamespace(images=images)))
            anchors.append(w[3:])
    return sessions, anchors


def _evaluator(models, stream, seed=0, kind="sequential", protocol=PROTOCOL):
    sessions, anchors = stream
    return ProtocolEvaluator(models.generator, models, sessions, anchors, protocol, seed, KINDS[kind])


def _after(evaluator, experience):
    evaluator.after_training_exp(SimpleNamespace(experience=SimpleNamespace(current_experience=experience)))


def _filled(matrix) -> list[list[bool]]:
    return np.isfinite(matrix).tolist()


def _assert_in_range(matrices):
    for name, matrix in matrices.items():
        values = matrix[np.isfinite(matrix)]
        low, high = RANGES[name]
        assert ((values >= low - 1e-6) & (values <= high + 1e-6)).all(), (name, values)
        assert not np.isinf(matrix).any(), name


@pytest.mark.parametrize("kind", ["sequential", "cumulative", "joint-so-far"])
def test_after_experience_t_row_t_holds_sessions_0_to_t(models, stream, kind):
    evaluator = _evaluator(models, stream, kind=kind)
    assert set(evaluator.matrices) == set(SCORES)
    assert all(m.shape == (T, T) and np.isnan(m).all() for m in evaluator.matrices.values())
    for t in range(T):
        _after(evaluator, t)
        expected = [[r <= t and k <= r for k in range(T)] for r in range(T)]
        assert all(_filled(m) == expected for m in evaluator.matrices.values()), t
    _assert_in_range(evaluator.matrices)


def test_joint_fills_one_row_with_every_session(models, stream):
    evaluator = _evaluator(models, stream, kind="joint")
    assert all(m.shape == (1, T) and np.isnan(m).all() for m in evaluator.matrices.values())
    _after(evaluator, 0)
    assert all(_filled(m) == [[True] * T] for m in evaluator.matrices.values())
    _assert_in_range(evaluator.matrices)


def test_synthesis_latents_are_p0_samples_fixed_by_the_seed(models, stream):
    _, anchors = stream
    first, again, other = (_evaluator(models, stream, seed) for seed in (0, 0, 1))
    assert len(first.synth_latents) == T
    for k, latents in enumerate(first.synth_latents):
        assert latents.shape == (PROTOCOL.synthesis_samples, anchors[k].shape[1])
        weights = _weights_over(anchors[k], latents)
        assert (weights > -1e-4).all() and np.allclose(weights.sum(1), 1.0, atol=1e-4)  # in session k's P0
        assert torch.equal(latents, again.synth_latents[k])
        assert not torch.allclose(latents, other.synth_latents[k])
    assert not torch.allclose(first.synth_latents[0], first.synth_latents[1])  # each session its own


def test_the_same_generator_gets_the_same_scores_and_the_seconds_add_up(models, stream):
    a, b = _evaluator(models, stream), _evaluator(models, stream)
    assert a.seconds == 0.0
    first = a.scores(T - 1)
    assert set(first) == set(SCORES) and all(v.shape == (T,) for v in first.values())
    spent = a.seconds
    assert spent > 0
    second = b.scores(T - 1)
    for name in SCORES:
        np.testing.assert_allclose(first[name], second[name], rtol=1e-6, atol=1e-9, err_msg=name)
    a.scores(0)
    assert a.seconds > spent


@pytest.mark.parametrize("kind, rows", [("sequential", T), ("joint", 1), ("joint-so-far", T)])
def test_inside_a_fine_tuning_template(models, stream, kind, rows):
    """The template numbers experiences as the kind expects: a real Avalanche stream, one step each."""
    import copy

    sessions, anchors = stream
    generator = copy.deepcopy(models.generator).requires_grad_(True)
    evaluator = ProtocolEvaluator(generator, models, sessions, anchors, PROTOCOL, 0, KINDS[kind])
    strategy_kind = KINDS[kind]
    own = [items_dataset(a, s.train.images, t) for t, (a, s) in enumerate(zip(anchors, sessions))]
    template = PersonalizationTemplate(synthesis=generator.synthesis, perceptual=models.perceptual,
                                       protocol=PROTOCOL, plugins=[*strategy_kind.plugins(models.generator), evaluator],
                                       steps=strategy_kind.steps(PROTOCOL, T), batch_size=strategy_kind.batch_size(PROTOCOL))
    for experience in training_stream(strategy_kind.experiences(own)):
        template.train(experience, eval_streams=[])
    expected = [[k <= r or rows == 1 for k in range(T)] for r in range(rows)]
    assert all(_filled(m) == expected for m in evaluator.matrices.values())
    _assert_in_range(evaluator.matrices)


# ---------------------------------------------------------------- warm starts


@pytest.fixture
def inversions(monkeypatch):
    """Every call of ``invert`` by the evaluator, as (images, steps, start or None), passed through."""
    import facebench.run.evaluator as module

    calls = []
    real = module.invert

    def spy(generator, encoder, images, *, steps, start=None, **kwargs):
        calls.append((images, steps, None if start is None else start.clone()))
        return real(generator, encoder, images, steps=steps, start=start, **kwargs)

    monkeypatch.setattr(module, "invert", spy)
    return calls


def _images(stream, ks):
    sessions, _ = stream
    return torch.cat([sessions[k].test.images for k in ks])


def test_a_session_is_inverted_from_the_encoder_first_and_from_its_latents_after(models, stream, inversions):
    protocol = Protocol(eval_steps=2, eval_warm_steps=1, synthesis_samples=4)
    evaluator = _evaluator(models, stream, protocol=protocol)
    assert evaluator.latents == [None] * T
    evaluator.scores(1)
    [(images, steps, start)] = inversions
    assert torch.equal(images, _images(stream, [0, 1])) and steps == 2 and start is None  # from the encoder
    kept = [w.clone() for w in evaluator.latents[:2]]
    assert [w.shape[0] for w in kept] == [3, 3] and evaluator.latents[2] is None
    inversions.clear()
    evaluator.scores(2)
    (cold, cold_steps, cold_start), (warm, warm_steps, warm_start) = inversions
    assert torch.equal(cold, _images(stream, [2])) and cold_steps == 2 and cold_start is None  # a new session
    assert torch.equal(warm, _images(stream, [0, 1])) and warm_steps == 1  # sessions scored before ...
    assert torch.equal(warm_start, torch.cat(kept))  # ... from their latents of the last evaluation
    assert all(w is not None for w in evaluator.latents)
    assert not torch.equal(torch.cat(evaluator.latents[:2]), torch.cat(kept))  # moved on from there


def test_without_warm_steps_every_evaluation_starts_from_the_encoder(models, stream, inversions):
    protocol = Protocol(eval_steps=2, eval_warm_steps=0, synthesis_samples=4)
    evaluator = _evaluator(models, stream, protocol=protocol)
    first = evaluator.scores(1)
    second = evaluator.scores(2)
    assert [(steps, start is None) for _, steps, start in inversions] == [(2, True), (2, True)]
    assert torch.equal(inversions[1][0], _images(stream, [0, 1, 2]))
    assert evaluator.latents == [None] * T  # nothing kept
    for name in SCORES:  # the same generator, the same inversions (in a larger batch): the same scores
        np.testing.assert_allclose(second[name][:2], first[name], rtol=1e-3, atol=1e-5, err_msg=name)


def test_warm_steps_change_the_second_evaluation_only(models, stream):
    runs = {}
    for warm in (0, 1):
        evaluator = _evaluator(models, stream, protocol=Protocol(eval_steps=2, eval_warm_steps=warm, synthesis_samples=4))
        runs[warm] = evaluator.scores(1), evaluator.scores(1)
    (first0, second0), (first1, second1) = runs[0], runs[1]
    for name in SCORES:
        np.testing.assert_array_equal(first0[name], first1[name], err_msg=name)  # the first: from the encoder
    assert not np.allclose(second0["recon_perceptual"], second1["recon_perceptual"], rtol=0, atol=1e-9)
    for name in ("synth_frechet", "synth_kid", "synth_identity"):  # synthesis inverts nothing
        np.testing.assert_array_equal(second0[name], second1[name], err_msg=name)


def test_a_restored_evaluator_scores_as_the_original(models, stream):
    import pickle

    original = _evaluator(models, stream)
    for t in range(2):
        _after(original, t)
    state = pickle.loads(pickle.dumps(original.state_dict()))  # as a checkpoint holds it
    assert set(state) == {"matrices", "seconds", "latents"}
    assert len(state["latents"]) == T and state["latents"][2] is None
    assert all(torch.equal(a, b) for a, b in zip(state["latents"][:2], original.latents[:2]))
    restored, cold = _evaluator(models, stream), _evaluator(models, stream)
    restored.load_state_dict(state)
    assert restored.seconds == original.seconds
    _after(original, 2)
    _after(restored, 2)
    _after(cold, 2)  # the same generator, without the latents of the evaluations before
    for name in SCORES:
        np.testing.assert_array_equal(restored.matrices[name], original.matrices[name], err_msg=name)
    assert not np.array_equal(cold.matrices["recon_perceptual"][2, :2], original.matrices["recon_perceptual"][2, :2])
