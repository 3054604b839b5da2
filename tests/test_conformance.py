"""The conformance kit (facebench.testing): every built-in strategy passes each check (one test
per check, through parametrize_with_checks), skipped checks are reported with their reason, and
each check fails, with a message that says what the strategy did, on a strategy built to break it."""

import random
import re
import time

import numpy as np
import pytest
import torch
from avalanche.core import SupervisedPlugin
from avalanche.training.storage_policy import ExemplarsBuffer

from facebench import registry, testing
from facebench.data.items import items_dataset
from facebench.registry import list_strategies
from facebench.replay import ReplayBuffer
from facebench.run.kinds import KINDS
from facebench.testing import ConformanceError, check_strategy, parametrize_with_checks, strategy_checks

BUILT_IN = [entry.name for entry in list_strategies() if entry.origin == "built-in"]
REPLAY_CHECKS = ("described", "stream at K = 3", "K = 1", "K larger than the pool", "same seed, same selections",
                 "randomness from rng only", "picklable", "resume from pickle", "resume from state_dict",
                 "selection time")
FACTORY_CHECKS = ("described", "plugins", "trains", "picklable", "resume")
JOINT_RESUME = "a joint run has 1 experience, so no checkpoint falls within its training"


@parametrize_with_checks(BUILT_IN)
def test_every_built_in_strategy_passes(strategy, check):
    check(strategy)


def test_every_built_in_is_checked():  # BUILT_IN comes from discovery, so new built-ins are checked too
    assert set(BUILT_IN) >= {"naive", "joint", "cumulative", "ewc", "si", "mas", "lora", "lora-er-hull", "distill",
                             "latent-replay", "gdumb", "er-rand", "er-hull", "kmeans", "reservoir"}


@pytest.mark.parametrize("name, checks, skipped", [
    ("er-rand", REPLAY_CHECKS, ()),
    ("reservoir", tuple(c for c in REPLAY_CHECKS if c not in ("randomness from rng only", "resume from state_dict")),
     (("randomness from rng only", "not a ReplayBuffer subclass"),
      ("resume from state_dict", "the buffer has no state_dict and load_state_dict"))),
    ("lora", FACTORY_CHECKS, ()),
    ("joint", FACTORY_CHECKS[:-1], (("resume", JOINT_RESUME),)),
    ("joint-so-far", FACTORY_CHECKS, ()),  # one experience per session: it resumes within training
])
def test_the_report_lists_passed_and_skipped_checks(name, checks, skipped):
    report = check_strategy(name)
    assert (report.strategy, report.checks, report.skipped) == (name, checks, skipped)
    assert (report.select_seconds is None) == (name in ("lora", "joint", "joint-so-far"))
    assert str(report).startswith(f"{name}: {len(checks)} checks passed ({', '.join(checks)})")
    for label, why in skipped:
        assert f"; skipped: {label} ({why})" in str(report)


def test_the_checks_are_named_functions_with_their_definition():
    for checks, labels in ((testing.REPLAY_CHECKS, REPLAY_CHECKS), (testing.FACTORY_CHECKS, FACTORY_CHECKS)):
        assert tuple(check.label for check in checks) == labels
        for check in checks:
            assert getattr(testing, check.__name__) is check and check.__name__.startswith("check_")
            assert check.__doc__  # what it asserts


def test_parametrize_with_checks_makes_one_case_per_check_with_readable_ids_and_skips():
    mark = parametrize_with_checks(["reservoir", "joint"]).mark
    assert mark.args[0] == "strategy, check"
    cases = {case.id: case for case in mark.args[1]}
    assert list(cases) == [f"reservoir-{c.__name__}" for c in testing.REPLAY_CHECKS] + \
                          [f"joint-{c.__name__}" for c in testing.FACTORY_CHECKS]
    skipped = {i: case.marks[0].kwargs["reason"] for i, case in cases.items() if case.marks}
    assert skipped == {
        "reservoir-check_rng_only": "reservoir: randomness from rng only: skipped, not a ReplayBuffer subclass",
        "reservoir-check_resume_from_state_dict": "reservoir: resume from state_dict: skipped, the buffer has no "
                                                  "state_dict and load_state_dict",
        "joint-check_resume": f"joint: resume: skipped, {JOINT_RESUME}",
    }
    strategy, check = cases["reservoir-check_stream"].values
    assert strategy == "reservoir" and check(strategy) is None
    with pytest.raises(ConformanceError, match="fails the check 'registration': unknown strategy"):
        parametrize_with_checks(["no-such-strategy"])


