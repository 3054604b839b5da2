"""The scenario is an ordinary Avalanche benchmark: stock templates and plugins train on it."""

import pytest
import torch
from avalanche.benchmarks.scenarios.dataset_scenario import DatasetExperience
from avalanche.benchmarks.utils import AvalancheDataset
from avalanche.evaluation.metrics import loss_metrics
from avalanche.training.plugins import EvaluationPlugin, ReplayPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import nn

from facebench.data import load_scenario


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("faceworld-quick")


def test_one_experience_per_session_in_order(scenario):
    sessions = scenario.sessions("1")
    benchmark = scenario.benchmark("1")
    for stream, split in ((benchmark.train_stream, "train"), (benchmark.test_stream, "test")):
        assert len(stream) == len(sessions)
        for t, (experience, session) in enumerate(zip(stream, sessions, strict=True)):
            assert isinstance(experience, DatasetExperience)
            assert experience.current_experience == t
            dataset = experience.dataset
            assert isinstance(dataset, AvalancheDataset)
            images = getattr(session, split).images
            assert len(dataset) == len(images)
            image, session_index = dataset[0]
            assert image.dtype == torch.float32 and image.shape == images.shape[1:]
            assert torch.equal(image, images[0]) and session_index == t
            assert set(dataset.session) == {t} and set(dataset.person) == {"1"}
            assert list(dataset.frame) == getattr(session, split).frames


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, 8, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.layers(x)


class Reconstruction(SupervisedTemplate):
    """A SupervisedTemplate whose loss compares the output with the input, like VAETraining."""

    def criterion(self):
        return self._criterion(self.mb_output, self.mb_x)


@pytest.mark.filterwarnings("ignore:No loggers specified")
def test_a_stock_template_trains_on_the_stream_unchanged(scenario):
    torch.manual_seed(0)
    benchmark = scenario.benchmark(0)
    model = AutoEncoder()
    strategy = Reconstruction(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=3e-3),
        criterion=nn.MSELoss(),
        train_mb_size=3,
        train_epochs=15,
        eval_mb_size=6,
        plugins=[ReplayPlugin(mem_size=4)],
        evaluator=EvaluationPlugin(loss_metrics(experience=True, stream=True), loggers=[]),
    )
    key = "Loss_Stream/eval_phase/test_stream"
    before = strategy.eval(benchmark.test_stream)[key]
    for experience in benchmark.train_stream:
        strategy.train(experience)
    after = strategy.eval(benchmark.test_stream)[key]
    print(f"\ntest reconstruction MSE before training {before:.4f}, after {after:.4f}")
    assert after < 0.5 * before
