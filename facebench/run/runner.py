"""One run: a strategy fine-tunes one person's generator through the stream, evaluated as its
strategy kind says, checkpointed after every session, written as one result file.

A run is identified by (scenario, strategy and its parameters, person, seed); its result file
is ``OUT/<scenario>/<folder>/person<P>-seed<S>.json``, the folder named by the strategy and the
parameters that differ from its defaults (``facebench.registry.folder_name``: ``er-hull-k3``,
``ewc-ewclambda10000.0``; the file records all of them and the defaults), and its checkpoint lies beside
it as ``.ckpt`` (``facebench.run.checkpoint``). A killed run restarted with ``resume=True``
continues from the last finished session and ends with exactly the numbers of an
uninterrupted run (same machine, same threads).

The phases of ``run``: resolve the spec and its paths; load the generic models and the
person's anchors; seed the global generators; build the strategy's plugins, the protocol
evaluator and the fine-tuning template over the experiences the strategy kind lays out
(``facebench.run.kinds``), with the kind's own plugins (where each experience starts) and the
buffer history (``facebench.run.history``); let plugins adapt the model (``facebench.hooks.AdaptsModel``);
restore a checkpoint if resuming; train experience by experience (the evaluator scores inside
the template, after each experience); write the result file, with the replay buffers' record
(``BufferHistory.record``: the buffers' sessions after each experience, each session's distance
to the final buffer's hull; null without a replay buffer).

The checkpoint keeps the buffer history (its record so far) with the strategy's plugins: the
runner hands ``checkpoint.save`` and ``checkpoint.restore`` the plugins and the history after
them. A checkpoint written before the history was kept there restores the plugins only; the
record then says None for the experiences done before the resume (``BufferHistory.resumed``).

Timing (seconds, in the result file): ``anchors_s`` computing or loading the anchors,
``train_s`` fine-tuning (``StepBudget.seconds``), ``select_s`` buffer selection (the storage
policies' ``select_seconds``), ``eval_s`` evaluation, ``total_s`` the whole run, resumed parts
included.
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from facebench import registry
from facebench.board import schema
from facebench.data import load_scenario
from facebench.data.items import items_dataset
from facebench.errors import FacebenchError
from facebench.hooks import AdaptsModel, TimesSelection, storage_policies
from facebench.models.generic import GenericModels, card_backends, card_sha256s
from facebench.protocol import Protocol
from facebench.run import checkpoint
from facebench.run.anchors import person_anchors
from facebench.run.evaluator import ProtocolEvaluator
from facebench.run.history import BufferHistory, seed_varies
from facebench.run.memory import kept_memory
from facebench.run.template import PersonalizationTemplate, training_stream
from facebench.seeding import seed_globals


class RunError(FacebenchError):
    """A run that cannot start or cannot go on; the message says why."""


@dataclass(frozen=True)
class RunSpec:
    """What identifies a run: strategy and parameters, scenario, person, seed. ``defaults``: the
    strategy's defaults (``StrategyEntry.defaults``), which the result file records; a parameter
    at its default does not name the run (``facebench.registry.named_params``). None: not known,
    every parameter names it; the runner resolves a spec with its strategy's."""

    strategy: str
    params: dict = field(default_factory=dict)
    scenario: str = "faceworld"
    person: str = "0"
    seed: int = 0
    defaults: dict | None = None

    @property
    def named(self) -> dict:
        """The parameters that name the run (``facebench.registry.named_params``)."""
        return registry.named_params(self.params, self.defaults)

    @property
    def label(self) -> str:
        """The strategy and the parameters that name the run: ``ewc ewc_lambda=10000.0``."""
        return registry.run_label(self.strategy, self.named)

    def result_path(self, out: Path, scenario_name: str) -> Path:
        """``out/<scenario_name>/<folder>/person<P>-seed<S>.json`` (``facebench.registry.folder_name``)."""
        folder = registry.folder_name(self.strategy, self.params, self.defaults)
        return Path(out) / scenario_name / folder / f"person{self.person}-seed{self.seed}.json"


