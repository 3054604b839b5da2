"""latent-replay: storage-free pseudo-rehearsal; the buffer keeps latent codes only, the generator renders their targets."""

from __future__ import annotations

import torch
from avalanche.training.storage_policy import ExemplarsBuffer

from facebench import register_strategy
from facebench.run.memory import buffer_bytes
from facebench.registry import StrategyError, get_strategy
from facebench.replay import BufferReplayPlugin, ReplayBuffer, buffer_content, buffer_dataset


@register_strategy("latent-replay")
def latent_replay(buffer_size: int, policy: str = "er-hull", seed: int = 0, replay_batch_size: int | None = None) -> list:
    """Latent replay: keep K latent codes (chosen by a replay policy, default ER-Hull), replay the generator's own renders of them.

    After session t the replay ``policy`` (any facebench ``ReplayBuffer`` strategy: er-hull,
    er-rand, kmeans, ...) chooses K items from (the kept items) + (session t's items), as it
    would for photo replay. Then only their latents w are kept: each item's target becomes
    G_t(w), the current generator's render (the one that starts session t + 1), and the photo is
    dropped. Session t + 1 mixes ``replay_batch_size`` of these (w, G_t(w)) pairs into each
    mini-batch, as photo replay mixes photos. No image of an earlier session is kept; kept
    items that stay in the buffer are re-rendered by each later generator. Kept memory: the K
    latents (the renders are recomputed from them and the model).
    """
    entry = get_strategy(policy)
    if not (entry.is_replay and issubclass(entry.target, ReplayBuffer)):
        raise StrategyError(f"strategy 'latent-replay': policy must be a facebench ReplayBuffer strategy "
                            f"(e.g. er-hull, er-rand, kmeans), got '{policy}'")
    buffer = LatentBuffer(entry.make_buffer({"buffer_size": buffer_size}, seed))
    return [BufferReplayPlugin(mem_size=buffer.max_size, storage_policy=buffer, batch_size_mem=replay_batch_size,
                               seed=seed)]


class LatentBuffer(ExemplarsBuffer):
    """A storage policy that lets ``policy`` choose, then replaces each kept item's image by the
    current model's render of its latent (see ``latent_replay``)."""

    def __init__(self, policy: ReplayBuffer):
        super().__init__(policy.max_size)
        self.policy = policy

    def post_adapt(self, agent_state, exp):
        self.policy.post_adapt(agent_state, exp)
        self.buffer = self.policy.buffer = rendered(self.policy.buffer, agent_state.model)

    def resize(self, strategy, new_size: int):
        self.policy.resize(strategy, new_size)
        self.max_size = new_size
        self.buffer = self.policy.buffer = rendered(self.policy.buffer, strategy.model)

    @property
    def select_seconds(self) -> float:
        return self.policy.select_seconds

    @property
    def drew_from_seed(self) -> bool:
        return self.policy.drew_from_seed

    def kept_memory(self) -> tuple[int, int]:
        return len(self.buffer), buffer_bytes(self.buffer, images=False)


@torch.no_grad()
def rendered(buffer, model):
    """``buffer`` with every item's image replaced by ``model``'s render of its latent (on CPU)."""
    if len(buffer) == 0:
        return buffer
    content = buffer_content(buffer)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    content["images"] = model(content["latents"].to(device)).cpu()
    model.train(was_training)
    return buffer_dataset(content)
