"""facebench.registry: built-ins, parameters (strings converted to bool, int and float, bad
values named), kinds (sequential, cumulative, joint, joint-so-far), bad names and registrations, third-party
plugins."""

import inspect
import re
import textwrap
import warnings
from importlib.metadata import EntryPoint

import numpy as np
import pytest
from avalanche.training.plugins import ReplayPlugin
from avalanche.training.storage_policy import ReservoirSamplingBuffer

import facebench
from conftest import isolate_registry
from facebench import registry
from facebench.registry import PluginWarning, StrategyError, register_strategy
from facebench.replay import ReplayBuffer
from facebench.run.kinds import KINDS

BUILT_IN_REPLAY = ["er-hull", "er-rand", "kmeans", "reservoir"]


@pytest.fixture
def fresh(monkeypatch):
    """A registry whose changes are undone after the test (built-ins already discovered)."""
    return isolate_registry(monkeypatch, "done")


class FirstK(ReplayBuffer):
    """Keeps the first k pool items."""

    def select(self, pool, k, rng):
        return list(range(min(k, len(pool))))


def test_register_strategy_is_exported_by_the_package():
    assert facebench.register_strategy is register_strategy


def test_built_in_replay_strategies_are_listed():
    names = [e.name for e in registry.list_strategies()]
    assert set(BUILT_IN_REPLAY) <= set(names)
    assert names == sorted(names)
    for name in BUILT_IN_REPLAY:
        entry = registry.get_strategy(name)
        assert entry.kind == "sequential" and entry.is_replay and entry.takes_buffer_size
        assert [p.name for p in entry.parameters] == ["buffer_size"]
        assert entry.parameters[0].default is registry.REQUIRED
        assert entry.description and "\n" not in entry.description
    assert registry.get_strategy("reservoir").target is ReservoirSamplingBuffer


def test_list_with_a_pattern():
    assert [e.name for e in registry.list_strategies("er-*")] == ["er-hull", "er-rand"]
    assert registry.list_strategies("nothing*") == []


def test_unknown_name_suggests_the_nearest_and_lists_the_known():
    with pytest.raises(StrategyError) as error:
        registry.get_strategy("er_hull")
    message = str(error.value)
    assert "unknown strategy 'er_hull'" in message and "did you mean 'er-hull'?" in message
    assert all(name in message for name in BUILT_IN_REPLAY)


def test_replay_parameters_are_checked():
    entry = registry.get_strategy("er-rand")
    assert entry.resolve_params({"buffer_size": 3}) == {"buffer_size": 3}
    assert entry.resolve_params({"buffer_size": "5"}) == {"buffer_size": 5}  # as a CLI would pass it
    with pytest.raises(StrategyError, match="needs buffer_size"):
        entry.resolve_params({})
    for bad in (0, -2, 2.5, True):
        with pytest.raises(StrategyError, match="positive integer"):
            entry.resolve_params({"buffer_size": bad})
    with pytest.raises(StrategyError, match="must be int"):
        entry.resolve_params({"buffer_size": "three"})
    with pytest.raises(StrategyError, match="takes no parameter lr"):
        entry.resolve_params({"buffer_size": 3, "lr": 1})


def test_replay_plugins_hold_a_seeded_buffer():
    entry = registry.get_strategy("er-hull")
    [plugin] = entry.plugins({"buffer_size": 4}, seed=7, replay_batch_size=3)
    assert isinstance(plugin, ReplayPlugin) and plugin.mem_size == 4 and plugin.batch_size_mem == 3
    buffer = plugin.storage_policy
    assert type(buffer).__name__ == "ERHull" and buffer.max_size == 4
    again = entry.make_buffer({"buffer_size": 4}, seed=7)
    assert buffer.rng.random() == again.rng.random()
    stock = registry.get_strategy("reservoir").make_buffer({"buffer_size": 2}, seed=7)
    assert isinstance(stock, ReservoirSamplingBuffer) and stock.max_size == 2


def test_a_factory_strategy(fresh):
    seen = {}

    @register_strategy("test-joint", kind="joint")
    def joint_factory(weight: float = 0.5, seed: int = 0):
        """Everything at once.

        More text.
        """
        seen.update(weight=weight, seed=seed)
        return []

    entry = fresh.get_strategy("test-joint")
    assert (entry.kind, entry.is_replay, entry.takes_buffer_size) == ("joint", False, False)
    assert entry.strategy_kind is KINDS["joint"]
    assert entry.description == "Everything at once."
    assert [(p.name, p.default) for p in entry.parameters] == [("weight", 0.5)]  # seed is the run's
    assert entry.plugins({"weight": "2"}, seed=11) == [] and seen == {"weight": 2.0, "seed": 11}
    with pytest.raises(StrategyError, match="takes no parameter buffer_size"):
        entry.resolve_params({"buffer_size": 3})


