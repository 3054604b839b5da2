"""facebench.replay: the pool, the spread, the update through a real ReplayPlugin, checks, state."""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from replay_helpers import buffer_latents, buffer_sessions, clustered_sessions, run_stream, session_dataset

from facebench.data.items import item_tensors
from facebench.errors import FacebenchError
from facebench.replay import Pool, ReplayBuffer, SelectionError, session_spread


class Recorder(ReplayBuffer):
    """Keeps k random pool items and records every pool it saw."""

    def __init__(self, max_size, seed=0):
        super().__init__(max_size, seed)
        self.pools = []

    def select(self, pool, k, rng):
        self.pools.append(pool)
        return rng.permutation(len(pool))[:k].tolist()


class Returns(ReplayBuffer):
    """Returns a fixed answer, right or wrong."""

    def __init__(self, max_size, answer):
        super().__init__(max_size)
        self.answer = answer

    def select(self, pool, k, rng):
        return self.answer


def test_session_spread_by_hand():
    latents = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0], [9.0, 9.0]])
    sessions = np.array([0, 0, 0, 1])
    # item 0: (5 + 4) / 2 ; item 1: (5 + 3) / 2 ; item 2: (4 + 3) / 2 ; item 3 is alone
    assert session_spread(latents, sessions).tolist() == [4.5, 4.0, 3.5, 0.0]


@pytest.fixture
def warned(monkeypatch) -> list[str]:
    """Every message given to ``warnings.warn`` during the test. Avalanche's deprecation decorator
    resets the warning filters itself, so a filter set to "error" would not catch its calls."""
    said = []
    monkeypatch.setattr(warnings, "warn", lambda message, *a, **k: said.append(str(message)))
    return said


def test_pool_and_update_through_a_replay_plugin(warned):
    datasets = clustered_sessions(sessions=3, per_session=5)
    buffer = Recorder(max_size=3, seed=0)
    snapshots = run_stream(buffer, datasets)
    assert not [m for m in warned if "deprecated" in m], warned  # the plugin avoids Avalanche's deprecated path
    first, second, third = buffer.pools
    assert [len(p) for p in buffer.pools] == [5, 8, 8]  # the experience, then K buffered + 5 new
    assert first.sessions.tolist() == [0] * 5
    assert second.sessions.tolist()[3:] == [1] * 5 and third.sessions.tolist()[3:] == [2] * 5
    assert isinstance(first, Pool) and first.latents.dtype == np.float32 and first.latents.shape == (5, 8)
    assert first.images.shape == (5, 3, 4, 4) and first.sessions.dtype == np.int64
    # the pool starts with the buffer, whose items kept the spread computed when they entered
    np.testing.assert_array_equal(second.latents[:3], buffer_latents(snapshots[0]))
    for pool in buffer.pools:
        for s in np.unique(pool.sessions):
            whole = np.stack([w.numpy() for w, _, _ in datasets[s]])
            expected = session_spread(whole, np.zeros(len(whole)))
            for i in np.flatnonzero(pool.sessions == s):
                j = int(np.flatnonzero((whole == pool.latents[i]).all(1))[0])
                assert pool.spread[i] == pytest.approx(expected[j])
    assert [len(s) for s in snapshots] == [3, 3, 3]
    assert sorted(set(buffer_sessions(snapshots[-1]))) <= [0, 1, 2]
    item = snapshots[-1][0]
    assert len(item) == 3 and item[0].shape == (8,) and item[1].shape == (3, 4, 4) and int(item[2]) == 0
    assert buffer.select_seconds > 0


@pytest.mark.parametrize("answer, fault", [
    ([0, 0], "returned repeated indices: [0, 0]"),
    ([0, 99], "returned an index out of range 0..4: [0, 99]"),
    ([0, 1, 2, 3], "returned 4 indices, more than K = 3"),
    ([0.0, 1.0], "returned non-integer indices: [0.0, 1.0]"),
    (None, "returned NoneType, not a list of indices"),
])
def test_a_wrong_selection_is_a_facebench_error_naming_the_strategy_the_session_and_the_fault(answer, fault):
    with pytest.raises(SelectionError) as error:
        run_stream(Returns(3, answer), clustered_sessions(sessions=1, per_session=5))
    assert isinstance(error.value, FacebenchError)  # the command line prints it as one line
    assert str(error.value) == (f"replay strategy {__name__}.Returns: its select, after session 0 "
                                f"(pool of 5 items, K = 3), {fault}")


class RepeatsAtSessionOne(ReplayBuffer):
    """Keeps the first item, but answers [0, 0] after session 1."""

    def select(self, pool, k, rng):
        return [0, 0] if pool.sessions.max() == 1 else [0]


