"""facebench.run.history: what a run's seed varied (``seed_varies``) and the chained hash of the
buffers a replay run trained with (``BufferHistory``), and its record (``BufferHistory.record``).

``seed_varies`` lists "buffer" exactly when a storage policy drew from its seeded generator (a
policy that cannot say counts as drawing); ``BufferHistory`` gives None without a buffer,
sha256(b"") before the first experience, then h_{t+1} = sha256(h_t || sessions as int64 ||
latents as float32) after every experience: the same selections give the same hash, other
selections (at any experience, even with the same final buffer) another. Buffers are driven
through a real Avalanche template by the replay test helpers, with the history plugin placed
after the replay plugin as the runner places it.
"""

import hashlib
import pickle
import warnings

import numpy as np
import pytest
import torch
from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.templates import SupervisedTemplate
from replay_helpers import _Tiny, buffer_latents, buffer_sessions, clustered_sessions

from facebench.board.schema import SEEDED
from facebench.data.items import items_dataset
from facebench.registry import get_strategy
from facebench.replay import BufferReplayPlugin, ReplayBuffer
from facebench.run.history import BufferHistory, seed_varies

EMPTY = hashlib.sha256(b"").hexdigest()


class KeepsFirst(ReplayBuffer):
    """Keeps the first k pool items: a deterministic strategy, which never draws."""

    def select(self, pool, k, rng):
        return list(range(min(k, len(pool))))


class KeepsLast(ReplayBuffer):
    """Keeps the last k pool items: deterministic too."""

    def select(self, pool, k, rng):
        return list(range(max(0, len(pool) - k), len(pool)))


def _train(plugins, datasets, anchors=None):
    """Train a tiny model through ``datasets`` with ``plugins`` and a ``BufferHistory`` after
    them (of ``anchors``); returns (the history, its hash after each experience, the buffers after each)."""
    torch.manual_seed(0)
    model = _Tiny()
    history = BufferHistory(plugins, anchors)
    hashes, buffers = [history.sha256], []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No loggers specified")
        template = SupervisedTemplate(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                                      criterion=torch.nn.MSELoss(), train_mb_size=2, train_epochs=1, device="cpu",
                                      plugins=[*plugins, history], evaluator=EvaluationPlugin(loggers=[]))
    for experience in benchmark_from_datasets(train=datasets, test=datasets).train_stream:
        template.train(experience, eval_streams=[])
        hashes.append(history.sha256)
        buffers.append([p.storage_policy.buffer for p in plugins if hasattr(p, "storage_policy")])
    return history, hashes, buffers


def _plugin(buffer):
    return BufferReplayPlugin(mem_size=buffer.max_size, storage_policy=buffer)


def _by_hand(buffers_after_each) -> list[str]:
    """The documented chain, computed from the buffers after each experience."""
    h, out = EMPTY, [EMPTY]
    for buffers in buffers_after_each:
        digest = hashlib.sha256(bytes.fromhex(h))
        for data in buffers:
            if len(data):
                digest.update(np.asarray(buffer_sessions(data), dtype=np.int64).tobytes())
                digest.update(buffer_latents(data).astype(np.float32).tobytes())
        h = digest.hexdigest()
        out.append(h)
    return out


# ---------------------------------------------------------------- seed_varies


def test_a_run_without_a_buffer_varies_batch_order_and_p0_samples_only():
    assert seed_varies([]) == ["batch_order", "p0_samples"]
    assert seed_varies(get_strategy("ewc").plugins({}, seed=0)) == ["batch_order", "p0_samples"]
    assert set(seed_varies([])) < set(SEEDED)


def test_a_deterministic_buffer_does_not_vary_with_the_seed():
    plugins = [_plugin(KeepsFirst(3, seed=0))]
    _train(plugins, clustered_sessions(sessions=3, per_session=5))
    assert not plugins[0].storage_policy.drew_from_seed
    assert seed_varies(plugins) == ["batch_order", "p0_samples"]


def test_er_rand_varies_its_buffer_with_the_seed():
    plugins = get_strategy("er-rand").plugins({"buffer_size": 3}, seed=0)
    assert seed_varies(plugins) == ["batch_order", "p0_samples"]  # nothing drawn yet
    _train(plugins, clustered_sessions(sessions=3, per_session=5))
    assert seed_varies(plugins) == ["batch_order", "p0_samples", "buffer"] == list(SEEDED)


def test_a_policy_that_cannot_say_is_taken_to_draw():
    [plugin] = get_strategy("reservoir").plugins({"buffer_size": 3})  # Avalanche's own buffer
    assert not hasattr(plugin.storage_policy, "drew_from_seed")
    assert seed_varies([plugin]) == ["batch_order", "p0_samples", "buffer"]


