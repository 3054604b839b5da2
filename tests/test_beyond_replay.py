"""The strategies beyond photo replay (issue 7): regularisers, latent replay, distillation, LoRA,
GDumb -- each on the quick card with its kept memory, resumed runs, and each one's mechanism.

The quick-card runs fine-tune a generator through the runner and are marked slow; the tests of
each mechanism on tiny models stay in the quick suite."""

import json
import math
import warnings

import numpy as np
import pytest
import torch
from avalanche.training.plugins import SynapticIntelligencePlugin
from avalanche.training.templates import SupervisedTemplate

from facebench.data.items import items_dataset
from facebench.registry import StrategyError, get_strategy
from facebench.run.runner import RunSpec, run
from facebench.strategies.gdumb import GDumbPlugin, greedy_balanced
from facebench.strategies.latent_replay import LatentBuffer
from facebench.strategies.lora import LoRAPlugin
from facebench.strategies.si import CopyingSI

QUICK = "faceworld-quick"
K = 2
D = 128  # the zoo's W dimension


pytestmark = pytest.mark.usefixtures("anchor_cache")


def _synthesis_bytes():
    from facebench.models import load

    synthesis = load("generator").synthesis
    return sum(p.numel() * p.element_size() for p in synthesis.parameters())


def _image_bytes():
    return 3 * 64 * 64 * 4  # float32


# strategy -> (parameters, expected kept memory (items, bytes) as a function of nothing)
NEW = {
    "ewc": ({}, lambda: (None, 2 * _synthesis_bytes())),
    "mas": ({}, lambda: (None, 2 * _synthesis_bytes())),
    "si": ({}, None),  # several copies of the weights: checked to be a multiple below
    "latent-replay": ({"buffer_size": K}, lambda: (K, K * D * 4)),
    "distill": ({}, lambda: (3 * 6, 3 * 6 * D * 4)),  # the anchor latents of all 3 sessions (6 each)
    "lora": ({}, lambda: (None, 0)),
    "lora-er-hull": ({"buffer_size": K}, lambda: (K, K * (D * 4 + _image_bytes()))),
    "gdumb": ({"buffer_size": K}, lambda: (K, K * (D * 4 + _image_bytes()))),
}


class Interrupt(Exception):
    pass


def _interrupted_then_resumed(spec, out):
    """Run ``spec`` until a few steps into session 1 (so a checkpoint of session 0 exists), then resume it."""
    sessions = {"done": 0}

    def progress(stage, done, total):
        if stage == "session":
            sessions["done"] = done
        elif sessions["done"] == 1 and done == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(spec, out, progress=progress)
    assert next(out.rglob("*.ckpt"), None) is not None
    return run(spec, out, resume=True)


def _assert_timing_adds_up(timing):
    parts = timing["anchors_s"] + timing["train_s"] + timing["select_s"] + timing["eval_s"]
    assert timing["train_s"] > 0 and timing["eval_s"] > 0
    assert parts <= timing["total_s"] + 5 * 0.0005  # each rounded to the millisecond


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NEW))
def test_runs_on_the_quick_card_resumes_exactly_and_records_its_memory(name, tmp_path):
    params, expected = NEW[name]
    spec = RunSpec(name, params, QUICK, "0", 0)
    whole = json.loads(run(spec, tmp_path / "whole").read_text())
    assert whole["strategy"]["name"] == name and whole["sessions"] == 3
    for score in whole["scores"].values():
        assert math.isfinite(score["aip"]) and math.isfinite(score["forgetting"])
    memory = whole["memory"]
    if expected is not None:
        assert (memory["items"], memory["bytes"]) == expected()
    else:
        assert memory["items"] is None and memory["bytes"] >= 3 * _synthesis_bytes()
    resumed = json.loads(_interrupted_then_resumed(spec, tmp_path / "resumed").read_text())
    assert resumed["scores"] == whole["scores"]
    assert resumed["memory"] == whole["memory"]
    assert resumed["buffer_history_sha256"] == whole["buffer_history_sha256"]  # the same buffers, in order
    assert (whole["buffer_history_sha256"] is None) == (name not in ("latent-replay", "lora-er-hull"))  # replay buffers
    assert resumed["seed_varies"] == whole["seed_varies"]
    _assert_timing_adds_up(whole["timing"])
    _assert_timing_adds_up(resumed["timing"])  # the interrupted part's seconds are carried over