def test_a_wrong_selection_names_the_session_it_follows():
    with pytest.raises(SelectionError, match=r"RepeatsAtSessionOne: its select, after session 1 \(pool of 6 items, "
                                             r"K = 3\), returned repeated indices"):
        run_stream(RepeatsAtSessionOne(3), clustered_sessions(sessions=3, per_session=5))


def test_a_shorter_selection_is_allowed():
    [snapshot] = run_stream(Returns(3, [4]), clustered_sessions(sessions=1, per_session=5))
    assert len(snapshot) == 1


def _continue(buffer, datasets):
    return buffer_latents(run_stream(buffer, datasets)[-1])


def test_state_dict_and_pickle_resume_exactly():
    datasets = clustered_sessions(sessions=4, per_session=5)
    whole = Recorder(3, seed=5)
    expected = _continue(whole, datasets)

    head = Recorder(3, seed=5)
    run_stream(head, datasets[:2])
    state = copy.deepcopy(head.state_dict())
    restored = Recorder(3, seed=999)
    restored.load_state_dict(state)
    np.testing.assert_array_equal(buffer_latents(restored.buffer), buffer_latents(head.buffer))
    assert buffer_sessions(restored.buffer) == buffer_sessions(head.buffer)
    np.testing.assert_array_equal(_continue(restored, datasets[2:]), expected)
    assert restored.select_seconds >= state["select_seconds"] > 0

    unpickled = pickle.loads(pickle.dumps(head))
    np.testing.assert_array_equal(_continue(unpickled, datasets[2:]), expected)


def test_state_dict_of_an_empty_buffer():
    empty = Recorder(3, seed=1)
    restored = Recorder(3, seed=2)
    restored.load_state_dict(empty.state_dict())
    assert len(restored.buffer) == 0 and restored.rng.random() == Recorder(3, seed=1).rng.random()


def test_resize_reselects_from_the_buffer():
    buffer = Recorder(4, seed=0)
    run_stream(buffer, clustered_sessions(sessions=2, per_session=5))
    before = buffer_latents(buffer.buffer)
    buffer.resize(None, 2)
    after = buffer_latents(buffer.buffer)
    assert buffer.max_size == 2 and len(after) == 2 and len(buffer.pools[-1]) == 4
    assert all((before == row).all(1).any() for row in after)


def test_single_item_session_has_zero_spread():
    [snapshot] = run_stream(Recorder(2, seed=0), [session_dataset(torch.ones(1, 8), 0)])
    assert [float(s) for s in snapshot.spread] == [0.0]


def test_item_tensors_stacks_the_fields_of_every_item():
    data = session_dataset(torch.arange(12.0).view(3, 4).repeat(1, 2), 0)
    latents, images = item_tensors(data, 0, 1)
    assert latents.shape == (3, 8) and images.shape == (3, 3, 4, 4)
    assert torch.equal(latents, torch.stack([data[i][0] for i in range(3)]))
    assert torch.equal(images[2], data[2][1])


def test_the_registrys_plugin_avoids_avalanches_deprecated_update(warned):
    from facebench.registry import get_strategy

    [plugin] = get_strategy("reservoir").plugins({"buffer_size": 3})  # Avalanche's own buffer
    snapshots = run_stream(plugin.storage_policy, clustered_sessions(sessions=2, per_session=4), plugin)
    assert [len(s) for s in snapshots] == [3, 3]
    assert not [m for m in warned if "deprecated" in m], warned


class KeepsFirst(ReplayBuffer):
    """Keeps the first k pool items: never draws from its generator."""

    def select(self, pool, k, rng):
        return list(range(min(k, len(pool))))


def test_drew_from_seed_says_whether_select_drew_from_its_generator():
    datasets = clustered_sessions(sessions=3, per_session=5)
    still, drawing = KeepsFirst(3, seed=0), Recorder(3, seed=0)
    assert not still.drew_from_seed and not drawing.drew_from_seed
    run_stream(still, datasets)
    run_stream(drawing, datasets)
    assert not still.drew_from_seed and drawing.drew_from_seed
    assert len(still.buffer) == 3 and len(drawing.pools) == 3

    restored = KeepsFirst(3, seed=0)
    restored.drew_from_seed = True
    restored.load_state_dict(copy.deepcopy(still.state_dict()))  # the flag is in the state ...
    assert still.state_dict()["drew_from_seed"] is False and restored.drew_from_seed is False
    fresh = Recorder(3, seed=0)
    fresh.load_state_dict(copy.deepcopy(drawing.state_dict()))
    assert fresh.drew_from_seed is True
    assert pickle.loads(pickle.dumps(drawing)).drew_from_seed is True  # ... and pickles with the buffer
