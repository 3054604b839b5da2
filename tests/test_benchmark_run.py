"""The cost of whole runs (run with --benchmark-enable to time them): a quick-card run, and
the share of it spent selecting buffers. Each result file also records its own seconds."""

import json

import pytest

from facebench.run.runner import RunSpec, run


@pytest.fixture(autouse=True)
def _anchor_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FACEBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_quick_card_run_er_hull(benchmark, tmp_path):
    spec = RunSpec("er-hull", {"buffer_size": 2}, "faceworld-quick", "0", 0)
    path = benchmark(run, spec, tmp_path, force=True)
    timing = json.loads(path.read_text())["timing"]
    benchmark.extra_info.update(timing)
    benchmark.extra_info["select_share"] = timing["select_s"] / timing["total_s"]
    assert timing["select_s"] <= timing["total_s"]