def test_one_drawing_buffer_among_several_is_enough():
    plugins = [_plugin(KeepsFirst(2, seed=0)), _plugin(KeepsLast(2, seed=0))]
    assert seed_varies(plugins) == ["batch_order", "p0_samples"]
    plugins[1].storage_policy.drew_from_seed = True
    assert seed_varies(plugins) == ["batch_order", "p0_samples", "buffer"]


# ---------------------------------------------------------------- BufferHistory


def test_no_buffer_no_history():
    history = BufferHistory(get_strategy("naive").plugins({}, seed=0))
    assert history.sha256 is None
    history.after_training_exp(None)
    assert history.sha256 is None


def test_the_history_chains_the_buffers_after_every_experience():
    datasets = clustered_sessions(sessions=3, per_session=4)
    history, hashes, buffers = _train([_plugin(KeepsFirst(3, seed=0))], datasets)
    assert hashes[0] == EMPTY and len(set(hashes)) == len(hashes)
    assert hashes == _by_hand(buffers)
    assert history.sha256 == hashes[-1] and len(bytes.fromhex(history.sha256)) == 32


def test_the_same_selections_give_the_same_history():
    datasets = clustered_sessions(sessions=3, per_session=5)
    first = _train(get_strategy("er-rand").plugins({"buffer_size": 3}, seed=4), datasets)
    again = _train(get_strategy("er-rand").plugins({"buffer_size": 3}, seed=4), datasets)
    assert first[1] == again[1]
    # a deterministic strategy keeps the same items whatever its seed: one history
    assert _train([_plugin(KeepsFirst(3, seed=0))], datasets)[1] == _train([_plugin(KeepsFirst(3, seed=9))], datasets)[1]


def test_other_selections_give_another_history():
    datasets = clustered_sessions(sessions=3, per_session=5)
    _, a, buffers_a = _train(get_strategy("er-rand").plugins({"buffer_size": 3}, seed=0), datasets)
    seed = next(s for s in range(1, 50)  # a seed whose er-rand buffer differs from seed 0's
                if not np.array_equal(buffer_latents(_train(get_strategy("er-rand").plugins(
                    {"buffer_size": 3}, seed=s), datasets)[2][-1][0]), buffer_latents(buffers_a[-1][0])))
    _, b, _ = _train(get_strategy("er-rand").plugins({"buffer_size": 3}, seed=seed), datasets)
    assert a[-1] != b[-1]
    first, last = _train([_plugin(KeepsFirst(3))], datasets)[1], _train([_plugin(KeepsLast(3))], datasets)[1]
    assert first[-1] != last[-1]


def test_the_same_final_buffer_after_other_buffers_is_another_history():
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(4, 8, generator=g)
    images = torch.rand(4, 3, 4, 4, generator=g)

    def plugin_holding(*rows):
        buffer = KeepsFirst(4)
        buffer.buffer = items_dataset(latents[list(rows)], images[list(rows)], 0)
        return _plugin(buffer)

    def chain(*buffers):
        [plugin] = [plugin_holding(*buffers[0])]
        history = BufferHistory([plugin])
        for rows in buffers:
            plugin.storage_policy.buffer = plugin_holding(*rows).storage_policy.buffer
            history.after_training_exp(None)
        return history.sha256

    assert chain((0, 1), (2, 3)) == chain((0, 1), (2, 3))
    assert chain((0, 1), (2, 3)) != chain((1, 0), (2, 3)) != chain((0, 2), (2, 3))
    assert chain((0,), (1,)) != chain((1,), (1,))


def test_the_history_follows_a_storage_policy_replaced_by_a_restore():
    """A resumed run copies the saved plugins' attributes into fresh ones (``checkpoint.restore``),
    which replaces their storage policy: the history must hash the buffer the plugin uses now."""
    datasets = clustered_sessions(sessions=3, per_session=5)
    whole = _train(get_strategy("er-rand").plugins({"buffer_size": 3}, seed=2), datasets)[1]

    saved = get_strategy("er-rand").plugins({"buffer_size": 3}, seed=2)
    head, head_hashes, _ = _train(saved, datasets[:2])
    fresh = get_strategy("er-rand").plugins({"buffer_size": 3}, seed=2)
    history = BufferHistory(fresh)  # built before the restore, as the runner builds it
    for mine, old in zip(fresh, pickle.loads(pickle.dumps(saved))):
        mine.__dict__.update(old.__dict__)
    assert fresh[0].storage_policy is not saved[0].storage_policy
    history.sha256 = head.sha256
    _train_last([*fresh, history], datasets)
    assert head_hashes == whole[:3] and history.sha256 == whole[-1]