_GENERIC: dict[tuple, GenericModels] = {}


def _generic_models(card, device: str, hashes: dict[str, str]) -> GenericModels:
    """The generic models ``card`` names (their sha256s ``hashes``) on ``device``, loaded once per
    process for each resolution, device, sha256s and backends."""
    key = (card.data["resolution"], device, json.dumps([hashes, card_backends(card)], sort_keys=True))
    if key not in _GENERIC:
        _GENERIC[key] = GenericModels.for_card(card, device)
    return _GENERIC[key]


def run(spec: RunSpec, out: str | Path = "runs", resume: bool = False, force: bool = False,
        progress=None, device: str | None = None) -> Path:
    """Run ``spec`` and write its result file; returns the file's path.

    ``progress``: an optional callable ``progress(stage, done, total)`` told about fine-tuning
    steps (stage "train") and finished experiences (stage "session"). ``device``: the torch
    device (default $FACEBENCH_DEVICE, else "cpu"); it is recorded in the result file.
    """
    started = time.perf_counter()
    device = check_device(device or os.environ.get("FACEBENCH_DEVICE", "cpu"))
    entry = registry.get_strategy(spec.strategy)
    kind = entry.strategy_kind
    spec = RunSpec(spec.strategy, entry.resolve_params(spec.params), spec.scenario, str(spec.person),
                   check_seed(int(spec.seed)), entry.defaults)
    scenario = load_scenario(spec.scenario)
    path = _result_path(spec, scenario, out, force)
    if schema.git_commit() is None:  # checked now: a result file must name its commit (never lose a run at its end)
        raise RunError("cannot record the git commit of this facebench: run it from a git checkout, or set "
                       "FACEBENCH_GIT_COMMIT to the commit of the code it runs")
    protocol = Protocol.from_card(scenario.card)
    sessions = scenario.sessions(spec.person)
    _scoreable(scenario, spec.person, sessions)
    inputs = {"images_sha256": scenario.images_sha256(spec.person), "models": card_sha256s(scenario.card)}
    head = checkpoint.header(spec, card_sha256=scenario.card.sha256, protocol=protocol.record(), **inputs)
    ckpt = path.with_suffix(".ckpt")
    state = checkpoint.load(ckpt, head) if resume and ckpt.exists() else None
    before = state["seconds"]["elapsed_s"] if state else 0.0

    models = _generic_models(scenario.card, device, inputs["models"])
    t0 = time.perf_counter()
    anchors = person_anchors(models, scenario, spec.person, protocol)
    anchors_s = state["seconds"]["anchors_s"] if state else time.perf_counter() - t0
    # seeded here, after whatever loading did (models loaded in this process, or not), so that a
    # run's numbers never depend on the runs before it in the same process
    seed_globals(spec.seed)

    generator = copy.deepcopy(models.generator).requires_grad_(True)
    plugins = entry.plugins(spec.params, seed=spec.seed, replay_batch_size=protocol.batch_replay)
    evaluator = ProtocolEvaluator(generator, models, sessions, anchors, protocol, spec.seed, kind)
    history = BufferHistory(plugins, anchors)
    experiences = kind.experiences([items_dataset(a, s.train.images, t) for t, (a, s) in enumerate(zip(anchors, sessions))])
    template = PersonalizationTemplate(synthesis=generator.synthesis, perceptual=models.perceptual, protocol=protocol,
                                       plugins=[*kind.plugins(models.generator), *plugins, history, evaluator],
                                       steps=kind.steps(protocol, len(sessions)),
                                       batch_size=kind.batch_size(protocol), progress=progress, device=device)
    for plugin in plugins:  # structural changes (e.g. adapters) before a resumed run loads its weights
        if isinstance(plugin, AdaptsModel):
            plugin.adapt_model(generator.synthesis)
    first = 0
    stream = training_stream(experiences)
    if state is not None:
        first = checkpoint.restore(state, generator=generator, template=template, plugins=[*plugins, history],
                                   evaluator=evaluator, history=history)
        history.resumed(first)
        if progress:
            progress("session", first, len(stream))

    for t in range(first, len(stream)):
        template.train(stream[t], eval_streams=[])
        if progress:
            progress("session", t + 1, len(stream))
        checkpoint.save(ckpt, head, sessions_done=t + 1, generator=generator, template=template,
                        plugins=[*plugins, history], evaluator=evaluator, history=history, anchors_s=anchors_s,
                        elapsed_s=before + time.perf_counter() - started)

    timing = {
        "anchors_s": anchors_s,
        "train_s": template.budget.seconds,
        "eval_s": evaluator.seconds,
        "select_s": sum(p.select_seconds for p in storage_policies(plugins) if isinstance(p, TimesSelection)),
        "total_s": before + time.perf_counter() - started,
    }
    document = schema.make_result(spec=spec, kind=kind.name, scenario=scenario, protocol=protocol,
                                  matrices=evaluator.matrices, timing=timing, device=device,
                                  memory=kept_memory(plugins, kind.held(experiences)), seed_varies=seed_varies(plugins),
                                  buffer_history_sha256=history.sha256, replay_buffer=history.record(),
                                  strategy_source=entry.source(),
                                  backends=models.backends, **inputs)
    try:
        schema.write_result(path, document, overwrite=force)
    except FileExistsError:
        raise RunError(f"{path} was written by another run meanwhile; this run's result is not written "
                       "(use --force to overwrite it)") from None
    ckpt.unlink(missing_ok=True)
    return path