def test_strategy_checks_apply_the_rules():
    assert [(c.__name__, why) for c, why in strategy_checks("er-hull")] == \
           [(c.__name__, None) for c in testing.REPLAY_CHECKS]
    assert [why for _, why in strategy_checks("cumulative")] == [None] * len(FACTORY_CHECKS)


def test_the_kit_leaves_the_global_random_state_and_torch_threads_alone():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(5), np.random.seed(5), random.seed(5)
        expected = torch.rand(1), np.random.rand(), random.random()
        torch.manual_seed(5), np.random.seed(5), random.seed(5)
        check_strategy("er-rand")
        testing.check_trains("naive")
        assert (torch.rand(1), np.random.rand(), random.random()) == expected
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


class Parametrised(ReplayBuffer):
    """Keeps the last k pool items; needs its own parameter."""

    def __init__(self, max_size, alpha: float, seed=0):
        super().__init__(max_size, seed)
        self.alpha = alpha

    def select(self, pool, k, rng):
        return list(range(len(pool)))[-k:]


def test_an_unregistered_class_with_parameters():
    report = check_strategy(Parametrised, params={"alpha": 0.5})
    assert report.strategy == "Parametrised" and "resume from state_dict" in report.checks
    testing.check_resume_from_state_dict(Parametrised, params={"alpha": 0.5})
    with pytest.raises(ConformanceError, match="fails the check 'registration': .*needs alpha"):
        check_strategy(Parametrised)


# Deliberately broken strategies, one for each check.

class _Stock(ExemplarsBuffer):
    def update(self, strategy, **kwargs):  # as ReplayBuffer does: not Avalanche's deprecated path
        self.post_adapt(strategy, strategy.experience)

    def resize(self, strategy, new_size):
        self.max_size = new_size


class KeepsEverything(_Stock):
    """Ignores K."""

    def post_adapt(self, agent, exp):
        self.buffer = exp.dataset if len(self.buffer) == 0 else self.buffer.concat(exp.dataset)


class Doubles(_Stock):
    """Keeps the session's first item twice."""

    def post_adapt(self, agent, exp):
        self.buffer = exp.dataset.subset([0, 0])


class Invents(_Stock):
    """Keeps the mean of the session's items, a point that is no pool item."""

    def post_adapt(self, agent, exp):
        w, x = (torch.stack([exp.dataset[i][j] for i in range(len(exp.dataset))]).mean(0, keepdim=True) for j in (0, 1))
        self.buffer = items_dataset(w, x, int(exp.dataset.session[0]))


class Resurrects(_Stock):
    """Keeps the newest session's items, plus the very first item it ever saw, even once dropped."""

    def post_adapt(self, agent, exp):
        if len(self.buffer) == 0:
            self.first = exp.dataset.subset([0])
        newest = exp.dataset.subset(range(min(self.max_size - 1, len(exp.dataset))))
        self.buffer = newest if agent.experience.current_experience < 2 else newest.concat(self.first)


class OneSessionCrash(ReplayBuffer):
    """Needs an earlier session in the pool."""

    def select(self, pool, k, rng):
        earlier = np.flatnonzero(pool.sessions < pool.sessions.max())
        return [int(rng.choice(earlier))]


