"""The strategy registry (public): every strategy by name, with its kind, parameters and description.

``@register_strategy(name)`` registers either

- a replay strategy: a class derived from Avalanche's ``ExemplarsBuffer``, normally
  ``facebench.replay.ReplayBuffer`` (implement ``select``), or a stock Avalanche storage policy
  whose constructor takes ``max_size``. It is used through ``replay.BufferReplayPlugin`` and
  takes the parameter ``buffer_size`` (K, required, a positive integer), given to the class as
  ``max_size``;
- or a factory function returning the list of Avalanche plugins of a non-replay strategy.
  The decorator states its ``kind`` (``facebench.run.kinds``): "sequential" (one model
  fine-tuned through the sessions in order), "cumulative" (the same, on all data seen so far at
  each session), "joint" (one fine-tuning on all sessions' data at once) or "joint-so-far" (for
  each session, a fresh fine-tuning of the generic model on all data so far).

A strategy's other parameters are those of the class's constructor or of the factory, with
their defaults. The run's context is not a parameter: a constructor or factory that declares
``seed`` receives the run's seed, and a factory that declares ``replay_batch_size`` receives the
number of replayed samples per mini-batch of the protocol (for factories that build their own
``ReplayPlugin``, e.g. an adapter combined with a replay buffer). Its description is the first
line of its docstring.

Discovery, on the first lookup: every module of the package ``facebench.strategies`` (the
built-ins), then the entry points of the group ``facebench.strategies`` (third-party plugins).
An entry point names a module (whose decorators register its strategies) or a class or factory
(registered under the entry point's name unless its own decorator did). A plugin that fails to
import, takes a name already taken or registers the wrong kind of object is reported in a
``PluginWarning`` naming it, and the others load as usual. A plugin loads all or nothing: the
strategies it registered before failing are removed again. A built-in module that fails to
import fails every lookup.

A run is named (result folder, method on a board) by its strategy and the parameters that differ
from the strategy's defaults (:func:`named_params`, the one definition every name is made from).
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import hashlib
import importlib
import importlib.metadata
import inspect
import pkgutil
import re
import sys
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from facebench.atomic import write_json
from facebench.cache import cache_dir
from facebench.errors import FacebenchError

if TYPE_CHECKING:
    from facebench.run.kinds import SequentialKind
# facebench.run.kinds (which imports Avalanche, hence torch) is imported where a kind is needed, so
# that importing the registry, and with it ``facebench``, stays cheap: `facebench --help` needs neither.

GROUP = "facebench.strategies"
"""The entry-point group of third-party strategies, and the package of the built-in ones."""

REQUIRED = inspect.Parameter.empty
"""The default of a parameter that has none."""
CONTEXT = ("seed", "replay_batch_size")
"""Names a constructor or factory may declare to receive the run's context instead of a parameter."""


class StrategyError(FacebenchError):
    """An unknown strategy, a bad registration, or parameters the strategy does not accept."""


class PluginWarning(UserWarning):
    """A third-party strategy plugin could not be loaded."""


