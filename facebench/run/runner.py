"""One run: a strategy fine-tunes one person's generator through the stream, evaluated after
every session, checkpointed after every session, written as one result file.

A run is identified by (scenario, strategy and its parameters, person, seed); its result file
is ``OUT/<scenario>/<strategy>[-k<K>]/person<P>-seed<S>.json`` and its checkpoint lies beside
it as ``.ckpt``. A killed run restarted with ``resume=True`` continues from the last finished
session and ends with exactly the numbers of an uninterrupted run (same machine, same threads).

A strategy plugin that changes the model's structure (e.g. low-rank adapters) does it in
``adapt_model(synthesis)``, which the runner calls once before training and before a resumed
run restores the weights.
"""

from __future__ import annotations

import copy
import os
import pickle
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from facebench import registry
from facebench.board import schema as results
from facebench.data import load_scenario
from facebench.errors import FacebenchError
from facebench.run.memory import kept_memory
from facebench.run.template import PersonalizationTemplate, Zoo, anchor_dataset, person_anchors
from facebench.run.evaluator import ProtocolEvaluator
from facebench.protocol import Protocol


class RunError(FacebenchError):
    """A run that cannot start or cannot go on; the message says why."""


@dataclass(frozen=True)
class RunSpec:
    """What identifies a run."""

    strategy: str
    params: dict = field(default_factory=dict)
    scenario: str = "faceworld"
    person: str = "0"
    seed: int = 0

    def result_path(self, out: Path, scenario_name: str) -> Path:
        tag = self.strategy + "".join(f"-{_short(k)}{v}" for k, v in sorted(self.params.items()))
        return Path(out) / scenario_name / tag / f"person{self.person}-seed{self.seed}.json"


def _short(param: str) -> str:
    return "k" if param == "buffer_size" else param.replace("_", "")


_ZOOS: dict[tuple[int, str], Zoo] = {}


def _zoo(resolution: int, device: str) -> Zoo:
    if (resolution, device) not in _ZOOS:
        _ZOOS[resolution, device] = Zoo.load(resolution, device)
    return _ZOOS[resolution, device]


def run(spec: RunSpec, out: str | Path = "runs", resume: bool = False, force: bool = False,
        progress=None, device: str | None = None) -> Path:
    """Run ``spec`` and write its result file; returns the file's path.

    ``progress``: an optional callable ``progress(stage, done, total)`` told about fine-tuning
    steps (stage "train") and finished sessions (stage "session"). ``device``: the torch device
    (default $FACEBENCH_DEVICE, else "cpu"); it is recorded in the result file.
    """
    device = device or os.environ.get("FACEBENCH_DEVICE", "cpu")
    entry = registry.get_strategy(spec.strategy)
    params = entry.resolve_params(spec.params)
    spec = RunSpec(spec.strategy, params, spec.scenario, str(spec.person), int(spec.seed))
    scenario = load_scenario(spec.scenario)
    if spec.person not in scenario.persons:
        raise RunError(f"unknown person '{spec.person}' in scenario {scenario.name}; "
                       f"persons: {', '.join(scenario.persons)}")
    path = spec.result_path(Path(out), scenario.name)
    ckpt = path.with_suffix(".ckpt")
    _check_writable(path.parent)
    if path.exists() and not force:
        raise RunError(f"{path} exists; use --force to overwrite it")
    state = _load_checkpoint(ckpt, spec) if resume and ckpt.exists() else None

    protocol = Protocol.from_card(scenario.card)
    started = time.perf_counter()
    zoo = _zoo(scenario.card.data["resolution"], device)
    sessions = scenario.sessions(spec.person)
    t0 = time.perf_counter()
    anchors = person_anchors(zoo, scenario, spec.person, protocol)
    anchors_s = time.perf_counter() - t0
    # seeded here, after whatever loading did (a zoo built in this process, or not), so that a
    # run's numbers never depend on the runs before it in the same process
    torch.manual_seed(spec.seed)
    np.random.seed(spec.seed % 2**32)
    random.seed(spec.seed)

    generator = copy.deepcopy(zoo.generator).requires_grad_(True)
    plugins = entry.plugins(params, seed=spec.seed, replay_batch_size=protocol.batch_replay)
    evaluator = ProtocolEvaluator(generator, zoo, sessions, anchors, protocol, spec.seed)
    joint = entry.kind == "joint"
    steps = protocol.steps_per_session * (len(sessions) if joint else 1)
    batch = protocol.batch_new + (protocol.batch_replay if joint or entry.cumulative else 0)
    datasets = _session_datasets(anchors, sessions, joint, entry.cumulative)
    template = PersonalizationTemplate(synthesis=generator.synthesis, perceptual=zoo.perceptual, protocol=protocol,
                                       plugins=plugins + ([] if joint else [evaluator]),
                                       steps=steps, batch_size=batch, progress=progress, device=device)
    for plugin in plugins:  # structural changes (e.g. adapters) before a resumed run loads its weights
        if hasattr(plugin, "adapt_model"):
            plugin.adapt_model(generator.synthesis)
    timing = {"anchors_s": anchors_s, "train_s": 0.0}
    first = 0
    if state is not None:
        first = _restore(state, generator, template, plugins, evaluator, timing)
    stream = _experiences(datasets)
    for t in range(first, len(stream)):
        t1 = time.perf_counter()
        template.train(stream[t], eval_streams=[])
        timing["train_s"] += time.perf_counter() - t1
        if joint:
            row = evaluator.scores(len(sessions) - 1)
            for name, values in row.items():
                evaluator.matrices[name] = values[None, :]
        if progress:
            progress("session", t + 1, len(stream))
        elapsed = time.perf_counter() - started + (state or {}).get("elapsed_s", 0.0)
        _save_checkpoint(ckpt, spec, t + 1, generator, template, plugins, evaluator, timing, elapsed)
    timing["eval_s"] = evaluator.seconds
    timing["select_s"] = sum(getattr(p, "select_seconds", 0.0) for p in _storage_policies(plugins))
    # template.train also ran the plugins: buffer selection, and (sequential) the evaluation
    timing["train_s"] -= timing["select_s"] + (0.0 if joint else timing["eval_s"])
    timing["total_s"] = time.perf_counter() - started + (state or {}).get("elapsed_s", 0.0)
    payload = results.make_result(spec=spec, entry=entry, scenario=scenario, protocol=protocol,
                                  matrices=evaluator.matrices, timing=timing,
                                  memory=kept_memory(plugins, datasets[-1] if joint or entry.cumulative else None),
                                  device=device)
    results.write_atomic(path, payload)
    ckpt.unlink(missing_ok=True)
    return path