def _scoreable(scenario, person: str, sessions) -> None:
    """Refuse, before any work, a person with a session of fewer than 2 test images: the synthesis
    scores compare sets of samples (a Fréchet and a kernel distance need 2 of each)."""
    short = [session.name for session in sessions if len(session.test.frames) < 2]
    if short:
        raise RunError(f"{scenario.name}, person {person}: session{'s' * (len(short) > 1)} {', '.join(short)} "
                       "of fewer than 2 test images; the synthesis scores need at least 2 per session")


def check_seed(seed: int) -> int:
    """``seed`` if it is a run seed: an integer in [0, 2**32) (numpy seeds its generators with 32
    bits); ``RunError`` otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise RunError(f"a seed must be an integer from 0 to {2**32 - 1}, got {seed!r}")
    return seed


def check_device(text: str) -> str:
    """``text`` if it names a torch device this machine has (cpu, or an index below the device
    count of torch's available accelerator: cuda, cuda:1, mps, ...); ``RunError`` saying what is
    available otherwise."""
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    count = torch.accelerator.device_count() if accelerator is not None else 0
    available = ", ".join(["cpu", *(f"{accelerator.type}:{i}" for i in range(count))])
    try:
        parsed = torch.device(text)
    except (RuntimeError, TypeError):
        raise RunError(f"'{text}' is not a torch device (available here: {available})") from None
    if parsed.type != "cpu" and (accelerator is None or parsed.type != accelerator.type or (parsed.index or 0) >= count):
        raise RunError(f"no {text} device on this machine (available here: {available})")
    return text


def _result_path(spec: RunSpec, scenario, out: str | Path, force: bool) -> Path:
    """The run's result file, after checking the person, that its folder is writable and that
    it does not exist yet (unless ``force``)."""
    if spec.person not in scenario.persons:
        raise RunError(f"unknown person '{spec.person}' in scenario {scenario.name}; "
                       f"persons: {', '.join(scenario.persons)}")
    path = spec.result_path(Path(out), scenario.name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise RunError(f"result directory {path.parent} is not writable: {error.strerror or error}") from None
    if path.exists() and not force:
        raise RunError(f"{path} exists; use --force to overwrite it")
    return path