@dataclass(frozen=True)
class StrategyEntry:
    """A registered strategy.

    ``kind``: the name of its ``facebench.run.kinds`` kind (``strategy_kind`` is the object).
    ``parameters``: ``inspect.Parameter`` objects (keyword-only), ``buffer_size`` first for a
    replay strategy; a parameter's ``default`` is ``REQUIRED`` if it has none. ``origin``:
    "built-in" (registered by a module of ``facebench.strategies``, whoever imported it first),
    "plugin NAME (VALUE)" (loaded by discovery from that entry point), else the registering module.
    """

    name: str
    target: Callable
    kind: str
    description: str
    parameters: tuple[inspect.Parameter, ...]
    origin: str

    @property
    def strategy_kind(self) -> SequentialKind:
        """The kind object that lays out the strategy's data, steps and scoring."""
        from facebench.run.kinds import KINDS

        return KINDS[self.kind]

    @property
    def is_replay(self) -> bool:
        """True for a buffer class used through ``ReplayPlugin``."""
        return isinstance(self.target, type)

    @property
    def takes_buffer_size(self) -> bool:
        return any(p.name == "buffer_size" for p in self.parameters)

    @property
    def defaults(self) -> dict:
        """Each parameter's default, by name; a required parameter (``buffer_size``) has none."""
        return {p.name: p.default for p in self.parameters if p.default is not REQUIRED}

    def source(self) -> dict:
        """Which code the strategy is: ``module`` (where its class or factory is defined),
        ``sha256`` of that module's source file (None if it has none), ``distribution`` and
        ``version`` of the installed package the module belongs to (None for a module outside
        any, e.g. an untracked file of a checkout), and for a plugin installed editable (``pip
        install -e``, PEP 610) ``commit``: the git commit of the checkout it was installed from,
        with "-dirty" when the files of its folder differ from the commit (None outside git). A
        result file records it, so two files of one strategy name made by different code can be
        told apart."""
        try:
            path = inspect.getsourcefile(self.target)
        except TypeError:  # defined in no file (a built-in)
            path = None
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
        top = self.target.__module__.split(".")[0]
        names = _distributions().get(top, [])
        distribution = names[0] if names else None
        version = importlib.metadata.version(distribution) if distribution else None
        found = {"module": self.target.__module__, "sha256": digest, "distribution": distribution, "version": version}
        checkout = _editable_checkout(distribution) if distribution not in (None, "facebench") else None
        return found if checkout is None else {**found, "commit": _checkout_commit(checkout)}

    def resolve_params(self, params: Mapping[str, Any] | None = None) -> dict:
        """``params`` checked and completed with the defaults, in the order of ``parameters``.

        Strings are converted to the type of the parameter's default (or annotation) when that
        is int, float or bool. Raises ``StrategyError`` for an unknown or missing parameter and
        for a ``buffer_size`` that is not a positive integer.
        """
        params = dict(params or {})
        names = [p.name for p in self.parameters]
        unknown = sorted(set(params) - set(names))
        if unknown:
            takes = f"its parameters: {', '.join(names)}" if names else "it takes none"
            raise StrategyError(f"strategy '{self.name}' takes no parameter {', '.join(unknown)} ({takes})")
        resolved = {}
        for p in self.parameters:
            if p.name in params:
                resolved[p.name] = _coerce(self.name, p, params[p.name])
            elif p.default is REQUIRED:
                what = " (K, the most items the buffer holds)" if p.name == "buffer_size" else ""
                raise StrategyError(f"strategy '{self.name}' needs {p.name}{what}")
            else:
                resolved[p.name] = p.default
        k = resolved.get("buffer_size")
        if self.takes_buffer_size and not (isinstance(k, Integral) and not isinstance(k, bool) and k >= 1):
            raise StrategyError(f"strategy '{self.name}': buffer_size must be a positive integer, got {k!r}")
        return resolved

    def make_buffer(self, params: Mapping[str, Any] | None = None, seed: int = 0):
        """A replay strategy's storage policy (``ExemplarsBuffer``) for these parameters and run seed."""
        if not self.is_replay:
            raise StrategyError(f"strategy '{self.name}' is not a replay strategy")
        kwargs = self.resolve_params(params)
        kwargs["max_size"] = kwargs.pop("buffer_size")
        return self.target(**_with_context(self.target, kwargs, seed=seed))

    def plugins(self, params: Mapping[str, Any] | None = None, seed: int = 0,
                replay_batch_size: int | None = None) -> list:
        """The Avalanche plugins of a run with these parameters and seed.

        A replay strategy gives ``[BufferReplayPlugin(mem_size=K, storage_policy=buffer, seed=seed)]``,
        whose mini-batches hold exactly the template's ``train_mb_size`` new samples and exactly
        ``replay_batch_size`` replayed ones (default: ``train_mb_size`` too) once the buffer
        holds items, their draws seeded from ``seed`` and the experience's index.
        """
        if self.is_replay:
            from facebench.replay import BufferReplayPlugin

            buffer = self.make_buffer(params, seed)
            return [BufferReplayPlugin(mem_size=buffer.max_size, storage_policy=buffer, batch_size_mem=replay_batch_size,
                                       seed=seed)]
        context = {"seed": seed, "replay_batch_size": replay_batch_size}
        plugins = self.target(**_with_context(self.target, self.resolve_params(params), **context))
        if not isinstance(plugins, (list, tuple)):
            raise StrategyError(f"strategy '{self.name}': its factory must return a list of Avalanche plugins, "
                                f"got {type(plugins).__name__}")
        return list(plugins)



@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    """Top-level module -> the installed distributions that provide it (read once per process:
    reading it takes a second, and what is installed does not change under a run)."""
    return importlib.metadata.packages_distributions()


def _editable_checkout(distribution: str) -> Path | None:
    """The folder ``distribution`` was installed from in editable mode (the ``direct_url.json``,
    PEP 610, of the first copy of it that has one: a checkout's own ``.egg-info`` on the path has
    none); None for a regular install."""
    import json
    import urllib.parse
    import urllib.request

    texts = (copy.read_text("direct_url.json") for copy in importlib.metadata.distributions(name=distribution))
    record = json.loads(next((text for text in texts if text), "{}"))
    if not record.get("dir_info", {}).get("editable") or not record.get("url", "").startswith("file://"):
        return None
    return Path(urllib.request.url2pathname(urllib.parse.urlparse(record["url"]).path))


