"""``facebench new-strategy``: a new replay strategy's module and test, from a template that passes the kit.

Strategy ``NAME`` (lower-case letters and digits, words joined by '-' or '_') gets a module
``<module>.py``, where ``<module>`` is NAME with '-' as '_', holding a ``ReplayBuffer`` subclass
(NAME in CamelCase) registered as NAME, whose ``select`` keeps a uniform random sample until you
write yours; and a test ``test_<module>.py``, which runs every check of the conformance kit on
NAME as a test of its own (``facebench.testing.parametrize_with_checks``); a failing check fails
its test with the kit's message (which check, what the strategy did) and no traceback.

- A built-in (:func:`new_strategy`): the module goes to facebench's ``strategies/`` folder, the
  test to the checkout's ``tests/``.
- A plugin (:func:`new_plugin`): a complete installable package in a project folder ROOT
  (created if missing): ``ROOT/pyproject.toml`` (distribution ``facebench-NAME``, the entry point
  ``NAME = "facebench_<module>.<module>"`` in the group ``facebench.strategies``, pytest run from
  ROOT finds the package without installing it), ``ROOT/facebench_<module>/__init__.py``, the
  module ``ROOT/facebench_<module>/<module>.py`` and ``ROOT/tests/test_<module>.py``.

No file is ever overwritten: an existing module or test refuses the whole command; an existing
``pyproject.toml`` or ``__init__.py`` is kept (then add the entry point yourself).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from facebench.errors import FacebenchError

NAME = re.compile(r"[a-z][a-z0-9]*([-_][a-z0-9]+)*")

MODULE = Template('''\
"""$name: <one line: which pool items it keeps>."""

from __future__ import annotations

import numpy as np

from facebench import register_strategy
from facebench.replay import Pool, ReplayBuffer


@register_strategy("$name")
class $cls(ReplayBuffer):
    """<One line, shown by `facebench strategies`: which pool items $name keeps.>

    <How it chooses them, precisely enough to reimplement it.>
    """

    def select(self, pool: Pool, k: int, rng: np.random.Generator) -> list[int]:
        """The indices of the pool items to keep: distinct, in range, at most ``k`` of them.

        The pool is the buffer so far plus the newest session's training items; item i has
        ``pool.latents[i]`` (its anchor w, float32, D values), ``pool.images[i]`` (3 x H x W),
        ``pool.sessions[i]`` (its session) and ``pool.spread[i]`` (its mean distance to the
        other latents of its session). Draw randomness only from ``rng``, which the run seeds.
        """
        # A uniform random sample: replace it with your policy.
        return rng.choice(len(pool), size=min(k, len(pool)), replace=False).tolist()
''')

TEST = Template('''\
"""$name keeps facebench's plugin contract: the conformance kit, one test per check."""
$imports
import pytest

from facebench.testing import ConformanceError, parametrize_with_checks


@parametrize_with_checks(["$name"])
def test_${module}_conforms(strategy, check):
    failure = None
    try:
        check(strategy)
    except ConformanceError as error:
        failure = str(error)
    if failure:  # the kit's report is the test's message: which check failed, and what the strategy did
        pytest.fail(failure, pytrace=False)
''')

PLUGIN_IMPORT = """
import $package.$module  # noqa: F401  (registers $name, installed or not: pytest runs from the project root)
"""

PYPROJECT = Template('''\
# A facebench strategy plugin: facebench finds "$name" through the entry point below, in the group
# "facebench.strategies" (the module it names registers the strategy). Install it where facebench is
# installed: pip install -e .   Test it: pytest
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "A facebench replay strategy: $name"
requires-python = ">=3.11"
dependencies = ["facebench"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points."$group"]
$name = "$package.$module"

[tool.setuptools]
packages = ["$package"]