def test_a_cumulative_factory_and_a_bad_factory_result(fresh):
    assert register_strategy("test-cumulative", kind="cumulative")(_no_plugins) is _no_plugins
    entry = fresh.get_strategy("test-cumulative")
    assert entry.kind == "cumulative" and entry.strategy_kind is KINDS["cumulative"]
    assert register_strategy("test-plain")(_no_plugins) is _no_plugins
    assert fresh.get_strategy("test-plain").strategy_kind is KINDS["sequential"]  # the default kind
    assert register_strategy("test-so-far", kind="joint-so-far")(_no_plugins) is _no_plugins
    entry = fresh.get_strategy("test-so-far")
    assert entry.kind == "joint-so-far" and entry.strategy_kind is KINDS["joint-so-far"] and not entry.is_replay

    @register_strategy("test-bad-result")
    def bad():
        return "not plugins"

    with pytest.raises(StrategyError, match="list of Avalanche plugins"):
        fresh.get_strategy("test-bad-result").plugins()


def _typed(flag: bool = False, rate: float = 0.5, count: int = 2, label: str = "x", weight: "float" = 1.0,
           lam: "float" = None, steps: int = None, anything=None):
    """Parameters of every type, some typed by annotation only (as under ``from __future__ import annotations``)."""
    return []


@pytest.mark.parametrize("given, expected", [
    ({"flag": "true"}, {"flag": True}),
    ({"flag": "True"}, {"flag": True}),
    ({"flag": "1"}, {"flag": True}),
    ({"flag": "yes"}, {"flag": True}),
    ({"flag": "false"}, {"flag": False}),
    ({"flag": "FALSE"}, {"flag": False}),
    ({"flag": "0"}, {"flag": False}),
    ({"flag": "no"}, {"flag": False}),
    ({"rate": "1e5"}, {"rate": 1e5}),
    ({"rate": "3"}, {"rate": 3.0}),
    ({"count": "3"}, {"count": 3}),
    ({"label": "3"}, {"label": "3"}),  # a string parameter stays a string
    ({"weight": "2.5"}, {"weight": 2.5}),  # typed by its annotation
    ({"lam": "1e5"}, {"lam": 1e5}),  # default None: typed by its annotation
    ({"steps": "7"}, {"steps": 7}),
    ({"anything": "7"}, {"anything": "7"}),  # no type to convert to
    ({"flag": True, "rate": 2, "count": 4}, {"flag": True, "rate": 2, "count": 4}),  # non-strings are kept
])
def test_parameters_given_as_strings_are_converted(fresh, given, expected):
    register_strategy("test-typed")(_typed)
    resolved = fresh.get_strategy("test-typed").resolve_params(given)
    for name, value in expected.items():
        assert resolved[name] == value and type(resolved[name]) is type(value), name
    assert list(resolved) == ["flag", "rate", "count", "label", "weight", "lam", "steps", "anything"]


@pytest.mark.parametrize("given, message", [
    ({"flag": "maybe"}, "flag must be bool, got 'maybe'"),
    ({"flag": ""}, "flag must be bool, got ''"),
    ({"rate": "fast"}, "rate must be float, got 'fast'"),
    ({"count": "3.5"}, "count must be int, got '3.5'"),
    ({"count": "1e5"}, "count must be int, got '1e5'"),
    ({"lam": "big"}, "lam must be float, got 'big'"),
])
def test_a_bad_string_names_the_parameter_and_its_type(fresh, given, message):
    register_strategy("test-typed")(_typed)
    with pytest.raises(StrategyError, match=re.escape(f"strategy 'test-typed': {message}")):
        fresh.get_strategy("test-typed").resolve_params(given)


def test_a_built_in_float_parameter_from_the_command_line():
    assert registry.get_strategy("ewc").resolve_params({"ewc_lambda": "1e5"})["ewc_lambda"] == 1e5


def _no_plugins():
    """Plain sequential training."""
    return []


def test_a_replay_class_with_parameters(fresh):
    @register_strategy("test-first-k")
    class Tuned(FirstK):
        """First k, tunable."""

        def __init__(self, max_size: int, seed: int = 0, margin: int = 2):
            super().__init__(max_size, seed)
            self.margin = margin

    entry = fresh.get_strategy("test-first-k")
    assert [(p.name, p.default) for p in entry.parameters] == [("buffer_size", inspect.Parameter.empty), ("margin", 2)]
    buffer = entry.make_buffer({"buffer_size": 3, "margin": "4"}, seed=1)
    assert (buffer.max_size, buffer.margin) == (3, 4)


