"""Joint training on the sessions so far: the upper bound scored like every sequential row."""

from __future__ import annotations

from facebench import register_strategy


@register_strategy("joint-so-far", kind="joint-so-far")
def joint_so_far() -> list:
    """Joint training on the sessions so far, one model per session: the upper bound with the
    weights of a sequential row.

    For each session t, the generic generator is fine-tuned afresh on the training anchors of
    sessions 0..t together, for ceil(``joint_steps`` * (t + 1) / T) steps (as many passes over
    its data as ``joint``), mini-batches of ``batch_new + batch_replay`` samples, and scored on
    sessions 0..t: row t of a T x T matrix. Its AIP therefore weights the sessions exactly as a
    sequential run's does (session k by (1/T) * sum over t >= k of 1/(t+1)), and its last row is
    the ``joint`` model's recipe.
    """
    return []
