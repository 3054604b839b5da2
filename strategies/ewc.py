"""EWC: Avalanche's own EWCPlugin (online mode) on the personalisation template, unmodified."""

from __future__ import annotations

from facebench import register_strategy


@register_strategy("ewc")
def ewc(ewc_lambda: float = 1e5, decay_factor: float = 1.0) -> list:
    """EWC (Kirkpatrick et al. 2017): a quadratic pull towards the previous sessions' weights, no photo kept.

    Avalanche's ``EWCPlugin`` in online mode, unmodified. After session t it estimates each
    weight's importance F as the mean over session t's training mini-batches of the squared
    gradient of the fine-tuning loss (perceptual + L2 reconstruction of the anchors: the
    generative criterion takes the place of the log-likelihood of the empirical Fisher) and keeps
    the weights theta_t; F accumulates as F <- decay_factor * F + F_t. Later sessions add
    ``ewc_lambda * sum_i F_i (theta_i - theta_t,i)^2`` to the loss. Kept memory: one copy of
    the weights and one of F.
    Default strength: the lowest recon. perceptual AIP + forgetting (x10) on the quick card's
    person 0, a card the board does not use (naive: 1.90): 1e5 (tried 1e3: 1.93, 1e4: 1.71, 1e5: 1.55, 1e6: 1.58, 1e7: 1.78).
    """
    from avalanche.training.plugins import EWCPlugin

    return [EWCPlugin(ewc_lambda=ewc_lambda, mode="online", decay_factor=decay_factor)]
