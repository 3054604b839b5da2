"""SI: Avalanche's own SynapticIntelligencePlugin on the personalisation template, with one CPU fix."""

from __future__ import annotations

import warnings

from avalanche.training.plugins import SynapticIntelligencePlugin

from facebench import register_strategy


@register_strategy("si")
def si(si_lambda: float = 1e3) -> list:
    """Synaptic Intelligence (Zenke et al. 2017): a quadratic pull weighted by each weight's path integral, no photo kept.

    Avalanche's ``SynapticIntelligencePlugin`` (``CopyingSI``: its snapshots are copies, see
    there). During session t it accumulates, per weight, the path integral of the loss decrease
    (gradient x update); at the end of the session the importance grows by that integral /
    ((total change of the weight)^2 + eps), clipped by Avalanche at 0.001, and later sessions add
    ``si_lambda / 2 * sum_i importance_i (theta_i - theta_t,i)^2`` to the loss. Kept memory: the
    plugin's copies of the weights, gradients, trajectories and importances.
    Default strength: the lowest recon. perceptual AIP + forgetting (x10) on the quick card's
    person 0, a card the board does not use (naive: 1.90): 1e3 (tried 1e0: 1.92, 1e3: 1.89, 1e4: 1.94, 1e5: 2.03).
    """
    return [CopyingSI(si_lambda=si_lambda)]


class CopyingSI(SynapticIntelligencePlugin):
    """Avalanche 0.6's SI with its weight snapshots copied.

    Avalanche snapshots a weight as ``param.detach().cpu().flatten()``: on a GPU that is a copy,
    on a CPU it is a view of the live weight, so the snapshot moves with every optimiser step,
    the path integral (new - old weights) is identically 0 and so is the penalty (shown in
    tests/test_beyond_replay.py). Copying the two snapshots that must outlive an update -- the
    weights before each step and at the start of each session -- makes it the same on every device.
    """

    def before_training_exp(self, strategy, **kwargs):
        super().before_training_exp(strategy, **kwargs)
        _own(self.ewc_data[0])

    def before_training_iteration(self, strategy, **kwargs):
        super().before_training_iteration(strategy, **kwargs)
        _own(self.syn_data["old_theta"])

    def after_training_exp(self, strategy, **kwargs):
        """Avalanche's, without the NumPy 2 DeprecationWarning of its ``np.square`` on a tensor."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="__array_wrap__ must accept context", category=DeprecationWarning)
            super().after_training_exp(strategy, **kwargs)


def _own(snapshots: dict) -> None:
    for value in snapshots.values():
        value.data = value.data.clone()
