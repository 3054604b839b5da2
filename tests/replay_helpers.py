"""Small personalisation streams for the replay tests: synthetic (w, x, 0) sessions driven
through a real Avalanche template with a ReplayPlugin."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
from avalanche.benchmarks.utils import AvalancheDataset
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.templates import SupervisedTemplate

from facebench.data.items import items_dataset
from facebench.replay import BufferReplayPlugin

DIM, SIZE = 8, 4


def session_dataset(latents: torch.Tensor, session: int) -> AvalancheDataset:
    """Items (w, x, 0) of one session, built as the runner builds them (``items_dataset``)."""
    n = len(latents)
    images = torch.sigmoid(latents[:, :1, None, None].expand(n, 3, SIZE, SIZE)).contiguous()
    return items_dataset(latents, images, session)


def clustered_sessions(sessions: int = 4, per_session: int = 6, seed: int = 0) -> list[AvalancheDataset]:
    """Sessions whose latents cluster around a per-session centre."""
    g = torch.Generator().manual_seed(seed)
    centres = 3.0 * torch.randn(sessions, DIM, generator=g)
    return [session_dataset(c + 0.5 * torch.randn(per_session, DIM, generator=g), s) for s, c in enumerate(centres)]


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(DIM, 3 * SIZE * SIZE)

    def forward(self, w):
        return self.linear(w).view(-1, 3, SIZE, SIZE)


def run_stream(buffer, datasets, plugin=None) -> list[AvalancheDataset]:
    """Train a tiny generator through ``datasets`` with ``plugin`` (default:
    ``BufferReplayPlugin(storage_policy=buffer)``); returns the buffer's dataset after each experience."""
    torch.manual_seed(0)
    model = _Tiny()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No loggers specified")
        template = SupervisedTemplate(
            model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.01), criterion=torch.nn.MSELoss(),
            train_mb_size=2, train_epochs=1, device="cpu",
            plugins=[plugin or BufferReplayPlugin(mem_size=buffer.max_size, storage_policy=buffer)],
            evaluator=EvaluationPlugin(loggers=[]),
        )
    snapshots = []
    for experience in benchmark_from_datasets(train=datasets, test=datasets).train_stream:
        template.train(experience, eval_streams=[])
        snapshots.append(buffer.buffer)
    return snapshots


def buffer_sessions(data: AvalancheDataset) -> list[int]:
    return [int(s) for s in data.session]


def buffer_latents(data: AvalancheDataset) -> np.ndarray:
    return np.stack([data[i][0].numpy() for i in range(len(data))]) if len(data) else np.zeros((0, DIM))