def _session_datasets(anchors, sessions, joint: bool, cumulative: bool) -> list:
    """The training data of each experience: one session's anchors (sequential), the anchors
    of sessions 0..t (cumulative), or one experience with every session's anchors (joint)."""
    own = [anchor_dataset(a, s.train.images, t) for t, (a, s) in enumerate(zip(anchors, sessions))]
    if joint:
        return [_concat(own)]
    if cumulative:
        return [_concat(own[: t + 1]) for t in range(len(own))]
    return own


def _concat(datasets):
    out = datasets[0]
    for more in datasets[1:]:
        out = out.concat(more)
    return out


def _experiences(datasets):
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets

    return list(benchmark_from_datasets(train=datasets, test=datasets).train_stream)


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise RunError(f"result directory {folder} is not writable: {error.strerror or error}") from None


def _storage_policies(plugins):
    return [p.storage_policy for p in plugins if hasattr(p, "storage_policy")]


def _save_checkpoint(path, spec, sessions_done, generator, template, plugins, evaluator, timing, elapsed) -> None:
    state = {
        "spec": spec,
        "elapsed_s": elapsed,
        "sessions_done": sessions_done,
        "generator": generator.state_dict(),
        "optimizer": template.optimizer.state_dict(),
        "clock": dict(vars(template.clock)),  # plugins read train_exp_counter (EWC, SI, MAS)
        "plugins": pickle.dumps(plugins),
        "matrices": evaluator.matrices,
        "eval_s": evaluator.seconds,
        "timing": timing,
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
    }
    results.save_atomic(path, state)


def _load_checkpoint(path: Path, spec: RunSpec) -> dict:
    try:
        state = torch.load(path, weights_only=False)
    except Exception as error:
        raise RunError(f"checkpoint {path} cannot be read ({error}); delete it to start the run over") from None
    if state.get("spec") != spec:
        raise RunError(f"checkpoint {path} belongs to another run ({state.get('spec')}); delete it or change --out")
    return state


def _restore(state, generator, template, plugins, evaluator, timing) -> int:
    generator.load_state_dict(state["generator"])
    template.pending_optimizer_state = state["optimizer"]
    vars(template.clock).update(state["clock"])
    for mine, saved in zip(plugins, pickle.loads(state["plugins"])):
        mine.__dict__.update(saved.__dict__)
    evaluator.matrices = state["matrices"]
    evaluator.seconds = state["eval_s"]
    timing.update(state["timing"])
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return state["sessions_done"]