@functools.cache
def _checkout_commit(folder: Path) -> str | None:
    """HEAD of the git checkout holding ``folder``, with "-dirty" when a file under ``folder``
    differs from it (an untracked one included); None when ``folder`` is in no checkout or git
    is missing. Asked once per process and folder."""
    import subprocess

    try:
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain=v2", "--branch", "--", "."],
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = status.stdout.splitlines()
    head = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
    if status.returncode != 0 or head is None or head == "(initial)":
        return None
    return head + ("-dirty" if any(not line.startswith("#") for line in lines) else "")

_ENTRIES: dict[str, StrategyEntry] = {}
_discovery = "pending"  # then "running", "done"
_origin: str | None = None  # set while discovery imports a module


def register_strategy(name: str, *, kind: str = "sequential"):
    """Decorator: register a replay buffer class or a plugin factory as strategy ``name``.

    ``kind`` concerns factories (see the module docstring); a replay strategy is sequential.
    Returns the object unchanged.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name):
        raise StrategyError(f"invalid strategy name {name!r}: use lower-case letters, digits, '-', '_' and '.'")
    from facebench.run.kinds import KINDS

    if kind not in KINDS:
        raise StrategyError(f"strategy '{name}': kind must be one of {', '.join(KINDS)}, got {kind!r}")
    module = sys._getframe(1).f_globals.get("__name__", "?")  # the module that registers it
    origin = _origin or ("built-in" if module.startswith(GROUP + ".") else module)

    def decorate(target):
        entry = _entry(name, target, kind, origin)
        taken = _ENTRIES.get(name)
        if taken is not None and _qualname(taken.target) != _qualname(target):
            raise StrategyError(f"strategy name '{name}' is already taken by {_qualname(taken.target)} "
                                f"({taken.origin})")
        _ENTRIES[name] = entry
        return target

    return decorate


def get_strategy(name: str) -> StrategyEntry:
    """The strategy registered as ``name``; ``StrategyError`` naming the known ones otherwise."""
    _discover()
    if name in _ENTRIES:
        return _ENTRIES[name]
    known = sorted(_ENTRIES)
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise StrategyError(f"unknown strategy '{name}'{hint} (known: {', '.join(known)})")


def list_strategies(pattern: str | None = None) -> list[StrategyEntry]:
    """Every registered strategy whose name matches the shell-style ``pattern`` (all if None), by name."""
    _discover()
    return [_ENTRIES[n] for n in sorted(_ENTRIES) if pattern is None or fnmatch.fnmatchcase(n, pattern)]


def _discover() -> None:
    global _discovery, _origin
    if _discovery != "pending":
        return
    _discovery = "running"
    try:
        package = importlib.import_module(GROUP)
        for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
            if not module.startswith("_"):
                _origin = "built-in"
                importlib.import_module(f"{GROUP}.{module}")
        for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
            _origin = f"plugin {point.name} ({point.value})"
            before = dict(_ENTRIES)
            try:
                _load_plugin(point)
            except Exception as error:  # a broken plugin must not break the others, nor leave a part behind
                added = sorted(set(_ENTRIES) - set(before))
                _ENTRIES.clear()
                _ENTRIES.update(before)
                dropped = f"; the strategies it registered first are left out: {', '.join(added)}" if added else ""
                warnings.warn(f"strategy plugin '{point.name}' ({point.value}) not loaded: {error}{dropped}",
                              PluginWarning, stacklevel=3)
    except BaseException:
        _discovery = "pending"  # a broken built-in fails every lookup, not just the first
        raise
    finally:
        _origin = None
    _discovery = "done"


def _load_plugin(point) -> None:
    target = point.load()
    if inspect.ismodule(target) or any(e.target is target for e in _ENTRIES.values()):
        return  # its decorators registered it
    register_strategy(point.name)(target)


def _entry(name: str, target, kind: str, origin: str | None = None) -> StrategyEntry:
    if isinstance(target, type):
        from avalanche.training.storage_policy import ExemplarsBuffer

        if not issubclass(target, ExemplarsBuffer):
            raise StrategyError(f"strategy '{name}': {_qualname(target)} is a class but not an Avalanche "
                                "ExemplarsBuffer (derive it from facebench.replay.ReplayBuffer)")
        if inspect.isabstract(target):
            missing = ", ".join(sorted(target.__abstractmethods__))
            raise StrategyError(f"strategy '{name}': {_qualname(target)} does not implement {missing}")
        if kind != "sequential":
            raise StrategyError(f"strategy '{name}': a replay strategy is sequential, not {kind}")
    elif not inspect.isfunction(target):
        raise StrategyError(f"strategy '{name}': expected a replay buffer class or a plugin factory function, "
                            f"got {type(target).__name__}")
    doc = inspect.cleandoc(target.__doc__ or "")
    return StrategyEntry(
        name=name,
        target=target,
        kind=kind,
        description=doc.splitlines()[0] if doc else "",
        parameters=_parameters(name, target),
        origin=origin or _origin or target.__module__,
    )


def _parameters(name: str, target) -> tuple[inspect.Parameter, ...]:
    """The user-facing parameters of a buffer class's constructor or of a factory."""
    signature = inspect.signature(target)
    out = []
    if isinstance(target, type):
        if "max_size" not in signature.parameters:
            raise StrategyError(f"strategy '{name}': the constructor of {_qualname(target)} must take max_size")
        out.append(inspect.Parameter("buffer_size", inspect.Parameter.KEYWORD_ONLY, annotation=int))
    for p in signature.parameters.values():
        if p.name == "max_size" or p.name in CONTEXT or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    return tuple(out)


