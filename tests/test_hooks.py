"""facebench.hooks: the members a strategy's plugins may offer the runner.

Each hook is recognised by ``isinstance`` on any object that has its member, whatever its class,
and not on one that lacks it; the built-in strategies' plugins and storage policies offer the
hooks they document; ``storage_policies`` gives the replay plugins' storage policies in order;
and the kept memory a run records goes through these hooks (a storage policy's own
``kept_memory`` first, else its buffer).
"""

from types import SimpleNamespace

import pytest
import torch
from avalanche.core import SupervisedPlugin
from avalanche.training.storage_policy import ReservoirSamplingBuffer

from facebench.data.items import items_dataset
from facebench.hooks import (AdaptsModel, DrawsFromSeed, KeepsMemory, ReplaysFromBuffer, TimesSelection,
                             storage_policies)
from facebench.registry import get_strategy
from facebench.run.memory import kept_memory


class Adapter(SupervisedPlugin):
    def adapt_model(self, synthesis):
        synthesis.adapted = True


class Keeper:
    def kept_memory(self):
        return None, 12


class Replayer:
    def __init__(self, policy):
        self.storage_policy = policy


class Timed:
    select_seconds = 0.5


class Drawing:
    drew_from_seed = False


@pytest.mark.parametrize("hook, has, lacks", [
    (AdaptsModel, Adapter(), SupervisedPlugin()),
    (KeepsMemory, Keeper(), object()),
    (ReplaysFromBuffer, Replayer(None), SimpleNamespace(policy=None)),
    (TimesSelection, Timed(), SimpleNamespace(seconds=1.0)),
    (DrawsFromSeed, Drawing(), SimpleNamespace(drew=True)),
])
def test_a_hook_is_its_member_whatever_the_class(hook, has, lacks):
    assert isinstance(has, hook)
    assert not isinstance(lacks, hook)


def test_the_built_in_plugins_offer_their_hooks():
    [replay] = get_strategy("er-hull").plugins({"buffer_size": 2})
    assert isinstance(replay, ReplaysFromBuffer) and not isinstance(replay, AdaptsModel)
    assert isinstance(replay.storage_policy, TimesSelection)  # a facebench ReplayBuffer times its selection
    assert isinstance(replay.storage_policy, DrawsFromSeed)  # ... and says whether it drew from its seed
    [stock] = get_strategy("reservoir").plugins({"buffer_size": 2})
    assert isinstance(stock, ReplaysFromBuffer) and isinstance(stock.storage_policy, ReservoirSamplingBuffer)
    assert not isinstance(stock.storage_policy, (TimesSelection, DrawsFromSeed))  # Avalanche's own buffer does not
    [latent] = get_strategy("latent-replay").plugins({"buffer_size": 2})
    assert isinstance(latent.storage_policy, KeepsMemory) and isinstance(latent.storage_policy, TimesSelection)
    lora = get_strategy("lora").plugins({})
    assert any(isinstance(p, AdaptsModel) and isinstance(p, KeepsMemory) for p in lora)
    assert not any(isinstance(p, ReplaysFromBuffer) for p in lora)
    for plugin in get_strategy("ewc").plugins({}):
        assert not isinstance(plugin, (AdaptsModel, ReplaysFromBuffer, KeepsMemory))


def test_storage_policies_in_order():
    first, second = object(), object()
    plugins = [Adapter(), Replayer(first), SupervisedPlugin(), Replayer(second)]
    assert storage_policies(plugins) == [first, second]
    assert storage_policies([Adapter()]) == [] and storage_policies([]) == []
    lora_er_hull = get_strategy("lora-er-hull").plugins({"buffer_size": 3})
    assert [type(p).__name__ for p in storage_policies(lora_er_hull)] == ["ERHull"]


def test_kept_memory_asks_the_hooks():
    items = items_dataset(torch.zeros(3, 5), torch.zeros(3, 3, 2, 2), 0)
    plain = SimpleNamespace(buffer=items)  # a storage policy with no kept_memory: its buffer counts
    counted = kept_memory([Replayer(plain)])
    assert counted["items"] == 3 and counted["bytes"] == 3 * (5 + 12) * 4
    assert kept_memory([Replayer(Keeper())]) == {"items": None, "bytes": 12, "bytes_per_item": None}
    assert kept_memory([Keeper()]) == {"items": None, "bytes": 12, "bytes_per_item": None}