@pytest.mark.parametrize("target, message", [
    (type("Plain", (), {"__doc__": "not a buffer"}), "not an Avalanche ExemplarsBuffer"),
    (type("Abstract", (ReplayBuffer,), {}), "does not implement select"),
    (42, "expected a replay buffer class or a plugin factory"),
])
def test_bad_registrations(fresh, target, message):
    with pytest.raises(StrategyError, match=message):
        register_strategy("test-bad")(target)
    assert "test-bad" not in fresh._ENTRIES


def test_bad_names_kinds_and_duplicates(fresh):
    with pytest.raises(StrategyError, match="invalid strategy name"):
        register_strategy("Has Space")
    with pytest.raises(StrategyError, match="kind must be one of sequential, cumulative, joint, joint-so-far, "
                                            "got 'parallel'"):
        register_strategy("test-x", kind="parallel")
    for kind in ("joint", "cumulative", "joint-so-far"):
        with pytest.raises(StrategyError, match=f"a replay strategy is sequential, not {kind}"):
            register_strategy("test-x", kind=kind)(FirstK)
    with pytest.raises(StrategyError, match="already taken by facebench.strategies.er_rand.ERRand"):
        register_strategy("er-rand")(FirstK)
    assert fresh.get_strategy("er-rand").target.__name__ == "ERRand"


PLUGINS = {
    "fbtest_good": '''
        from facebench import register_strategy
        from facebench.replay import ReplayBuffer

        @register_strategy("plugin-first")
        class PluginFirst(ReplayBuffer):
            """A third-party buffer."""
            def select(self, pool, k, rng):
                return list(range(min(k, len(pool))))
    ''',
    "fbtest_plain": '''
        from facebench.replay import ReplayBuffer

        class Undecorated(ReplayBuffer):
            """Registered by its entry point's name."""
            def select(self, pool, k, rng):
                return [0]
    ''',
    "fbtest_broken": "import a_module_that_does_not_exist\n",
    "fbtest_duplicate": '''
        from facebench import register_strategy
        from facebench.replay import ReplayBuffer

        @register_strategy("er-hull")
        class Impostor(ReplayBuffer):
            def select(self, pool, k, rng):
                return []
    ''',
    "fbtest_wrong_base": '''
        class NotABuffer:
            """Selects nothing."""
    ''',
}


def test_third_party_plugins_through_entry_points(fresh, monkeypatch, tmp_path):
    for module, source in PLUGINS.items():
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [
        EntryPoint("plugin-first", "fbtest_good", registry.GROUP),
        EntryPoint("plugin-plain", "fbtest_plain:Undecorated", registry.GROUP),
        EntryPoint("plugin-broken", "fbtest_broken", registry.GROUP),
        EntryPoint("plugin-duplicate", "fbtest_duplicate", registry.GROUP),
        EntryPoint("plugin-wrong-base", "fbtest_wrong_base:NotABuffer", registry.GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: [p for p in points if p.group == group])
    monkeypatch.setattr(registry, "_discovery", "pending")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = [e.name for e in registry.list_strategies()]
    reported = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert len(reported) == 3
    assert any("'plugin-broken'" in m and "a_module_that_does_not_exist" in m for m in reported)
    assert any("'plugin-duplicate'" in m and "already taken" in m for m in reported)
    assert any("'plugin-wrong-base'" in m and "not an Avalanche ExemplarsBuffer" in m for m in reported)
    assert {"plugin-first", "plugin-plain", *BUILT_IN_REPLAY} <= set(names)
    assert registry.get_strategy("er-hull").target.__name__ == "ERHull"
    good = registry.get_strategy("plugin-first")
    assert good.origin.startswith("plugin plugin-first") and good.description == "A third-party buffer."
    plain = registry.get_strategy("plugin-plain").make_buffer({"buffer_size": 2})
    assert plain.select(None, 2, np.random.default_rng()) == [0]


HALF_REGISTERED = '''
    from facebench import register_strategy
    from facebench.replay import ReplayBuffer

    @register_strategy("plugin-half")
    class Half(ReplayBuffer):
        """Registered before its module fails."""
        def select(self, pool, k, rng):
            return [0]

'''


@pytest.mark.parametrize("module, failure, value, message", [
    ("fbtest_half_raises", "raise RuntimeError('the second half is broken')", "fbtest_half_raises",
     "the second half is broken"),
    ("fbtest_half_missing", "", "fbtest_half_missing:Missing", "Missing"),  # the module imports, not what it names
])
def test_a_plugin_that_fails_halfway_leaves_nothing_registered(fresh, monkeypatch, tmp_path, module, failure, value,
                                                               message):
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(HALF_REGISTERED) + failure + "\n")
    (tmp_path / f"{module}_neighbour.py").write_text(textwrap.dedent(PLUGINS["fbtest_plain"]))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [EntryPoint("plugin-half", value, registry.GROUP),
              EntryPoint("plugin-neighbour", f"{module}_neighbour:Undecorated", registry.GROUP)]
    monkeypatch.setattr(registry, "entry_points", lambda group: [p for p in points if p.group == group])
    monkeypatch.setattr(registry, "_discovery", "pending")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = [e.name for e in registry.list_strategies()]
    [reported] = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert reported.startswith(f"strategy plugin 'plugin-half' ({value}) not loaded: ") and message in reported
    assert reported.endswith("; the strategies it registered first are left out: plugin-half")
    assert "plugin-half" not in names and "plugin-neighbour" in names and set(BUILT_IN_REPLAY) <= set(names)
    with pytest.raises(StrategyError, match="unknown strategy 'plugin-half'"):
        registry.get_strategy("plugin-half")