def _with_context(target, kwargs: dict, **context) -> dict:
    """``kwargs`` plus the context values whose names ``target`` declares."""
    declared = inspect.signature(target).parameters
    return {**kwargs, **{k: v for k, v in context.items() if k in declared}}


_SCALARS = {"int": int, "float": float, "bool": bool}


def _coerce(strategy: str, p: inspect.Parameter, value):
    """A string ``value`` as the parameter's type: its annotation where that names int, float or
    bool (also as a string, under ``from __future__ import annotations``), else its default's
    type; other values, and strings of other types, unchanged."""
    if not isinstance(value, str):
        return value
    kind = _SCALARS.get(p.annotation, p.annotation)
    if kind not in (int, float, bool):
        kind = type(p.default) if p.default is not REQUIRED and p.default is not None else None
    try:
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if kind in (int, float):
            return kind(value)
    except ValueError:
        raise StrategyError(f"strategy '{strategy}': {p.name} must be {kind.__name__}, got {value!r}") from None
    return value


def _qualname(target) -> str:
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


# Naming runs. ---------------------------------------------------------------------------------
# A run is named (its result folder, its method on a board, the lines that report it) by its
# strategy and the parameters that differ from the strategy's defaults, so that a parameter added
# later with a default renames nothing, and a file that records a default pairs with one that
# does not. The defaults are those of the run's time, which its result file records
# (``strategy.defaults``): a board names a file from the file alone, its strategy installed or not.

def named_params(params: Mapping[str, Any], defaults: Mapping[str, Any] | None) -> dict:
    """The parameters that name a run, sorted by name: those of ``params`` whose value is not
    their default in ``defaults``, and ``buffer_size`` always (K is an axis of the grid).

    ``defaults``: the strategy's defaults when the run ran (:attr:`StrategyEntry.defaults`). A
    parameter without a default names the run, and so does every parameter where ``defaults`` is
    None: not recorded (a result file written before facebench recorded them; ``facebench
    leaderboard DIR --migrate`` records them). A value is its default when they are one
    (:func:`same_value`).
    """
    defaults = defaults or {}
    return {name: value for name, value in sorted(params.items())
            if name == "buffer_size" or name not in defaults or not same_value(value, defaults[name])}


def same_value(a, b) -> bool:
    """Whether two values of a parameter are one: equal as Python compares them (100000 and 1e5
    are) and both or neither booleans (True and 1 are not)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def run_label(strategy: str, named: Mapping[str, Any]) -> str:
    """``strategy`` then `` name=value`` for each of the ``named`` parameters: ``ewc ewc_lambda=10000.0``."""
    return strategy + "".join(f" {name}={value}" for name, value in named.items())


def method_name(strategy: str, params: Mapping[str, Any], defaults: Mapping[str, Any] | None) -> str:
    """A run's method on a board: :func:`run_label` of its named parameters (:func:`named_params`)
    but ``buffer_size``, which is the board's column K (``ewc ewc_lambda=10000.0``, ``er-hull``)."""
    named = named_params(params, defaults)
    named.pop("buffer_size", None)
    return run_label(strategy, named)


