"""The exact replay dose (protocol v2): every optimiser step of a replay run holds exactly
batch_new new and batch_replay replayed samples once the buffer holds items, whatever K."""

import pickle
from types import SimpleNamespace

import pytest
import torch
from avalanche.core import SupervisedPlugin
from torch import nn

from facebench.data.items import items_dataset
from facebench.protocol import Protocol
from facebench.registry import get_strategy
from facebench.replay import BufferReplayPlugin, ExactReplayLoader, replay_loader_seed
from facebench.run.template import PersonalizationTemplate, training_stream

DIM, SIZE = 4, 8


def session(s: int, n: int):
    """n items of session s; item i's latent is (s, i, 0, 0), its image is filled with s + i / 100."""
    latents = torch.zeros(n, DIM)
    latents[:, 0], latents[:, 1] = float(s), torch.arange(n, dtype=torch.float32)
    images = (s + latents[:, 1] / 100)[:, None, None, None].expand(n, 3, SIZE, SIZE).contiguous()
    return items_dataset(latents, images, s)


def ids(w: torch.Tensor) -> list[tuple[int, int]]:
    """(session, index) of each latent of a mini-batch."""
    return [(int(a), int(b)) for a, b in w[:, :2].tolist()]


def loader(n_new=7, k=3, batch_new=2, batch_replay=2, seed=0, experience=1):
    return ExactReplayLoader(session(1, n_new), session(0, k), batch_new=batch_new, batch_replay=batch_replay,
                             seed=replay_loader_seed(seed, experience))


def check_batch(batch, batch_new, batch_replay, k, n_new):
    w, x, t = batch
    size = batch_new + batch_replay
    assert w.shape == (size, DIM) and w.dtype == torch.float32
    assert x.shape == (size, 3, SIZE, SIZE) and x.dtype == torch.float32
    assert t.shape == (size,) and t.dtype == torch.long and (t == 0).all()
    # each image travels with its own latent
    assert torch.equal(x[:, 0, 0, 0], w[:, 0] + w[:, 1] / 100)
    new, replayed = ids(w)[:batch_new], ids(w)[batch_new:]
    assert all(s == 1 and 0 <= i < n_new for s, i in new)
    assert all(s == 0 and 0 <= i < k for s, i in replayed)
    if k >= batch_replay:
        assert len(set(replayed)) == batch_replay
    return new, replayed


@pytest.mark.parametrize("k, batch_replay", [(1, 2), (2, 2), (3, 2), (5, 2), (10, 2), (2, 3)])
def test_every_batch_holds_exactly_the_dose(k, batch_replay):
    data = loader(n_new=7, k=k, batch_replay=batch_replay)
    assert len(data) == 3  # 7 // 2: the odd item waits for another epoch
    seen_replayed = set()
    for epoch in range(4):
        batches = list(data)
        assert len(batches) == 3
        new = []
        for batch in batches:
            n, r = check_batch(batch, 2, batch_replay, k, 7)
            new += n
            seen_replayed |= set(r)
        assert len(set(new)) == 6  # one permutation per epoch: no item twice in an epoch
    if k <= 5:
        assert len(seen_replayed) == k  # over 12 steps every buffer item comes up


def test_fewer_new_items_than_batch_new_are_drawn_with_replacement():
    data = loader(n_new=1, k=4, batch_new=3, batch_replay=2)
    assert len(data) == 1
    for _ in range(3):
        [batch] = list(data)
        new, _ = check_batch(batch, 3, 2, 4, 1)
        assert new == [(1, 0)] * 3


def test_same_seed_and_experience_same_batches_and_the_global_generator_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b = loader(seed=5, experience=2), loader(seed=5, experience=2)
    batches_a = [batch for _ in range(3) for batch in a]
    batches_b = [batch for _ in range(3) for batch in b]
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(p, q) for x, y in zip(batches_a, batches_b) for p, q in zip(x, y))
    others = [[batch for _ in range(3) for batch in loader(seed=s, experience=e)] for s, e in ((5, 3), (6, 2))]
    for other in others:
        assert [ids(x[0]) for x in other] != [ids(x[0]) for x in batches_a]
    assert replay_loader_seed(5, 2) != replay_loader_seed(5, 3) != replay_loader_seed(6, 3)


def fake_strategy(buffer_size=3, experience=1, n_new=5):
    return SimpleNamespace(adapted_dataset=session(experience, n_new), train_mb_size=2, dataloader="template's",
                           experience=SimpleNamespace(current_experience=experience))


