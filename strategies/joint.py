"""Joint training on all sessions at once: the upper bound."""

from __future__ import annotations

from facebench import register_strategy


@register_strategy("joint", kind="joint")
def joint() -> list:
    """Joint training on all sessions at once: the upper bound.

    One fine-tuning of the generic generator on the training anchors of every session
    together, for ``joint_steps`` steps (trained to convergence by the protocol's steps rule,
    ``docs/protocol-v2.md``), with mini-batches of ``batch_new + batch_replay`` samples (the
    size of a replay run's mini-batches). The one model is scored on every session: its
    matrix is 1 x T, AIP is the mean over sessions, and forgetting is not defined. Compare it
    with a sequential row by the final-model average, or use ``joint-so-far``, whose AIP has a
    sequential row's weights.
    """
    return []
