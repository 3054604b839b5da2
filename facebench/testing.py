"""The conformance kit (public): does a strategy keep facebench's plugin contract?

The kit is a set of checks, each a top-level function ``check_*(strategy, params=None, seed=0)``
whose docstring says exactly what it asserts. ``strategy`` is a registered name, a buffer class
or plugin factory (one not registered is checked as if registered with the defaults: a
sequential strategy), or a ``registry.StrategyEntry``; ``params`` its other parameters (default:
its defaults; the kit chooses K); ``seed`` the run seed. A check returns None (or, for the timed
check, its seconds) or raises :class:`ConformanceError` naming the check (its ``label``) and what
the strategy did. Every check leaves the global random generators (``facebench.seeding``) and
torch's thread count as they were; it runs torch on one thread (the kit's models and pools are
tiny, where threads cost more than they give).

``strategy_checks(strategy)`` yields the checks that concern a strategy, in order, each with
None or the reason it is skipped; ``check_strategy(strategy)`` runs them and returns a
:class:`Report` (passed and skipped checks), stopping at the first failure, as scikit-learn's
``check_estimator``; ``parametrize_with_checks(strategies)`` makes them one pytest test each,
as scikit-learn's ``parametrize_with_checks``.

A replay strategy (a buffer class) is driven the way a run drives it, with no models: the
registry makes its ``ReplayPlugin`` for the run's seed, the global random generators are seeded
as the runner seeds them, and after each session of a synthetic stream (``SIZES`` items per
session, latents of dimension ``DIM``, each item's image filled with its index in the stream)
the plugin's ``after_training_exp`` gets an object whose ``experience.dataset`` is the
session's items, built by ``facebench.data.items.items_dataset`` as the runner builds them. The
pool of session t is (the buffer after session t - 1) + (session t's items).

A plugin factory is run through the tiny run: ``facebench.run.runner.run``'s wiring (seeding,
the factory's plugins with the protocol's replay batch size, the strategy kind's experiences,
steps and mini-batches, ``PersonalizationTemplate``, ``hooks.AdaptsModel``, a checkpoint after
every experience with ``facebench.run.checkpoint``) at toy size: a ``Generator`` of
``TINY_GENERATOR`` with random weights (seeded with ``TINY_GENERIC_SEED``), the per-image mean
squared difference in place of the perceptual network, ``TINY_SIZES`` sessions of random
(latent, image) items and ``TINY_PROTOCOL``; nothing is scored.
"""

from __future__ import annotations

import copy
import functools
import math
import pickle
import tempfile
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from avalanche.core import BasePlugin, SupervisedPlugin
from torch import nn

from facebench import registry
from facebench.data.items import items_dataset
from facebench.errors import FacebenchError
from facebench.hooks import AdaptsModel, ReplaysFromBuffer, storage_policies
from facebench.models.generator import Generator
from facebench.protocol import Protocol
from facebench.replay import ReplayBuffer
from facebench.run import checkpoint
from facebench.run.history import BufferHistory
from facebench.run.template import PersonalizationTemplate, training_stream
from facebench.seeding import global_state, seed_globals, set_global_state

SIZES, DIM, K = (5, 4, 1, 6), 16, 3
"""The replay stream: items per session, latent dimension, the usual K (also a factory's default buffer_size)."""
RESUME_AFTER = 2
"""Sessions of the replay stream done when the checkpoint of the resume checks is taken."""
TIMED_SIZES, TIMED_DIM, TIMED_K = (5, 25), 128, 5
"""The timed stream: its second update chooses from a pool of 5 + 25 = 30 items."""
TIME_LIMIT_S = 10.0
"""The most seconds one update of the timed stream may take: a guard against the absurd."""
TINY_GENERATOR = {"resolution": 8, "z_dim": 8, "w_dim": 8, "mapping_layers": 1, "channels": {4: 8, 8: 4}}
"""The tiny run's generator (``Generator`` keyword arguments): 8 x 8 images, W of dimension 8."""
TINY_GENERIC_SEED = 0
"""torch's global seed when the tiny run's generic generator is built."""
TINY_SIZES = (3, 2, 3)
"""Items per session of the tiny run."""
TINY_PROTOCOL = Protocol(steps_per_session=2, joint_steps=6, batch_new=2, batch_replay=2)
"""The tiny run's protocol (the other settings are the defaults; the tiny run scores nothing)."""
TINY_RESUME_AFTER = 1
"""Experiences of the tiny run done when the resume check's run is interrupted."""
UNKNOWN_HINT = ("; a strategy is found when its module is in facebench's strategies/ folder, or when the "
                "package that declares its entry point (group facebench.strategies) is installed")