class KOneCrash(ReplayBuffer):
    """Evenly spaced items, dividing by k - 1."""

    def select(self, pool, k, rng):
        step = max(1, (len(pool) - 1) // (k - 1))
        return list(range(0, len(pool), step))[:k]


class Unseeded(ReplayBuffer):
    """Random, from a generator of its own."""

    def select(self, pool, k, rng):
        return np.random.default_rng().permutation(len(pool))[:k].tolist()


class GlobalRandom(ReplayBuffer):
    """Random, from numpy's global generator."""

    def select(self, pool, k, rng):
        return np.random.permutation(len(pool))[:k].tolist()


class Unpicklable(ReplayBuffer):
    """Holds a lambda."""

    def __init__(self, max_size, seed=0):
        super().__init__(max_size, seed)
        self.score = lambda pool: pool.latents.sum(1)

    def select(self, pool, k, rng):
        return np.argsort(self.score(pool))[:k].tolist()


class CountsCalls(ReplayBuffer):
    """Rotates by the number of calls, a state its state_dict forgets."""

    calls = 0

    def select(self, pool, k, rng):
        self.calls += 1
        return sorted({(self.calls + i) % len(pool) for i in range(min(k, len(pool)))})


class Slow(ReplayBuffer):
    """Sleeps at large pools."""

    def select(self, pool, k, rng):
        if len(pool) >= 30:
            time.sleep(0.3)
        return list(range(min(k, len(pool))))


class Undocumented(ReplayBuffer):
    def select(self, pool, k, rng):
        return [0]


class NotABuffer:
    """Selects nothing."""


def returns_one_plugin():
    """A factory that forgets the list."""
    return SupervisedPlugin()


def returns_junk():
    """A factory whose list holds no plugin."""
    return [42]


class _Scorer(SupervisedPlugin):
    def __init__(self):
        super().__init__()
        self.score = lambda x: x


def holds_a_lambda():
    """A plugin that holds a lambda."""
    return [_Scorer()]


class _Stopper(SupervisedPlugin):
    def after_training_iteration(self, strategy, **kwargs):
        strategy.stop_training()


def stops_early():
    """Stops every experience after one step."""
    return [_Stopper()]


class _NaNPenalty(SupervisedPlugin):
    def before_backward(self, strategy, **kwargs):
        strategy.loss = strategy.loss + float("nan")


def nan_penalty():
    """Adds a NaN to the loss (after the step budget's check)."""
    return [_NaNPenalty()]


class _GradientEraser(SupervisedPlugin):
    def after_backward(self, strategy, **kwargs):
        strategy.optimizer.zero_grad(set_to_none=True)


def erases_gradients():
    """Drops every gradient before the optimiser's step."""
    return [_GradientEraser()]


class _ConstShifter(SupervisedPlugin):
    def adapt_model(self, synthesis):
        synthesis.const.requires_grad_(False)

    def after_training_exp(self, strategy, **kwargs):
        with torch.no_grad():
            strategy.model.const.add_(1.0)


def shifts_a_frozen_weight():
    """Freezes the constant input, then moves it."""
    return [_ConstShifter()]


class _ForgetfulPenalty(SupervisedPlugin):
    def __init__(self):
        super().__init__()
        self.seen = 0

    def __getstate__(self):  # its count is left out of checkpoints
        return {k: v for k, v in self.__dict__.items() if k != "seen"}

    def before_backward(self, strategy, **kwargs):
        strategy.loss = strategy.loss + self.seen * sum(p.square().sum() for p in strategy.model.parameters())

    def after_training_exp(self, strategy, **kwargs):
        self.seen += 1


def forgets_on_resume():
    """A penalty grown with the experiences seen, a count it does not checkpoint."""
    return [_ForgetfulPenalty()]


@pytest.mark.parametrize("strategy, check, what", [
    (KeepsEverything, "stream at K = 3", r"at the first session \(pool: 5 items, all of session 0; K = 3\): "
                                         r"the buffer holds 5 items, more than K = 3"),
    (Doubles, "stream at K = 3", r"at the first session .*holds pool item\(s\) \[0\] more than once"),
    (Invents, "stream at K = 3", r"at the first session .*buffer item 0 is not an item of the pool"),
    (Resurrects, "stream at K = 3", r"at session 2 \(pool: 3 items of sessions 1, 2; K = 3\): the buffer holds "
                                    r"item\(s\) \[0\], which are not in the pool \[5, 6, 9\]"),
    (OneSessionCrash, "stream at K = 3", r"at the first session .*raised ValueError"),
    (KOneCrash, "K = 1", r"at the first session .*K = 1\): updating the buffer raised ZeroDivisionError"),
    (Unseeded, "same seed, same selections", r"a second run with seed 0 kept other items after session \d"),
    (GlobalRandom, "randomness from rng only", r"other global random states .*kept other items after session 0: "
                                               r".*select must draw randomness only from the rng it is given"),
    (Unpicklable, "picklable", r"pickling its plugins after the first session failed: .*lambda"),
    (CountsCalls, "resume from state_dict", r"resumed after session 1 by load_state_dict into a fresh buffer "
                                            r"kept other items after session 2"),
    (Undocumented, "described", r"it has no description"),
    (NotABuffer, "registration", r"not an Avalanche ExemplarsBuffer"),
    ("no-such-strategy", "registration", r"unknown strategy 'no-such-strategy'"),
    (returns_one_plugin, "plugins", r"must return a list of Avalanche plugins, got SupervisedPlugin"),
    (returns_junk, "plugins", r"must return a list of Avalanche plugins .*item 0 is a int"),
    (holds_a_lambda, "picklable", r"pickling its plugins after the first experience failed: .*lambda"),
    (stops_early, "trains", r"experience 0 of the tiny run ran 1 fine-tuning step\(s\), not 2"),
    (nan_penalty, "trains", r"the loss of experience 0, step 1 of the tiny run is nan"),
    (erases_gradients, "trains", r"no trainable weight of the synthesis network changed in the tiny run \(\d+ weight"),
    (shifts_a_frozen_weight, "trains", r"weights that do not train changed in the tiny run: synthesis\.const \("),
    (forgets_on_resume, "resume", r"a tiny run resumed after experience 0 ends with other generator weights than "
                                  r"the uninterrupted one: synthesis\..* \(largest difference"),
])
def test_a_broken_strategy_fails_the_right_check(strategy, check, what):
    with pytest.raises(ConformanceError) as error:
        check_strategy(strategy)
    assert error.value.check == check
    function = {f.label: f for f in (*testing.REPLAY_CHECKS, *testing.FACTORY_CHECKS)}.get(check)
    if function is not None:  # the check alone fails too
        with pytest.raises(ConformanceError, match=f"fails the check '{re.escape(check)}'"):
            function(strategy)
    assert error.value.strategy == getattr(strategy, "__name__", strategy)
    assert str(error.value).startswith(f"strategy '{error.value.strategy}' fails the check '{check}': ")
    assert re.search(what, error.value.detail), error.value.detail


def test_an_absurdly_slow_update_fails(monkeypatch):
    monkeypatch.setattr(testing, "TIME_LIMIT_S", 0.1)
    with pytest.raises(ConformanceError, match=r"'selection time': one update at a pool of 30 items "
                                               r"\(D = 128, K = 5\) took 0\.\d s, more than 0\.1 s"):
        check_strategy(Slow)


class _StopsAt(SupervisedPlugin):
    """Stops every experience after 5 steps."""

    def __init__(self):
        super().__init__()
        self.done = 0

    def before_training_exp(self, strategy, **kwargs):
        self.done = 0

    def after_training_iteration(self, strategy, **kwargs):
        self.done += 1
        if self.done >= 5:
            strategy.stop_training()


def stops_at_five():
    """Stops every experience after five steps."""
    return [_StopsAt()]


def test_the_tiny_run_holds_each_experience_to_its_own_steps():
    """Steps are per experience: joint-so-far's are ceil(joint_steps * (t + 1) / T) of the tiny
    protocol, so a plugin that cuts experiences at 5 steps only breaks the last one."""
    assert KINDS["joint-so-far"].steps(testing.TINY_PROTOCOL, len(testing.TINY_SIZES)) == [2, 4, 6]
    assert KINDS["joint"].steps(testing.TINY_PROTOCOL, len(testing.TINY_SIZES)) == [6]
    entry = registry._entry("stops-at-five", stops_at_five, "joint-so-far")
    with pytest.raises(ConformanceError, match=r"'trains': experience 2 of the tiny run ran 5 fine-tuning "
                                               r"step\(s\), not 6"):
        testing.check_trains(entry)
    testing.check_trains(registry._entry("stops-at-five", stops_at_five, "sequential"))  # 2 steps each: not cut