@pytest.mark.slow
def test_regularisers_change_training_compared_with_naive(tmp_path):
    naive = json.loads(run(RunSpec("naive", {}, QUICK, "0", 0), tmp_path).read_text())["scores"]
    for name in ("ewc", "si", "mas"):
        scores = json.loads(run(RunSpec(name, {}, QUICK, "0", 0), tmp_path).read_text())["scores"]
        # session 0 has no penalty yet; from session 1 on the pull towards earlier weights acts
        assert scores["recon_perceptual"]["matrix"][0] == naive["recon_perceptual"]["matrix"][0]
        assert scores["recon_perceptual"]["matrix"][2] != naive["recon_perceptual"]["matrix"][2]


def _tiny_si_run(plugin):
    """Two experiences of a linear regression trained with ``plugin``; returns its importances."""
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets

    g = torch.Generator().manual_seed(0)
    data = [items_dataset(torch.randn(8, 4, generator=g), torch.randn(8, 2, generator=g), t) for t in range(2)]
    model = torch.nn.Linear(4, 2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No loggers specified")
        template = SupervisedTemplate(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                      criterion=torch.nn.MSELoss(), train_mb_size=4, train_epochs=2,
                                      plugins=[plugin], evaluator=None, device="cpu")
    for experience in benchmark_from_datasets(train=data, test=data).train_stream:
        template.train(experience, eval_streams=[])
    return torch.cat([v.data for v in plugin.ewc_data[1].values()])


@pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning")  # stock SI's numpy call
def test_stock_si_learns_no_importance_on_cpu_and_the_copying_one_does():
    # Avalanche snapshots weights as param.detach().cpu().flatten(): a view on CPU, so old == new
    assert torch.count_nonzero(_tiny_si_run(SynapticIntelligencePlugin(si_lambda=1.0))) == 0
    assert torch.count_nonzero(_tiny_si_run(CopyingSI(si_lambda=1.0))) > 0


def test_copying_si_trains_without_numpys_deprecation_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        with pytest.raises(DeprecationWarning, match="__array_wrap__"):  # Avalanche's np.square on tensors
            _tiny_si_run(SynapticIntelligencePlugin(si_lambda=1.0))
        _tiny_si_run(CopyingSI(si_lambda=1.0))


def _stream(sizes, dim=4):
    g = torch.Generator().manual_seed(1)
    out, first = [], 0
    for s, n in enumerate(sizes):
        images = torch.arange(first, first + n, dtype=torch.float32)[:, None, None, None].expand(-1, 3, 2, 2).clone()
        out.append(items_dataset(torch.randn(n, dim, generator=g), images, s))
        first += n
    return out


def test_gdumb_buffer_is_greedy_and_balanced_over_sessions():
    rng = np.random.default_rng(0)
    buffer = None
    for t, data in enumerate(_stream((5, 4, 1, 6))):
        buffer = greedy_balanced(buffer, data, 5, rng)
        counts = np.bincount([int(s) for s in buffer.session])
        assert len(buffer) == min(5, sum((5, 4, 1, 6)[: t + 1]))
        seen = counts[: t + 1]
        assert seen.max() - seen[seen > 0].min() <= 1 or seen.max() <= 2
        ids = [int(buffer[i][1][0, 0, 0]) for i in range(len(buffer))]
        assert len(set(ids)) == len(ids)
    assert sorted(np.bincount([int(s) for s in buffer.session]).tolist()) == [1, 1, 1, 2]


def test_gdumb_restarts_every_session_from_the_generic_weights():
    plugin = GDumbPlugin(3)
    model = torch.nn.Linear(2, 2)
    generic = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters())
    strategy = type("S", (), {"model": model, "optimizer": optimizer})()
    plugin.before_training_exp(strategy)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    assert optimizer.state and not torch.equal(model.weight, generic["weight"])
    plugin.before_training_exp(strategy)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in generic.items()) and not optimizer.state


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_gdumb_rejects_a_bad_buffer_size(bad):
    with pytest.raises(StrategyError, match="buffer_size must be a positive integer"):
        get_strategy("gdumb").plugins({"buffer_size": bad})