"""Added to the message of an unknown name."""


class ConformanceError(FacebenchError):
    """A strategy that breaks the plugin contract: ``check`` (a check's label) failed, the message says how."""

    def __init__(self, strategy: str, check: str, detail: str):
        super().__init__(f"strategy '{strategy}' fails the check '{check}': {detail}")
        self.strategy, self.check, self.detail = strategy, check, detail


@dataclass(frozen=True)
class Report:
    """What ``check_strategy`` found: the labels of the checks passed, in order; the seconds of one
    update at pool 30, D 128 (None for a strategy without a buffer); and the (label, reason) of
    every skipped check."""

    strategy: str
    checks: tuple[str, ...]
    select_seconds: float | None
    skipped: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        timed = "" if self.select_seconds is None else f"; update at pool 30, D 128: {self.select_seconds:.3f} s"
        skipped = "".join(f"; skipped: {label} ({why})" for label, why in self.skipped)
        return f"{self.strategy}: {len(self.checks)} checks passed ({', '.join(self.checks)}){timed}{skipped}"


class _Failed(Exception):
    """Raised inside a check; its decorator turns it into a ``ConformanceError`` naming the check."""


@typing.runtime_checkable
class _SavesState(typing.Protocol):
    """A storage policy whose state is saved and loaded apart from pickling (every ``ReplayBuffer``)."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def _check(label: str):
    """Decorator of a check ``function(entry, params, seed)`` (``params`` resolved by ``_resolve``):
    the public ``check(strategy, params=None, seed=0)``, with ``label`` as ``check.label``."""

    def decorate(function: Callable) -> Callable:
        def check(strategy: str | type | Callable | registry.StrategyEntry, params: dict | None = None,
                  seed: int = 0) -> float | None:
            entry, resolved = _resolve(strategy, params)
            saved, threads = global_state(), torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return function(entry, resolved, seed)
            except _Failed as failure:
                raise ConformanceError(entry.name, label, str(failure)) from failure.__cause__
            finally:
                torch.set_num_threads(threads)
                set_global_state(saved)

        functools.update_wrapper(check, function, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
        del check.__wrapped__  # its signature is check's own, not function's
        check.label = label
        return check

    return decorate


# The checks of every strategy.

@_check("described")
def check_described(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """The strategy has a description: the first line of its class's or factory's docstring is not empty."""
    if not entry.description:
        raise _Failed("it has no description: start the docstring of its class or factory with one line "
                      "that says what it does (`facebench strategies` shows it)")


@_check("picklable")
def check_picklable(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """The strategy's plugins pickle and unpickle after the first session: for a replay strategy,
    after the first session of the stream at K; for a factory, after the first experience of the
    tiny run (checkpoints pickle a run's plugins)."""
    if entry.is_replay:
        driver = _Driver(entry, params, seed)
        plugins = driver.plugins(K)
        driver.drive(plugins, _Stream.make(SIZES, DIM), K, [0])
        _pickled(plugins, "its plugins after the first session")
    else:
        run = _TinyRun(entry, params, seed)
        run.train(until=1)
        _pickled(run.plugins, "its plugins after the first experience")


# The checks of a replay strategy.

@_check(f"stream at K = {K}")
def check_stream(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """Through the stream at K = ``K``, after every session (the first, with one session in the
    pool, included), the buffer holds at most K items, each pool item at most once, each whole:
    latent, image, task label 0 and session equal to those of an item of the pool."""
    _Driver(entry, params, seed).whole(_Stream.make(SIZES, DIM), K)


@_check("K = 1")
def check_k_equals_one(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """What ``check_stream`` asserts, at K = 1."""
    _Driver(entry, params, seed).whole(_Stream.make(SIZES, DIM), 1)


@_check("K larger than the pool")
def check_k_larger_than_pool(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """What ``check_stream`` asserts, at K = (items of the whole stream) + 1, larger than every pool."""
    _Driver(entry, params, seed).whole(_Stream.make(SIZES, DIM), sum(SIZES) + 1)


@_check("same seed, same selections")
def check_same_seed(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """Two runs through the stream at K with the same seed, each from fresh plugins and the global
    generators seeded as the runner seeds them, keep the same items after every session."""
    driver, stream = _Driver(entry, params, seed), _Stream.make(SIZES, DIM)
    _same(driver.whole(stream, K), driver.whole(stream, K), f"a second run with seed {seed}")


@_check("randomness from rng only")
def check_rng_only(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """A run through the stream at K whose global generators (numpy, random, torch) are seeded with
    ``seed`` + 1 keeps the same items after every session as one whose global generators are
    seeded with ``seed`` as the runner seeds them (the buffer's ``rng`` is seeded from ``seed``
    in both): ``select`` draws randomness from ``rng`` only. For ``ReplayBuffer`` subclasses."""
    driver, stream = _Driver(entry, params, seed), _Stream.make(SIZES, DIM)
    _same(driver.whole(stream, K), driver.whole(stream, K, global_seed=seed + 1),
          "with the same seed but other global random states (numpy, random, torch), it",
          "; select must draw randomness only from the rng it is given")


@_check("resume from pickle")
def check_resume_from_pickle(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """A run through the stream at K whose plugins are pickled after ``RESUME_AFTER`` sessions,
    unpickled and copied attribute by attribute into fresh plugins (as
    ``facebench.run.checkpoint.restore`` resumes a run), with the global random state of that
    moment restored, keeps after every later session the items the uninterrupted run keeps."""

    def restore(plugins: list, fresh: list) -> None:
        for mine, saved in zip(fresh, pickle.loads(_pickled(plugins, "its plugins"))):
            mine.__dict__.update(saved.__dict__)

    _resume(entry, params, seed, restore, "from its pickled plugins")


@_check("resume from state_dict")
def check_resume_from_state_dict(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """What ``check_resume_from_pickle`` asserts, with the buffer's ``state_dict()`` (pickled)
    loaded by ``load_state_dict`` into the fresh buffer instead. For a buffer class with both
    methods (every ``ReplayBuffer``)."""

    def restore(plugins: list, fresh: list) -> None:
        state = pickle.loads(_pickled(storage_policies(plugins)[0].state_dict(), "its state_dict"))
        storage_policies(fresh)[0].load_state_dict(state)

    _resume(entry, params, seed, restore, "by load_state_dict into a fresh buffer")


@_check("selection time")
def check_selection_time(entry: registry.StrategyEntry, params: dict, seed: int) -> float:
    """After the first session (5 items) of the timed stream (D = ``TIMED_DIM``, K = ``TIMED_K``),
    the update at its second session (a pool of 30 items) takes at most ``TIME_LIMIT_S``
    seconds, wall clock; returns those seconds."""
    driver, timed = _Driver(entry, params, seed), _Stream.make(TIMED_SIZES, TIMED_DIM)
    plugins = driver.plugins(TIMED_K)
    [held] = driver.drive(plugins, timed, TIMED_K, [0])
    start = time.perf_counter()
    driver.drive(plugins, timed, TIMED_K, [1], held=held)
    seconds = time.perf_counter() - start
    if seconds > TIME_LIMIT_S:
        raise _Failed(f"one update at a pool of {sum(TIMED_SIZES)} items (D = {TIMED_DIM}, K = {TIMED_K}) "
                      f"took {seconds:.1f} s, more than {TIME_LIMIT_S:g} s")
    return seconds


# The checks of a plugin factory.

@_check("plugins")
def check_plugins(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """The factory, given ``params``, the run seed and the protocol's replayed samples per
    mini-batch (as the runner calls it), returns a list (or tuple) of Avalanche plugins
    (``avalanche.core.BasePlugin`` instances)."""
    _factory_plugins(entry, params, seed)


@_check("trains")
def check_trains(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """The tiny run trains: every experience runs the kind's steps, each with a finite loss (the
    one ``PersonalizationTemplate`` backpropagates, plugins' terms included); from the start of
    training (after ``adapt_model``) to its end, at least one trainable weight of the synthesis
    network (``requires_grad``) changes and no other weight of the generator does (those frozen
    by ``adapt_model``, the mapping network)."""
    run = _TinyRun(entry, params, seed)
    before = {name: p.detach().clone() for name, p in run.generator.named_parameters()}
    trainable = {f"synthesis.{name}" for name, p in run.generator.synthesis.named_parameters() if p.requires_grad}
    run.train()
    steps = entry.strategy_kind.steps(TINY_PROTOCOL, len(TINY_SIZES))
    for t, losses in enumerate(run.log.losses):
        if len(losses) != steps[t]:
            raise _Failed(f"experience {t} of the tiny run ran {len(losses)} fine-tuning step(s), not {steps[t]}")
        bad = next((i for i, loss in enumerate(losses) if not math.isfinite(loss)), None)
        if bad is not None:
            raise _Failed(f"the loss of experience {t}, step {bad + 1} of the tiny run is {losses[bad]}")
    after = dict(run.generator.named_parameters())
    changed = {name for name, w in before.items() if name not in after or not torch.equal(w, after[name].detach())}
    if not changed & trainable:
        raise _Failed("no trainable weight of the synthesis network changed in the tiny run "
                      f"({len(trainable)} weight tensors have requires_grad after adapt_model)")
    if changed - trainable:
        raise _Failed(f"weights that do not train changed in the tiny run: {_names(changed - trainable)} (a weight "
                      "frozen by adapt_model, or of the mapping network, must keep its value)")


@_check("resume")
def check_resume(entry: registry.StrategyEntry, params: dict, seed: int) -> None:
    """A tiny run checkpointed after ``TINY_RESUME_AFTER`` experiences with
    ``facebench.run.checkpoint.save``, then loaded and restored into freshly built objects with
    ``checkpoint.load`` and ``checkpoint.restore`` (as ``facebench run --resume`` does) and
    trained on, ends with generator weights equal (``torch.equal``) to the uninterrupted tiny
    run's. For a kind with more than ``TINY_RESUME_AFTER`` experiences."""
    with tempfile.TemporaryDirectory() as folder:
        whole = _TinyRun(entry, params, seed, Path(folder) / "whole.ckpt")
        whole.train()
        path = Path(folder) / "interrupted.ckpt"
        _TinyRun(entry, params, seed, path).train(until=TINY_RESUME_AFTER)
        resumed = _TinyRun(entry, params, seed, path, resume=True)
        resumed.train()
    expected, got = whole.generator.state_dict(), resumed.generator.state_dict()
    differ = [name for name, w in expected.items() if name not in got or not torch.equal(w, got[name])]
    if differ:
        largest = max((float((expected[n] - got[n]).abs().max()) for n in differ if n in got), default=math.nan)
        raise _Failed(f"a tiny run resumed after experience {TINY_RESUME_AFTER - 1} ends with other generator "
                      f"weights than the uninterrupted one: {_names(differ)} (largest difference {largest:.3g}); "
                      "every state training depends on must be in picklable attributes of the plugins")


REPLAY_CHECKS = (check_described, check_stream, check_k_equals_one, check_k_larger_than_pool, check_same_seed,
                 check_rng_only, check_picklable, check_resume_from_pickle, check_resume_from_state_dict,
                 check_selection_time)
"""The checks of a replay strategy, in the order ``check_strategy`` runs them."""
FACTORY_CHECKS = (check_described, check_plugins, check_trains, check_picklable, check_resume)
"""The checks of a plugin factory, in the order ``check_strategy`` runs them."""


def strategy_checks(strategy, params: dict | None = None) -> Iterator[tuple[Callable, str | None]]:
    """The checks that concern ``strategy`` (``REPLAY_CHECKS`` or ``FACTORY_CHECKS``), in order,
    each with None or the reason it is skipped:

    - ``check_rng_only``: skipped for a buffer class that is not a ``ReplayBuffer`` (such as a
      stock Avalanche buffer: it may draw from the global generators, which the run seeds);
    - ``check_resume_from_state_dict``: skipped for a buffer class without both
      ``state_dict`` and ``load_state_dict`` (it resumes from pickle, as the runner resumes);
    - ``check_resume``: skipped for a kind with at most ``TINY_RESUME_AFTER`` experiences (joint:
      one), where no run resumes within training.
    """
    entry, _ = _resolve(strategy, params)
    for check in REPLAY_CHECKS if entry.is_replay else FACTORY_CHECKS:
        yield check, _skipped(check, entry)


def _skipped(check: Callable, entry: registry.StrategyEntry) -> str | None:
    """Why ``check`` is skipped for ``entry`` (the rules of ``strategy_checks``); None if it applies."""
    if check is check_rng_only and not issubclass(entry.target, ReplayBuffer):
        return "not a ReplayBuffer subclass"
    if check is check_resume_from_state_dict and not issubclass(entry.target, _SavesState):
        return "the buffer has no state_dict and load_state_dict"
    if check is check_resume:
        n = len(entry.strategy_kind.experiences(_tiny_sessions()))
        if n <= TINY_RESUME_AFTER:
            experiences = f"{n} experience{'' if n == 1 else 's'}"
            return f"a {entry.kind} run has {experiences}, so no checkpoint falls within its training"
    return None


def check_strategy(strategy: str | type | Callable, params: dict | None = None, seed: int = 0) -> Report:
    """Run every check that concerns ``strategy`` (``strategy_checks``), with its other parameters
    ``params`` (default: its defaults; the kit chooses K) and the run seed ``seed``; raises the
    ``ConformanceError`` of the first that fails. The global random states are left as they were."""
    entry, _ = _resolve(strategy, params)
    passed, skipped, seconds = [], [], None
    for check, why in strategy_checks(entry, params):
        if why is not None:
            skipped.append((check.label, why))
            continue
        timed = check(entry, params, seed)
        seconds = timed if timed is not None else seconds
        passed.append(check.label)
    return Report(entry.name, tuple(passed), seconds, tuple(skipped))


def parametrize_with_checks(strategies: Iterable, params: dict | None = None, seed: int = 0):
    """A ``pytest.mark.parametrize`` decorator over every (strategy, check) pair of ``strategies``
    (names, buffer classes or factories): one test per check, with the id ``NAME-check_...``; a
    skipped check is a skipped test whose reason says why. ``check(strategy)`` runs the check
    with ``params`` and ``seed``::

        @parametrize_with_checks(["my-buffer"])
        def test_conforms(strategy, check):
            check(strategy)

    A strategy that cannot be found or resolved raises its ``ConformanceError`` (check
    "registration") when pytest collects the test.
    """
    import pytest

    cases = []
    for strategy in strategies:
        entry, _ = _resolve(strategy, params)
        for check, why in strategy_checks(entry, params):
            marks = [pytest.mark.skip(reason=f"{entry.name}: {check.label}: skipped, {why}")] if why is not None else []
            cases.append(pytest.param(strategy, functools.partial(check, params=params, seed=seed),
                                      id=f"{entry.name}-{check.__name__}", marks=marks))
    return pytest.mark.parametrize("strategy, check", cases)


def _resolve(strategy, params: dict | None) -> tuple[registry.StrategyEntry, dict]:
    """The entry of ``strategy`` and its parameters completed with the defaults: a factory's
    ``buffer_size`` defaults to K, a replay strategy's is left out (each check chooses K).
    Raises the ``ConformanceError`` of the check "registration" when either fails."""
    try:
        entry = _entry(strategy)
        resolved = entry.resolve_params({"buffer_size": K, **(params or {})} if entry.takes_buffer_size else params)
        if entry.is_replay:
            resolved.pop("buffer_size")
    except registry.StrategyError as error:
        name = strategy if isinstance(strategy, str) else getattr(strategy, "__name__", repr(strategy))
        unknown = isinstance(strategy, str) and strategy not in {e.name for e in registry.list_strategies()}
        raise ConformanceError(name, "registration", str(error) + (UNKNOWN_HINT if unknown else "")) from None
    return entry, resolved


def _entry(strategy) -> registry.StrategyEntry:
    """The registry's entry of a name or of a registered target; else the entry it would get."""
    if isinstance(strategy, registry.StrategyEntry):
        return strategy
    if isinstance(strategy, str):
        return registry.get_strategy(strategy)
    for entry in registry.list_strategies():
        if entry.target is strategy:
            return entry
    return registry._entry(getattr(strategy, "__name__", repr(strategy)), strategy, "sequential")


# Driving a replay strategy.

@dataclass(frozen=True)
class _Stream:
    """Synthetic sessions of latents clustered by session; item j (in stream order) has an image
    whose every pixel is j, which names it."""

    latents: torch.Tensor
    images: torch.Tensor
    sessions: tuple[int, ...]
    datasets: tuple

    @classmethod
    def make(cls, sizes: tuple[int, ...], dim: int) -> "_Stream":
        g = torch.Generator().manual_seed(0)
        centres = 3.0 * torch.randn(len(sizes), dim, generator=g)
        latents = torch.cat([c + 0.5 * torch.randn(n, dim, generator=g) for c, n in zip(centres, sizes)])
        images = torch.arange(len(latents), dtype=torch.float32)[:, None, None, None].expand(-1, 3, 4, 4).clone()
        sessions = tuple(s for s, n in enumerate(sizes) for _ in range(n))
        bounds = np.cumsum([0, *sizes])
        datasets = tuple(items_dataset(latents[a:b], images[a:b], s)
                         for s, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])))
        return cls(latents, images, sessions, datasets)

    def __len__(self) -> int:
        return len(self.sessions)

    def items(self, session: int) -> tuple[int, ...]:
        return tuple(j for j, s in enumerate(self.sessions) if s == session)

    def identify(self, data, where: str) -> tuple[int, ...]:
        """The stream items a buffer dataset holds, in order; ``_Failed`` for an item that is not one, whole."""
        sessions = getattr(data, "session", None)
        out = []
        for i in range(len(data)):
            item = data[i]
            j = int(round(float(torch.as_tensor(item[1]).reshape(-1)[0]))) if len(item) == 3 else -1
            if not (0 <= j < len(self) and torch.equal(torch.as_tensor(item[0]), self.latents[j])
                    and torch.equal(torch.as_tensor(item[1]), self.images[j]) and int(item[2]) == 0
                    and (sessions is None or int(sessions[i]) == self.sessions[j])):
                raise _Failed(f"{where}: buffer item {i} is not an item of the pool: its latent, image, task label "
                              "or session match no pool item (keep pool items whole)")
            out.append(j)
        return tuple(out)


class _Driver:
    """Makes a replay strategy's plugins and drives them through a stream as a run does."""

    def __init__(self, entry: registry.StrategyEntry, params: dict, seed: int):
        self.entry, self.params, self.seed = entry, params, seed

    def plugins(self, k: int, global_seed: int | None = None) -> list:
        """A run's start: the global generators seeded (as the runner seeds them, by default),
        then the strategy's plugins for K = ``k`` and the run seed."""
        seed_globals(self.seed if global_seed is None else global_seed)
        return self.entry.plugins({**self.params, "buffer_size": k}, seed=self.seed)

    def whole(self, stream: _Stream, k: int, global_seed: int | None = None) -> list[tuple[int, ...]]:
        """The items kept after each session of a fresh run through ``stream``."""
        return self.drive(self.plugins(k, global_seed), stream, k, range(len(stream.datasets)))

    def drive(self, plugins: list, stream: _Stream, k: int, sessions, held: tuple[int, ...] = ()) -> list:
        """Update ``plugins`` after each of ``sessions``, from a buffer holding ``held``; the items
        kept after each, checked for capacity and pool membership."""
        replay = next(p for p in plugins if isinstance(p, ReplaysFromBuffer))
        agent = SimpleNamespace(experience=None)
        kept = []
        for t in sessions:
            pool = tuple(held) + stream.items(t)
            where = _where(t, pool, stream, k)
            agent.experience = SimpleNamespace(dataset=stream.datasets[t], current_experience=t)
            try:
                replay.after_training_exp(agent)
            except Exception as error:
                raise _Failed(f"{where}: updating the buffer raised {type(error).__name__}: {error}") from error
            held = stream.identify(replay.storage_policy.buffer, where)
            if len(held) > k:
                raise _Failed(f"{where}: the buffer holds {len(held)} items, more than K = {k}")
            repeated = sorted({j for j in held if held.count(j) > 1})
            if repeated:
                raise _Failed(f"{where}: the buffer holds pool item(s) {repeated} more than once")
            outside = [j for j in held if j not in pool]
            if outside:
                raise _Failed(f"{where}: the buffer holds item(s) {outside}, which are not in the pool {list(pool)}")
            kept.append(held)
        return kept


def _resume(entry: registry.StrategyEntry, params: dict, seed: int, restore: Callable[[list, list], None],
            how: str) -> None:
    """A run through the stream at K, resumed after ``RESUME_AFTER`` sessions into fresh plugins by
    ``restore(plugins, fresh)``, must keep the uninterrupted run's items after every session."""
    driver, stream = _Driver(entry, params, seed), _Stream.make(SIZES, DIM)
    expected = driver.whole(stream, K)
    plugins = driver.plugins(K)
    before = driver.drive(plugins, stream, K, range(RESUME_AFTER))
    state = global_state()
    fresh = driver.plugins(K)
    restore(plugins, fresh)
    set_global_state(state)
    after = driver.drive(fresh, stream, K, range(RESUME_AFTER, len(SIZES)), held=before[-1])
    _same(expected, before + after, f"a run resumed after session {RESUME_AFTER - 1} {how}")


def _where(t: int, pool: tuple[int, ...], stream: _Stream, k: int) -> str:
    if t == 0:
        return f"at the first session (pool: {len(pool)} items, all of session 0; K = {k})"
    sessions = sorted({stream.sessions[j] for j in pool})
    return f"at session {t} (pool: {len(pool)} items of sessions {', '.join(map(str, sessions))}; K = {k})"


def _same(expected: list, got: list, who: str, hint: str = "") -> None:
    for t, (a, b) in enumerate(zip(expected, got)):
        if a != b:
            raise _Failed(f"{who} kept other items after session {t}: {list(b)} instead of {list(a)}{hint}")


def _pickled(obj, what: str) -> bytes:
    try:
        blob = pickle.dumps(obj)
        pickle.loads(blob)
    except Exception as error:
        raise _Failed(f"pickling {what} failed: {type(error).__name__}: {error} (checkpoints pickle a run's "
                      "plugins: keep only picklable state, and define classes at the top level of a module)") from error
    return blob


def _names(names: Iterable[str], most: int = 3) -> str:
    """At most ``most`` of ``names``, sorted, and how many more."""
    names = sorted(names)
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


# The tiny run of a plugin factory.

class _MeanSquaredDistance(nn.Module):
    """The tiny run's perceptual network: per image, the mean over channels and pixels of (output - target)^2."""

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (output - target).square().mean(dim=(1, 2, 3))


class _LossLog(SupervisedPlugin):
    """``losses[t]``: the loss of every fine-tuning step of experience t, as backpropagated."""

    def __init__(self):
        super().__init__()
        self.losses: list[list[float]] = []

    def before_training_exp(self, strategy, **kwargs):
        self.losses.append([])

    def after_training_iteration(self, strategy, **kwargs):
        self.losses[-1].append(float(strategy.loss.detach()))


def _tiny_sessions() -> list:
    """The tiny run's sessions: ``TINY_SIZES`` items each, latents N(0, 1) and images U(0, 1) of
    ``TINY_GENERATOR``'s sizes, from a generator seeded with 0."""
    g = torch.Generator().manual_seed(0)
    size, dim = TINY_GENERATOR["resolution"], TINY_GENERATOR["w_dim"]
    return [items_dataset(torch.randn(n, dim, generator=g), torch.rand(n, 3, size, size, generator=g), t)
            for t, n in enumerate(TINY_SIZES)]


def _factory_plugins(entry: registry.StrategyEntry, params: dict, seed: int) -> list:
    """The factory's plugins as the runner asks for them; ``_Failed`` unless a list of Avalanche plugins."""
    try:
        plugins = entry.plugins(params, seed=seed, replay_batch_size=TINY_PROTOCOL.batch_replay)
    except registry.StrategyError as error:
        raise _Failed(str(error).removeprefix(f"strategy '{entry.name}': ")) from None
    except Exception as error:
        raise _Failed(f"its factory raised {type(error).__name__}: {error}") from error
    wrong = [f"item {i} is a {type(p).__name__}" for i, p in enumerate(plugins) if not isinstance(p, BasePlugin)]
    if wrong:
        raise _Failed(f"its factory must return a list of Avalanche plugins (e.g. SupervisedPlugin "
                      f"instances); {', '.join(wrong)}")
    return plugins


class _Unscored:
    """The evaluator of a tiny run, which scores nothing: what a checkpoint keeps of it is empty,
    and it spends no seconds (``checkpoint.save`` records them)."""

    seconds = 0.0

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class _TinyRun:
    """A tiny run of a plugin factory (module docstring), built as ``facebench.run.runner.run``
    builds a run: from ``checkpoint_path`` if ``resume`` (restored into the fresh objects), and
    checkpointed there after every experience if a path is given."""

    def __init__(self, entry: registry.StrategyEntry, params: dict, seed: int, checkpoint_path: Path | None = None,
                 resume: bool = False):
        self.path, self.spec = checkpoint_path, {"strategy": entry.name, "params": dict(params), "seed": seed}
        state = None
        if resume:
            try:
                state = checkpoint.load(checkpoint_path, self.spec)
            except Exception as error:
                raise _Failed(f"loading the tiny run's checkpoint raised {type(error).__name__}: {error}") from error
        torch.manual_seed(TINY_GENERIC_SEED)
        generic = Generator(**TINY_GENERATOR)
        seed_globals(seed)
        self.generator = copy.deepcopy(generic).requires_grad_(True)
        self.plugins = _factory_plugins(entry, params, seed)
        self.evaluator = _Unscored()
        self.history = BufferHistory(self.plugins)
        self.log = _LossLog()
        kind = entry.strategy_kind
        experiences = kind.experiences(_tiny_sessions())
        self.template = PersonalizationTemplate(
            synthesis=self.generator.synthesis, perceptual=_MeanSquaredDistance(), protocol=TINY_PROTOCOL,
            plugins=[*kind.plugins(generic), *self.plugins, self.history, self.log],
            steps=kind.steps(TINY_PROTOCOL, len(TINY_SIZES)),
            batch_size=kind.batch_size(TINY_PROTOCOL))
        for plugin in self.plugins:
            if isinstance(plugin, AdaptsModel):
                try:
                    plugin.adapt_model(self.generator.synthesis)
                except Exception as error:
                    raise _Failed(f"adapt_model of its {type(plugin).__name__} raised {type(error).__name__}: "
                                  f"{error}") from error
        self.done = 0
        if state is not None:
            try:
                self.done = checkpoint.restore(state, generator=self.generator, template=self.template,
                                               plugins=self.plugins, evaluator=self.evaluator, history=self.history)
            except Exception as error:
                raise _Failed(f"restoring the tiny run's checkpoint raised {type(error).__name__}: {error}") from error
        self.stream = training_stream(experiences)

    def train(self, until: int | None = None) -> None:
        """Train the experiences from the next one to ``until`` (default: the last), checkpointing after each."""
        for t in range(self.done, len(self.stream) if until is None else until):
            try:
                self.template.train(self.stream[t], eval_streams=[])
            except Exception as error:
                raise _Failed(f"at experience {t} of the tiny run, fine-tuning raised {type(error).__name__}: "
                              f"{error}") from error
            self.done = t + 1
            if self.path is not None:
                try:
                    checkpoint.save(self.path, self.spec, sessions_done=self.done, generator=self.generator,
                                    template=self.template, plugins=self.plugins, evaluator=self.evaluator,
                                    history=self.history, anchors_s=0.0, elapsed_s=0.0)
                except Exception as error:
                    raise _Failed(f"checkpointing the tiny run after experience {t} raised {type(error).__name__}: "
                                  f"{error}") from error
