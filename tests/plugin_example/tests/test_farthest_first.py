"""farthest-first keeps facebench's plugin contract: the conformance kit, one test per check.

Run where the package is installed (``pip install -e .`` in this folder): ``pytest tests``.
"""

import pytest

pytest.importorskip("facebench_farthest", reason="the facebench-farthest package is not installed "
                                                 "(pip install -e tests/plugin_example)")

from facebench.testing import parametrize_with_checks  # noqa: E402  (after the skip)


@parametrize_with_checks(["farthest-first"])
def test_farthest_first_conforms(strategy, check):
    check(strategy)