# ---------------------------------------------------------------- BufferHistory.record


def _anchors(datasets):
    return [buffer_latents(d) for d in datasets]


def _segment_distance(w: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """Euclidean distance from w to the segment [p, q] (the hull of a 2-item buffer), by hand."""
    u = np.clip(np.dot(w - p, q - p) / np.dot(q - p, q - p), 0.0, 1.0)
    return float(np.linalg.norm(w - (p + u * (q - p))))


def test_no_buffer_no_record():
    history = BufferHistory(get_strategy("naive").plugins({}, seed=0), [torch.zeros(2, 8)])
    history.after_training_exp(None)
    assert history.record() is None


def test_the_record_names_each_buffer_item_and_measures_each_session_to_the_final_hull():
    datasets = clustered_sessions(sessions=3, per_session=4)
    anchors = _anchors(datasets)
    history, _, buffers = _train(get_strategy("er-rand").plugins({"buffer_size": 2}, seed=3), datasets,
                                 [torch.as_tensor(a) for a in anchors])
    record = history.record()
    assert record["sessions"] == [buffer_sessions(b[0]) for b in buffers]
    for held, items, [data] in zip(record["sessions"], record["items"], buffers):
        latents = buffer_latents(data)
        found = [np.flatnonzero((anchors[s] == w).all(1)).tolist() for s, w in zip(held, latents)]
        assert found == [[i] for i in items]
    p, q = buffer_latents(buffers[-1][0]).astype(np.float64)
    by_hand = [np.mean([_segment_distance(w, p, q) for w in session.astype(np.float64)]) for session in anchors]
    assert np.allclose(record["hull_distance"], by_hand, rtol=1e-6, atol=1e-9)
    assert all(d > 0 for d in record["hull_distance"])  # 4 anchors a session, at most 2 of them on the hull


def test_without_anchors_the_record_has_the_sessions_only():
    datasets = clustered_sessions(sessions=2, per_session=3)
    history, _, buffers = _train([_plugin(KeepsLast(2))], datasets)
    assert history.record() == {"sessions": [[0, 0], [1, 1]], "items": [[None, None], [None, None]],
                                "hull_distance": None}


def test_the_record_survives_a_checkpoint_and_a_resume_from_an_older_one_says_what_it_did_not_see():
    """The runner pickles the history with the strategy's plugins and restores it as
    ``checkpoint.restore`` restores them (``__dict__`` updated); its plugins and anchors stay the fresh ones."""
    datasets = clustered_sessions(sessions=3, per_session=5)
    anchors = [torch.as_tensor(a) for a in _anchors(datasets)]
    whole = _train(get_strategy("er-rand").plugins({"buffer_size": 3}, seed=2), datasets, anchors)[0].record()

    saved = get_strategy("er-rand").plugins({"buffer_size": 3}, seed=2)
    head, _, _ = _train(saved, datasets[:2], anchors)
    state = pickle.dumps([*saved, head])
    kept = vars(pickle.loads(state)[-1])
    assert {"sha256", "sessions", "items"} <= set(kept) and not {"plugins", "anchors"} & set(kept)

    def resume(state, older=False):
        fresh = get_strategy("er-rand").plugins({"buffer_size": 3}, seed=2)
        history = BufferHistory(fresh, anchors)
        for mine, old in zip([*fresh] if older else [*fresh, history], pickle.loads(state)):
            mine.__dict__.update(old.__dict__)
        history.sha256 = head.sha256
        history.resumed(2)
        assert history.plugins == fresh and len(history.anchors) == 3  # the fresh ones
        _train_last([*fresh, history], datasets)
        return history.record()

    assert resume(state) == whole
    older = resume(pickle.dumps(saved), older=True)  # a checkpoint without the history: experiences 0 and 1 unseen
    assert older == {**whole, "sessions": [None, None, whole["sessions"][2]], "items": [None, None, whole["items"][2]]}


def _train_last(plugins, datasets) -> None:
    """Train a fresh tiny model (seed 0) with ``plugins`` on the last of three ``datasets``, as a
    resumed run trains its third experience."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No loggers specified")
        torch.manual_seed(0)
        model = _Tiny()
        template = SupervisedTemplate(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                                      criterion=torch.nn.MSELoss(), train_mb_size=2, train_epochs=1, device="cpu",
                                      plugins=plugins, evaluator=EvaluationPlugin(loggers=[]))
    [last] = benchmark_from_datasets(train=datasets[2:], test=datasets[2:]).train_stream
    template.train(last, eval_streams=[])