def folder_name(strategy: str, params: Mapping[str, Any], defaults: Mapping[str, Any] | None) -> str:
    """A run's result folder: the strategy, then ``-<name><value>`` for each named parameter
    (:func:`named_params`), the name without '_' and ``buffer_size`` as ``k``
    (``ewc-ewclambda10000.0``, ``er-hull-k3``)."""
    return strategy + "".join(f"-{_short(name)}{value}" for name, value in named_params(params, defaults).items())


def _short(name: str) -> str:
    return "k" if name == "buffer_size" else name.replace("_", "")


@dataclass(frozen=True)
class StrategySummary:
    """What ``facebench strategies`` shows of a strategy, as plain text: its name, kind, whether
    it is a replay strategy, its parameters as (name, repr of the default, or None if required),
    its description and origin."""

    name: str
    kind: str
    is_replay: bool
    parameters: tuple[tuple[str, str | None], ...]
    description: str
    origin: str


SUMMARIES_FILE = "strategies.json"
"""The file, in the cache folder ($FACEBENCH_CACHE, else ~/.cache/facebench), of the last listing."""


def strategy_summaries(pattern: str | None = None) -> list[StrategySummary]:
    """``list_strategies(pattern)`` as :class:`StrategySummary` records, cheaply.

    Discovery imports every strategy module, hence Avalanche and torch (seconds). A fresh
    process (nothing registered yet) therefore reads the listing from the cache file
    ``SUMMARIES_FILE`` when its fingerprint still matches: facebench's version, the Python, the
    size and mtime of every module of facebench, of its built-in strategies and of each plugin's
    package, and the plugins' entry points and distributions. Otherwise it discovers, lists and
    rewrites the file. The plugin warnings of the discovery are cached with it and issued again.
    """
    fresh = _discovery == "pending" and not _ENTRIES
    if fresh:
        import json

        path = _summaries_path()
        fingerprint = _fingerprint()
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            if cached["fingerprint"] == fingerprint:
                for message in cached["warnings"]:
                    warnings.warn(message, PluginWarning, stacklevel=2)
                summaries = [StrategySummary(**{**item, "parameters": tuple(map(tuple, item["parameters"]))})
                             for item in cached["strategies"]]
                return [s for s in summaries if pattern is None or fnmatch.fnmatchcase(s.name, pattern)]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no cache yet, or an unreadable one: discover
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PluginWarning)
            _discover()
        issued = [w for w in caught if issubclass(w.category, PluginWarning)]
        for w in caught:  # issued again, as discovery issues them
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        summaries = [_summary(entry) for entry in list_strategies()]
        _write_summaries(path, {"fingerprint": fingerprint, "warnings": [str(w.message) for w in issued],
                                "strategies": [vars(s) for s in summaries]})
        return [s for s in summaries if pattern is None or fnmatch.fnmatchcase(s.name, pattern)]
    return [_summary(entry) for entry in list_strategies(pattern)]


def _summary(entry: StrategyEntry) -> StrategySummary:
    parameters = tuple((p.name, None if p.default is REQUIRED else repr(p.default)) for p in entry.parameters)
    return StrategySummary(entry.name, entry.kind, entry.is_replay, parameters, entry.description, entry.origin)


def _summaries_path() -> Path:
    return cache_dir() / SUMMARIES_FILE


def _write_summaries(path: Path, content: dict) -> None:
    """Write the cache file atomically; a cache that cannot be written is no error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, content)
    except OSError:
        pass


def _fingerprint() -> str:
    """What the strategy listing depends on (see :func:`strategy_summaries`), hashed."""
    import importlib.util
    from importlib.metadata import version

    parts: list = [sys.version, sys.executable, version("facebench")]
    roots = [*importlib.import_module("facebench").__path__, *importlib.import_module(GROUP).__path__]
    files = []
    for point in sorted(entry_points(group=GROUP), key=lambda p: (p.name, p.value)):
        dist = getattr(point, "dist", None)
        parts.append((point.name, point.value, dist and dist.name, dist and dist.version))
        top = point.value.split(":")[0].strip().split(".")[0]
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError) as error:
            parts.append(repr(error))
            continue
        if spec is None:
            parts.append(f"no module {top}")
        elif spec.submodule_search_locations:
            roots += list(spec.submodule_search_locations)
        elif spec.origin:
            files.append(Path(spec.origin))
    for root in roots:
        files += sorted(Path(root).rglob("*.py"))
    for file in files:
        try:
            stat = file.stat()
            parts.append((str(file), stat.st_size, stat.st_mtime_ns))
        except OSError:
            parts.append((str(file), None))
    return hashlib.sha256(repr(parts).encode()).hexdigest()