def test_the_plugin_builds_the_loader_only_for_a_non_empty_buffer():
    [plugin] = get_strategy("er-rand").plugins({"buffer_size": 3}, seed=7, replay_batch_size=3)
    assert isinstance(plugin, BufferReplayPlugin) and plugin.seed == 7
    strategy = fake_strategy()
    plugin.before_training_exp(strategy)
    assert strategy.dataloader == "template's"  # empty buffer: the template's own loader
    plugin.storage_policy.buffer = session(0, 4)
    plugin.before_training_exp(strategy)
    data = strategy.dataloader
    assert isinstance(data, ExactReplayLoader) and data.batch_new == 2 and data.batch_replay == 3
    assert data.seed == replay_loader_seed(7, 1)
    # a plugin restored from its pickle (as a checkpoint restores it) draws the same batches
    restored = pickle.loads(pickle.dumps(plugin))
    again = fake_strategy()
    restored.before_training_exp(again)
    torch.manual_seed(999)
    assert [ids(b[0]) for b in again.dataloader] == [ids(b[0]) for b in data] and len(data) == 2


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(DIM, 3 * SIZE * SIZE)

    def forward(self, w):
        return self.linear(w).view(-1, 3, SIZE, SIZE)


class _MeanSquared(nn.Module):
    def forward(self, output, target):
        return (output - target).square().mean(dim=(1, 2, 3))


class BatchLog(SupervisedPlugin):
    """Per experience: the (session, index) of every sample of every optimiser step, and the buffer then."""

    def __init__(self, replay):
        super().__init__()
        self.replay, self.steps, self.buffers = replay, {}, {}

    def before_training_exp(self, strategy, **kwargs):
        t = strategy.experience.current_experience
        buffer = self.replay.storage_policy.buffer
        self.buffers[t] = set(ids(torch.stack([buffer[i][0] for i in range(len(buffer))]))) if len(buffer) else set()

    def before_backward(self, strategy, **kwargs):
        assert strategy.mb_output.shape[0] == len(strategy.mbatch[0])
        self.steps.setdefault(strategy.experience.current_experience, []).append(ids(strategy.mbatch[0].cpu()))


PROTOCOL = Protocol(steps_per_session=3, batch_new=2, batch_replay=2)
SIZES = (6, 5, 3)  # experience 1: 2 batches per epoch, experience 2: 1 (the template re-iterates)


def tiny_run(plugins, log, experiences):
    torch.manual_seed(0)
    template = PersonalizationTemplate(synthesis=_Tiny(), perceptual=_MeanSquared(), protocol=PROTOCOL,
                                       plugins=[*plugins, log])
    stream = training_stream([session(s, n) for s, n in enumerate(SIZES)])
    for t in experiences:
        template.train(stream[t], eval_streams=[])


def test_a_replay_run_through_the_template_gets_exactly_the_dose():
    [replay] = get_strategy("er-rand").plugins({"buffer_size": 3}, seed=1, replay_batch_size=PROTOCOL.batch_replay)
    log = BatchLog(replay)
    tiny_run([replay], log, range(3))
    assert sorted(log.steps) == [0, 1, 2] and all(len(steps) == 3 for steps in log.steps.values())
    assert all(len(step) == 2 and {s for s, _ in step} == {0} for step in log.steps[0])  # no replay yet
    for t in (1, 2):
        assert len(log.buffers[t]) == 3
        for step in log.steps[t]:
            new, replayed = step[:2], step[2:]
            assert len(step) == 4 and {s for s, _ in new} == {t}
            assert len(set(replayed)) == 2 and set(replayed) <= log.buffers[t]

    # resumed at the boundary of experience 2 into fresh plugins, the global generator elsewhere
    [head] = get_strategy("er-rand").plugins({"buffer_size": 3}, seed=1, replay_batch_size=PROTOCOL.batch_replay)
    tiny_run([head], BatchLog(head), range(2))
    [fresh] = get_strategy("er-rand").plugins({"buffer_size": 3}, seed=1, replay_batch_size=PROTOCOL.batch_replay)
    fresh.__dict__.update(pickle.loads(pickle.dumps(head)).__dict__)
    resumed = BatchLog(fresh)
    tiny_run([fresh], resumed, [2])
    assert resumed.steps[2] == log.steps[2]
