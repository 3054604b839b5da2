"""The cost of a whole run: a quick-card ER-Hull run (K = 2), and the share of it spent
selecting buffers. Each result file records its own seconds (``facebench.run.runner``); this
test checks that they are a real account of the run: every part that must take time did, and
the parts (anchors, fine-tuning, selection, evaluation) add up to at most the total.

No time budget is asserted: the machine is shared, and a run's wall time counts the other jobs
too. ``pytest --benchmark-enable tests/test_benchmark_run.py`` times one run (one round, with
pytest-benchmark's statistics and the recorded seconds in ``extra_info``); by default
(``--benchmark-disable`` in pyproject's addopts) the fixture calls the run once and keeps no
statistics. Slow: it fine-tunes a generator.
"""

import json

import pytest

from facebench.run.runner import RunSpec, run

PARTS = ("anchors_s", "train_s", "select_s", "eval_s")
ROUNDING = 0.0005  # the result file rounds every timing to the millisecond


pytestmark = pytest.mark.usefixtures("anchor_cache")


@pytest.mark.slow
def test_quick_card_run_er_hull(benchmark, tmp_path):
    spec = RunSpec("er-hull", {"buffer_size": 2}, "faceworld-quick", "0", 0)
    path = benchmark.pedantic(run, args=(spec, tmp_path), kwargs={"force": True}, rounds=1, iterations=1)
    timing = json.loads(path.read_text())["timing"]
    assert set(timing) == {*PARTS, "total_s"}
    assert all(timing[part] >= 0 for part in PARTS)
    # fine-tuning (3 sessions x 30 steps), evaluation (6 scorings) and ER-Hull's 3 selections all take time
    assert timing["train_s"] > 0 and timing["eval_s"] > 0 and timing["select_s"] > 0
    assert sum(timing[part] for part in PARTS) <= timing["total_s"] + (len(PARTS) + 1) * ROUNDING
    benchmark.extra_info.update(timing)
    benchmark.extra_info["select_share"] = timing["select_s"] / timing["total_s"]
    if benchmark.enabled:  # the statistics exist only when timing is on
        assert benchmark.stats.stats.rounds == 1
        assert benchmark.stats.stats.max >= timing["total_s"] - ROUNDING  # the run timed is the run recorded
