"""``facebench new-strategy``: a new replay strategy's module and test, from a template that passes the kit.

Strategy ``NAME`` (lower-case letters and digits, words joined by '-' or '_') gets the module
``DIR/<module>.py``, where ``<module>`` is NAME with '-' as '_', holding a ``ReplayBuffer``
subclass (NAME in CamelCase) registered as NAME, whose ``select`` keeps a uniform random sample
until you write yours; and ``TESTS/test_<module>.py``, which runs every check of the conformance
kit on NAME as a test of its own (``facebench.testing.parametrize_with_checks``).
DIR is facebench's ``strategies/`` folder for a built-in, or a folder of your own plugin package.
"""

from __future__ import annotations

import re
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

from facebench.testing import parametrize_with_checks


@parametrize_with_checks(["$name"])
def test_${module}_conforms(strategy, check):
    check(strategy)
''')


class ScaffoldError(FacebenchError):
    """A name that cannot be a new strategy, a missing folder, or a file that already exists."""


def new_strategy(name: str, directory: str | Path = "strategies", tests: str | Path = "tests") -> tuple[Path, Path]:
    """Write the module and the test of a new strategy ``name`` (see the module docstring);
    returns their paths. Refuses a taken or malformed name, a missing ``directory`` and
    existing files; creates ``tests`` if needed."""
    from facebench.registry import list_strategies

    if not NAME.fullmatch(name):
        raise ScaffoldError(f"invalid strategy name '{name}': lower-case letters and digits, words joined by "
                            "'-' or '_', starting with a letter (e.g. 'farthest-first')")
    taken = {entry.name: entry for entry in list_strategies()}
    if name in taken:
        raise ScaffoldError(f"strategy name '{name}' is already taken ({taken[name].origin})")
    directory, tests = Path(directory), Path(tests)
    if not directory.is_dir():
        raise ScaffoldError(f"no folder {directory}: run from the root of a facebench checkout (its strategies/ "
                            "folder), or give --dir, a folder of your plugin package")
    module = name.replace("-", "_")
    paths = directory / f"{module}.py", tests / f"test_{module}.py"
    existing = [str(path) for path in paths if path.exists()]
    if existing:
        raise ScaffoldError(f"{' and '.join(existing)} already exist{'s' * (len(existing) == 1)}; "
                            "not overwritten")
    tests.mkdir(parents=True, exist_ok=True)
    cls = "".join(word.capitalize() for word in re.split("[-_]", name))
    paths[0].write_text(MODULE.substitute(name=name, cls=cls), encoding="utf-8")
    paths[1].write_text(TEST.substitute(name=name, module=module), encoding="utf-8")
    return paths


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
