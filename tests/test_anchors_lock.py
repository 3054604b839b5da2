"""Anchors are computed once per person per cache, even when several processes ask at once.

Two spawned processes share one cache folder and ask for person 0's anchors of the tiny
``faceworld-quick`` card at the same moment (a barrier). In each, ``invert`` is wrapped to note
its process id in a marker file and then to linger a second before inverting, so that without
the lock both would find the cache empty and both would compute. The marker then names one
process, and both got the same anchors.
"""

import multiprocessing
import os
import time

import numpy as np

QUICK = "faceworld-quick"


def ask_for_anchors(cache: str, marker: str, barrier, results) -> None:
    """In a fresh process: person 0's anchors from ``cache``, each inversion noted in ``marker``."""
    os.environ["FACEBENCH_CACHE"] = cache
    from facebench.data import load_scenario
    from facebench.models.generic import GenericModels
    from facebench.protocol import Protocol
    from facebench.run import anchors as module

    scenario = load_scenario(QUICK)
    models = GenericModels.for_card(scenario.card, "cpu")
    protocol = Protocol.from_card(scenario.card)
    scenario.images_sha256("0")  # the person's images read before the barrier: both start level
    real = module.invert

    def noted(*args, **kwargs):
        with open(marker, "a") as file:
            file.write(f"{os.getpid()}\n")
        time.sleep(1)  # the window in which an unlocked second process would start computing too
        return real(*args, **kwargs)

    module.invert = noted
    barrier.wait()
    anchors = module.person_anchors(models, scenario, "0", protocol)
    results.put([a.numpy() for a in anchors])  # as numpy: a tensor would go through shared memory


def test_two_processes_asking_at_once_compute_the_anchors_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    marker = tmp_path / "inversions"
    workers = [context.Process(target=ask_for_anchors, args=(str(tmp_path / "cache"), str(marker), barrier, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    got = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert len(marker.read_text().split()) == 1  # one process inverted, the other waited and loaded
    assert len(got[0]) == 3 and all(np.array_equal(a, b) for a, b in zip(*got))
    [entry] = (tmp_path / "cache" / "anchors").glob("*.pt")
    assert entry.with_suffix(".lock").exists()
