"""Costs that size the zoo's networks (issue 3's budgets): one fine-tuning step and one inversion step.

Run with ``pytest tests/test_benchmark_models.py --benchmark-enable``; torch uses its default threads.
"""

import pytest
import torch

from facebench.models import load, reconstruction_loss


@pytest.fixture(scope="module")
def nets():
    perceptual = load("perceptual")
    for p in perceptual.parameters():
        p.requires_grad_(False)
    return load("generator").train(), load("encoder"), perceptual


def test_finetune_step_of_4_images(benchmark, nets):
    """One MyStyle fine-tuning step: batch of 4 (2 new + 2 replayed), all generator weights, Adam."""
    generator, _, perceptual = nets
    torch.manual_seed(0)
    w, x = torch.randn(4, 128), torch.rand(4, 3, 64, 64)
    opt = torch.optim.Adam(generator.synthesis.parameters(), lr=3e-4)

    def step():
        loss = reconstruction_loss(perceptual, generator.synthesis(w), x).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    benchmark(step)


def test_inversion_step_of_200_images(benchmark, nets):
    """One latent-optimisation step on 200 test images at once (w only; generator frozen)."""
    generator, _, perceptual = nets
    for p in generator.parameters():
        p.requires_grad_(False)
    torch.manual_seed(0)
    x = torch.rand(200, 3, 64, 64)
    w = torch.randn(200, 128, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.05)

    def step():
        opt.zero_grad(set_to_none=True)
        reconstruction_loss(perceptual, generator.synthesis(w), x).sum().backward()
        opt.step()

    benchmark(step)