def test_the_built_in_references_have_their_kinds():
    for name, kind in (("joint", "joint"), ("joint-so-far", "joint-so-far"), ("cumulative", "cumulative"),
                       ("naive", "sequential")):
        entry = registry.get_strategy(name)
        assert entry.kind == kind and entry.strategy_kind is KINDS[kind] and entry.origin == "built-in", name
    entry = registry.get_strategy("joint-so-far")
    assert entry.plugins({}, seed=0) == [] and not entry.parameters and not entry.takes_buffer_size
    assert entry.description.startswith("Joint training on the sessions so far")


def test_a_strategy_names_the_code_it_is():
    """source(): the defining module, the sha256 of its file and its distribution, so two result
    files of one strategy name made by different code can be told apart."""
    import hashlib
    import inspect
    from pathlib import Path

    from facebench import registry

    entry = registry.get_strategy("er-rand")
    source = entry.source()
    path = Path(inspect.getsourcefile(entry.target))
    assert source == {"module": entry.target.__module__, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                      "distribution": "facebench", "version": registry.importlib.metadata.version("facebench")}


def test_a_run_is_named_by_the_parameters_that_differ_from_the_defaults():
    ewc = {"ewc_lambda": 1e5, "decay_factor": 1.0}
    assert registry.named_params(dict(ewc), ewc) == {}
    assert registry.named_params({"ewc_lambda": 100000, "decay_factor": 0.5}, ewc) == {"decay_factor": 0.5}  # 1e5
    assert registry.named_params({"ewc_lambda": 1e5}, None) == {"ewc_lambda": 1e5}  # no defaults recorded: all
    assert registry.named_params({"flag": 1}, {"flag": True}) == {"flag": 1}  # 1 is no default of True
    assert registry.named_params({"policy": "er-hull", "buffer_size": 3}, {"policy": "er-hull", "buffer_size": 3}) == {
        "buffer_size": 3}  # K always names it
    tuned = {"ewc_lambda": 1e4, "decay_factor": 1.0}
    assert registry.folder_name("ewc", tuned, ewc) == "ewc-ewclambda10000.0"
    assert registry.method_name("ewc", tuned, ewc) == "ewc ewc_lambda=10000.0"
    assert registry.folder_name("ewc", ewc, ewc) == registry.method_name("ewc", ewc, ewc) == "ewc"
    other = {"buffer_size": 3, "policy": "kmeans"}
    assert registry.folder_name("latent-replay", other, {"policy": "er-hull"}) == "latent-replay-k3-policykmeans"
    assert registry.method_name("latent-replay", other, {"policy": "er-hull"}) == "latent-replay policy=kmeans"
    assert registry.run_label("latent-replay", registry.named_params(other, {})) == (
        "latent-replay buffer_size=3 policy=kmeans")
    assert registry.get_strategy("ewc").defaults == ewc and registry.get_strategy("er-hull").defaults == {}


def _grows(weight: float = 1.0) -> list:
    """A strategy's first version."""
    return []


def _grown(weight: float = 1.0, use_history: bool = True) -> list:
    """Its next version: a parameter more, with a default."""
    return []


def test_a_parameter_added_with_a_default_renames_no_run(fresh):
    register_strategy("test-grows")(_grows)
    before = fresh.get_strategy("test-grows")
    del fresh._ENTRIES["test-grows"]  # the strategy's next version takes its name
    register_strategy("test-grows")(_grown)
    after = fresh.get_strategy("test-grows")
    assert after.defaults == {"weight": 1.0, "use_history": True}
    for given in ({}, {"weight": "2"}):
        old, new = before.resolve_params(given), after.resolve_params(given)
        assert old != new
        for name in (registry.folder_name, registry.method_name):
            assert name("test-grows", old, before.defaults) == name("test-grows", new, after.defaults), given
    assert registry.method_name("test-grows", after.resolve_params({"weight": "2"}), after.defaults) == (
        "test-grows weight=2.0")
    assert registry.method_name("test-grows", after.resolve_params({"use_history": "no"}), after.defaults) == (
        "test-grows use_history=False")