def test_latent_replay_keeps_latents_and_replays_the_generators_renders_not_photos():
    [plugin] = get_strategy("latent-replay").plugins({"buffer_size": 3}, seed=0, replay_batch_size=2)
    assert plugin.batch_size_mem == 2
    policy = plugin.storage_policy
    assert isinstance(policy, LatentBuffer)
    model = torch.nn.Sequential(torch.nn.Linear(4, 12), torch.nn.Unflatten(1, (3, 2, 2)))
    agent = type("A", (), {"model": model})()
    photos = set()
    for data in _stream((5, 4, 6)):
        photos |= {float(data[i][1][0, 0, 0]) for i in range(len(data))}
        agent.experience = type("E", (), {"dataset": data})()
        policy.post_adapt(agent, agent.experience)
        with torch.no_grad():
            model[0].weight.add_(0.1)  # the next session's generator differs
    kept = policy.buffer
    assert len(kept) == 3
    latents = torch.stack([kept[i][0] for i in range(3)])
    images = torch.stack([kept[i][1] for i in range(3)])
    model[0].weight.data.sub_(0.1)  # the generator as it was at the last update
    assert torch.allclose(images, model(latents).detach())
    assert not photos & {float(v) for v in images[:, 0, 0, 0]}
    assert policy.kept_memory() == (3, 3 * 4 * 4)


def test_latent_replay_needs_a_facebench_replay_policy():
    with pytest.raises(StrategyError, match="policy must be a facebench ReplayBuffer strategy"):
        get_strategy("latent-replay").plugins({"buffer_size": 3, "policy": "reservoir"})


def test_lora_trains_only_the_adapters_and_starts_at_the_generic_generator():
    from facebench.models import load

    synthesis = load("generator").synthesis.requires_grad_(True)
    w = torch.randn(2, D)
    before = synthesis(w).detach()
    frozen = {k: v.clone() for k, v in synthesis.state_dict().items()}
    LoRAPlugin(rank=2, alpha=8.0).adapt_model(synthesis)
    assert torch.allclose(synthesis(w), before, atol=1e-6)
    trainable = [n for n, p in synthesis.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith((".A", ".B")) for n in trainable)
    optimizer = torch.optim.Adam([p for p in synthesis.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        synthesis(w).square().mean().backward()
        optimizer.step()
    assert not torch.allclose(synthesis(w), before, atol=1e-4)
    originals = {k.replace("parametrizations.weight.original", "weight"): v for k, v in synthesis.state_dict().items()
                 if not k.endswith((".A", ".B"))}
    assert originals.keys() == frozen.keys()
    assert all(torch.equal(originals[k], frozen[k]) for k in frozen)


def test_lora_refuses_a_generator_it_cannot_adapt_instead_of_training_nothing():
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3))  # e.g. a user's StyleGAN2: other convolution classes
    with pytest.raises(StrategyError, match="lora: adapts facebench's ModulatedConv layers, and this generator "
                                            r"\(Sequential\) has none"):
        LoRAPlugin(rank=2, alpha=8.0).adapt_model(other)


def test_lora_er_hull_combines_the_adapters_with_er_hulls_replay():
    plugins = get_strategy("lora-er-hull").plugins({"buffer_size": 3}, seed=0, replay_batch_size=2)
    assert isinstance(plugins[0], LoRAPlugin)
    assert type(plugins[1].storage_policy).__name__ == "ERHull" and plugins[1].batch_size_mem == 2


def test_gdumb_says_when_its_seed_reached_its_buffer():
    """GDumb draws a replacement only once the buffer is full and an item of a smaller session
    arrives: until then its seed has not reached the buffer, and seed_varies says so."""
    from types import SimpleNamespace

    from facebench.run.history import seed_varies

    plugin = GDumbPlugin(3, seed=0)
    protocol = SimpleNamespace(batch_new=2, batch_replay=2)
    stream = _stream((3, 2))
    plugin.after_train_dataset_adaptation(SimpleNamespace(adapted_dataset=stream[0], protocol=protocol))
    assert not plugin.drew_from_seed and seed_varies([plugin]) == ["batch_order", "p0_samples"]
    plugin.after_train_dataset_adaptation(SimpleNamespace(adapted_dataset=stream[1], protocol=protocol))
    assert plugin.drew_from_seed and seed_varies([plugin]) == ["batch_order", "p0_samples", "buffer"]