[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]
''')

PACKAGE_INIT = Template('''\
"""$distribution: the facebench strategy $name (module $package.$module, named by the entry point)."""
''')


class ScaffoldError(FacebenchError):
    """A name that cannot be a new strategy, a missing folder, or a file that already exists."""


def new_strategy(name: str, directory: str | Path = "strategies", tests: str | Path = "tests") -> tuple[Path, Path]:
    """Write the module of a new built-in strategy ``name`` into ``directory`` (facebench's
    ``strategies/``) and its test into ``tests``; returns their paths. Refuses a taken or
    malformed name, a missing ``directory`` and existing files; creates ``tests`` if needed."""
    module = _check_name(name)
    directory, tests = Path(directory), Path(tests)
    if not directory.is_dir():
        raise ScaffoldError(f"no folder {directory}: run from the root of a facebench checkout (its strategies/ "
                            "folder), or give --dir PROJECT to write a plugin package there")
    paths = directory / f"{module}.py", tests / f"test_{module}.py"
    _refuse_existing(paths)
    tests.mkdir(parents=True, exist_ok=True)
    paths[0].write_text(MODULE.substitute(name=name, cls=_class_name(name)), encoding="utf-8")
    paths[1].write_text(TEST.substitute(name=name, module=module, imports=""), encoding="utf-8")
    return paths


@dataclass(frozen=True)
class Plugin:
    """What :func:`new_plugin` did: the files it ``written``, the existing ones it ``kept``, and
    the entry point (``name = "module"``) that ``pyproject.toml`` declares or must declare."""

    root: Path
    written: tuple[Path, ...]
    kept: tuple[Path, ...]
    entry_point: str
    module: Path
    test: Path


def new_plugin(name: str, root: str | Path) -> Plugin:
    """Write the plugin package of a new strategy ``name`` into the project folder ``root``
    (created if missing; see the module docstring). Refuses a taken or malformed name and an
    existing module or test; keeps an existing ``pyproject.toml`` or ``__init__.py``."""
    from facebench.registry import GROUP

    module = _check_name(name)
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root} is a file, not a folder")
    package = f"facebench_{module}"
    fields = {"name": name, "module": module, "package": package, "group": GROUP,
              "distribution": f"facebench-{name.replace('_', '-')}"}
    code, test = root / package / f"{module}.py", root / "tests" / f"test_{module}.py"
    _refuse_existing((code, test))
    files = {
        root / "pyproject.toml": PYPROJECT.substitute(fields),
        root / package / "__init__.py": PACKAGE_INIT.substitute(fields),
        code: MODULE.substitute(name=name, cls=_class_name(name)),
        test: TEST.substitute(name=name, module=module, imports=Template(PLUGIN_IMPORT).substitute(fields)),
    }
    written, kept = [], []
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x", encoding="utf-8") as file:  # never overwrites, even a file made meanwhile
                file.write(text)
        except FileExistsError:
            kept.append(path)
            continue
        written.append(path)
    return Plugin(root, tuple(written), tuple(kept), f'{name} = "{package}.{module}"', code, test)


def _check_name(name: str) -> str:
    """The module name of a new strategy ``name``; ``ScaffoldError`` if it is malformed or taken."""
    from facebench.registry import list_strategies

    if not NAME.fullmatch(name):
        raise ScaffoldError(f"invalid strategy name '{name}': lower-case letters and digits, words joined by "
                            "'-' or '_', starting with a letter (e.g. 'farthest-first')")
    taken = {entry.name: entry for entry in list_strategies()}
    if name in taken:
        raise ScaffoldError(f"strategy name '{name}' is already taken ({taken[name].origin})")
    return name.replace("-", "_")


def _refuse_existing(paths) -> None:
    existing = [str(path) for path in paths if path.exists()]
    if existing:
        raise ScaffoldError(f"{' and '.join(existing)} already exist{'s' * (len(existing) == 1)}; "
                            "not overwritten")


def _class_name(name: str) -> str:
    return "".join(word.capitalize() for word in re.split("[-_]", name))


def module_path(path: Path) -> str:
    """The dotted import path of a module file, through the packages (folders with an
    ``__init__.py``) that contain it."""
    path = Path(path).resolve()
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts)
