"""Reproducible pretraining of the zoo on the FaceWorld population (never on benchmark persons).

``pretrain(kind, ...)`` trains one of three jobs and writes its assets and cards into the zoo:

- ``perceptual``: ``PerceptualDistance`` regresses every FaceWorld factor of an image (continuous
  factors: MSE on standardised values; categoricals: cross-entropy).
- ``identity``: ``IdentityNet`` with a batch-level CosFace (additive-margin) loss over pairs of images of
  the same training identity from two sessions, plus an auxiliary identity-factor regression head.
- ``generator``: ``Generator`` + ``Encoder`` as an autoencoder (loss: the fine-tuning loss,
  perceptual + 1.0 * L2), plus a latent-mixing cycle term (E(G(a w1 + (1 - a) w2)) = a w1 + (1 - a) w2)
  that keeps convex combinations in W decodable, a small |w|^2 penalty, and the mapping network
  trained by sliced Wasserstein distance to send z ~ N(0, I) onto the encoder's latents. It needs the
  perceptual asset (and the identity asset for its figures) in the same zoo. No GAN loss (too slow on
  two CPU cores), which the card says.

Data: a fixed pool of population images, identities 0 .. n_identities-1 with ``per_identity`` images
each from random sessions and frames (cached on disk under ``workdir``): 4000 x 6 for the perceptual and
generator jobs, 16000 x 6 for the identity job (``POOL_SIZES``). Held-out figures use
population identities from ``HELD_OUT`` on, never trained on, i.e. persons new to every network.

Reproducible: every random draw of a step comes from one numpy Generator seeded by ``seed`` and the
models are initialised from ``torch.manual_seed(seed)``; a checkpoint (models, optimiser, numpy RNG
state, step, elapsed time) is written every ``steps // 10`` steps, at the end and on Ctrl-C, and
``resume=True`` continues exactly where it stopped (for a finished run: evaluates and writes the assets
again, e.g. after the identity asset it is evaluated with changed). The pool cache, the checkpoints and the
assets are written atomically (``facebench.atomic``).
"""

from __future__ import annotations

import hashlib
import math
import signal
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from facebench.atomic import save_torch
from facebench.data.faceworld import FACTOR_NAMES, IDENTITY_NAMES, Population
from facebench.errors import FacebenchError
from facebench.metrics import psnr
from . import zoo
from .encoder import Encoder
from .generator import Generator
from .identity import IdentityNet, pair_cosface_loss
from .inversion import invert
from .losses import reconstruction_loss
from .perceptual import PerceptualDistance, distortion_curves

KINDS = ("perceptual", "identity", "generator")
DEFAULT_STEPS = {"perceptual": 2500, "identity": 1500, "generator": 4000}
HELD_OUT = 1_000_000  # first held-out population identity
POOL_IDENTITIES, POOL_PER_IDENTITY = 4000, 6
# the identity job learns from many identities (its loss needs no per-identity class centre, so more
# identities cost no more steps); the others from the smaller default pool
POOL_SIZES = {"perceptual": (POOL_IDENTITIES, POOL_PER_IDENTITY), "identity": (16000, 6),
              "generator": (POOL_IDENTITIES, POOL_PER_IDENTITY)}
WORLD_SEED = 0


def population_pool(resolution: int, workdir: Path, n_identities: int = POOL_IDENTITIES,
                    per_identity: int = POOL_PER_IDENTITY, world_seed: int = WORLD_SEED) -> dict[str, torch.Tensor]:
    """The training pool: images (N, 3, R, R) uint8, identity (N,), vector (N, F) float32, categorical (N, C).

    Identity i has ``per_identity`` images, each from its own random session (sessions and frames drawn
    from ``np.random.default_rng([world_seed, n_identities, per_identity])``). Cached in ``workdir``,
    under a name that carries the hash of the first chunk of images: a renderer that draws other
    images (docs/faceworld-changes.md) renders a new pool instead of training on the old one.
    """
    rng = np.random.default_rng([world_seed, n_identities, per_identity])
    ids = np.repeat(np.arange(n_identities), per_identity)
    sessions = rng.integers(0, 2**31, len(ids))
    frames = rng.integers(0, 1000, len(ids))

    def render(i: int):
        return Population(world_seed).render(ids[i:i + 512], sessions[i:i + 512], frames[i:i + 512], resolution)

    first = render(0)
    drawn = hashlib.sha256(first[0].numpy().tobytes()).hexdigest()[:12]
    path = Path(workdir) / f"pool-{resolution}px-{n_identities}x{per_identity}-w{world_seed}-{drawn}.pt"
    if path.exists():
        return torch.load(path)
    chunks, vectors, cats = [], [], []
    for i in range(0, len(ids), 512):
        images, factors = first if i == 0 else render(i)
        chunks.append((images * 255).round().to(torch.uint8))
        vectors.append(torch.from_numpy(factors.vector))
        cats.append(torch.from_numpy(np.stack(list(factors.categorical.values()), 1)))
    pool = {"images": torch.cat(chunks), "identity": torch.from_numpy(ids), "vector": torch.cat(vectors),
            "categorical": torch.cat(cats)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_torch(path, pool)
    return pool


def held_out(n: int, resolution: int, offset: int = 0, session: int = 0, frame: int = 0) -> torch.Tensor:
    """Images of held-out population identities HELD_OUT + offset + (0 .. n-1), one session and frame each."""
    ids = HELD_OUT + offset + np.arange(n)
    return Population(WORLD_SEED).render(ids, np.full(n, session), np.full(n, frame), resolution)[0]


def _cosine_lr(base: float, step: int, steps: int) -> float:
    """Learning rate of ``step``: cosine decay from ``base`` to 0.1 * ``base`` over ``steps``."""
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))


class _Job:
    """One pretraining job: its trainable modules, optimiser, one step, its figures and its assets."""

    lr = 1e-3

    def __init__(self, steps: int, resolution: int, pool: dict, folder):
        self.steps, self.resolution, self.pool, self.folder = steps, resolution, pool, folder

    def modules(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def loss(self, idx: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self) -> dict:
        raise NotImplementedError

    def assets(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def summary(self, figures: dict) -> str:
        raise NotImplementedError

    def build_optimizer(self) -> None:
        params = [p for m in self.modules().values() for p in m.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=self.lr, betas=(0.9, 0.99))

    def indices(self, rng: np.random.Generator) -> np.ndarray:
        """The pool indices of one step's batch: ``batch`` images drawn uniformly."""
        return rng.integers(0, len(self.pool["images"]), self.batch)

    def step(self, step: int, rng: np.random.Generator) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = _cosine_lr(self.lr, step, self.steps)
        idx = self.indices(rng)
        loss = self.loss(idx, rng)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def images(self, idx: np.ndarray) -> torch.Tensor:
        return self.pool["images"][torch.from_numpy(idx)].float() / 255

    def state_dict(self) -> dict:
        return {"modules": {k: m.state_dict() for k, m in self.modules().items()},
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for k, m in self.modules().items():
            m.load_state_dict(state["modules"][k])
        self.optimizer.load_state_dict(state["optimizer"])


class _PerceptualJob(_Job):
    batch, lr, held_out_images = 64, 2e-3, 128

    def __init__(self, *args):
        super().__init__(*args)
        self.continuous = [i for i, n in enumerate(FACTOR_NAMES) if "=" not in n]
        self.classes = [int(c) for c in (self.pool["categorical"].max(0).values + 1)]
        self.net = PerceptualDistance(len(self.continuous) + sum(self.classes))

    def modules(self):
        return {"perceptual": self.net}

    def loss(self, idx, rng):
        out = self.net.predict(self.images(idx))
        i = torch.from_numpy(idx)
        target = (self.pool["vector"][i][:, self.continuous] - 0.5) * math.sqrt(12)  # ~unit variance
        n = len(self.continuous)
        loss = F.mse_loss(out[:, :n], target)
        logits = out[:, n:].split(self.classes, dim=1)
        cats = self.pool["categorical"][i]
        return loss + sum(F.cross_entropy(lg, cats[:, j]) for j, lg in enumerate(logits)) / len(logits)

    def evaluate(self):
        n = self.held_out_images
        images = held_out(n, self.resolution)
        curves = distortion_curves(self.net, images)
        with torch.no_grad():
            identical = float(self.net(images, images).abs().max())
        return {"held_out": f"population identities {HELD_OUT}..{HELD_OUT + n - 1}, session 0, frame 0",
                "identical_images_max_distance": identical,
                "distortion_curves": curves,
                "monotonic": {k: bool(np.all(np.diff(v["distance"]) > 0)) for k, v in curves.items()}}

    def summary(self, f):
        return "monotone in " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in f["monotonic"].items()) + \
            f"; identical images {f['identical_images_max_distance']:.1g}"

    def assets(self):
        return {"perceptual": self.net}


class _IdentityJob(_Job):
    """Batch-level CosFace: each batch holds 2 images (2 random sessions) of each of ``batch // 2`` distinct
    pool identities; every image's embedding must be nearer (cosine, by ``margin``, logits x ``scale``) to
    its partner's than to any other identity's image in the batch (cross-entropy both ways). No class
    centres: with 16000 identities a centre would be seen too seldom to be learned in a few thousand steps
    (a CosFace head over 4000 pool identities reached 86% verification in 3000 steps; this, 97% in 1500).
    Random horizontal flips; plus an auxiliary linear head on the trunk regressing the image's standardised
    identity factors (MSE, weight 4) that speeds up learning; only the ``IdentityNet`` ships."""

    batch, lr, scale, margin, factor_weight = 256, 2e-3, 20.0, 0.2, 4.0

    def __init__(self, *args):
        super().__init__(*args)
        self.net = IdentityNet(self.resolution)
        self.factors = [FACTOR_NAMES.index(n) for n in IDENTITY_NAMES]
        side = self.resolution // 2 ** len(self.net.config["channels"])
        self.head = torch.nn.Module()
        self.head.factors = torch.nn.Linear(self.net.config["channels"][-1] * side * side, len(self.factors))
        identities = self.pool["identity"]
        self.n_identities = int(identities.max()) + 1
        self.per_identity = len(identities) // self.n_identities
        expected = torch.arange(self.n_identities).repeat_interleave(self.per_identity)
        if self.per_identity < 2 or not torch.equal(identities, expected):
            raise FacebenchError("the identity job needs a pool of >= 2 images per identity, stored identity by identity")

    def modules(self):
        return {"identity": self.net, "head": self.head}

    def indices(self, rng):
        """Pairs: ``batch // 2`` distinct identities, two different pool images (sessions) of each, adjacent."""
        pairs = min(self.batch // 2, self.n_identities)
        who = rng.choice(self.n_identities, pairs, replace=False)
        which = np.argsort(rng.random((pairs, self.per_identity)), axis=1)[:, :2]
        return (who[:, None] * self.per_identity + which).reshape(-1)

    def loss(self, idx, rng):
        x = self.images(idx)
        flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        h = self.net.trunk(x)
        e = F.normalize(self.net.embed(h), dim=1)
        target = (self.pool["vector"][torch.from_numpy(idx)][:, self.factors] - 0.5) * math.sqrt(12)
        return pair_cosface_loss(e[0::2], e[1::2], self.scale, self.margin) + \
            self.factor_weight * F.mse_loss(self.head.factors(h.flatten(1)), target)

    def evaluate(self):
        self.net.eval()
        return verification(self.net, self.resolution)

    def summary(self, f):
        return f"verification {100 * f['verification_accuracy']:.1f}% (held-out identities, cross-session pairs)"

    def assets(self):
        return {"identity": self.net}


def verification(net: IdentityNet, resolution: int, n: int = 300) -> dict:
    """Verification accuracy on balanced pairs of held-out identities from different sessions.

    Split A (identities HELD_OUT + 0..n-1) chooses the cosine threshold that maximises its accuracy;
    split B (HELD_OUT + n..2n-1) reports the accuracy at that threshold. Each split: n positive pairs
    (an identity's session 0 vs its session 1, random frames) and n negative pairs (identity i's session 0
    vs identity i+1's session 1).
    """
    def split(offset):
        ids = HELD_OUT + offset + np.arange(n)
        pop = Population(WORLD_SEED)
        a = pop.render(ids, np.zeros(n), ids % 97, resolution)[0]
        b = pop.render(ids, np.ones(n), (ids + 13) % 97, resolution)[0]
        with torch.no_grad():
            ea, eb = net(a), net(b)
        pos = (ea * eb).sum(1)
        neg = (ea * eb.roll(-1, 0)).sum(1)
        return pos.numpy(), neg.numpy()

    pos_a, neg_a = split(0)
    candidates = np.sort(np.concatenate([pos_a, neg_a]))
    accs = [((pos_a >= t).sum() + (neg_a < t).sum()) / (2 * n) for t in candidates]
    threshold = float(candidates[int(np.argmax(accs))])
    pos_b, neg_b = split(n)
    acc = float(((pos_b >= threshold).sum() + (neg_b < threshold).sum()) / (2 * n))
    return {"held_out": f"population identities {HELD_OUT}..{HELD_OUT + 2 * n - 1} (A: first {n}, B: last {n})",
            "verification_accuracy": acc, "threshold": threshold,
            "pairs": f"{n} positive + {n} negative per split, sessions 0 vs 1",
            "mean_cosine_positive": float(pos_b.mean()), "mean_cosine_negative": float(neg_b.mean())}


class _GeneratorJob(_Job):
    batch, lr = 16, 1e-3
    mix, cycle_weight, w_penalty, projections = 4, 0.1, 1e-3, 64

    def __init__(self, *args):
        super().__init__(*args)
        self.perceptual = zoo.load("perceptual", folder=self.folder)
        for p in self.perceptual.parameters():
            p.requires_grad_(False)
        self.generator = Generator(self.resolution)
        self.encoder = Encoder(self.resolution)

    def modules(self):
        return {"generator": self.generator, "encoder": self.encoder}

    def loss(self, idx, rng):
        G, E = self.generator, self.encoder
        x = self.images(idx)
        w = E(x)
        loss = reconstruction_loss(self.perceptual, G.synthesis(w), x).mean() + self.w_penalty * w.square().mean()
        a = torch.from_numpy(rng.random((self.mix, 1), dtype=np.float32))
        pair = torch.from_numpy(rng.permutation(len(idx))[: self.mix])
        wm = a * w[: self.mix] + (1 - a) * w[pair]
        loss = loss + self.cycle_weight * (E(G.synthesis(wm)) - wm.detach()).square().mean()
        z = torch.from_numpy(rng.standard_normal((len(idx), G.z_dim), dtype=np.float32))
        proj = F.normalize(torch.from_numpy(rng.standard_normal((G.w_dim, self.projections), dtype=np.float32)), dim=0)
        sw = (torch.sort(G.mapping(z) @ proj, 0).values - torch.sort(w.detach() @ proj, 0).values).square().mean()
        return loss + sw

    def evaluate(self):
        self.generator.eval(), self.encoder.eval()
        identity = zoo.load("identity", folder=self.folder)
        x = held_out(64, self.resolution, offset=5000)
        with torch.no_grad():
            enc = self.generator.synthesis(self.encoder(x)).clamp(0, 1)
        _, inv = invert(self.generator, self.encoder, x, steps=30, perceptual=self.perceptual)

        def figures(y):
            with torch.no_grad():
                return {"psnr_db": float(psnr(y, x).mean()), "perceptual_distance": float(self.perceptual(y, x).mean()),
                        "identity_similarity": float((identity(y) * identity(x)).sum(1).mean())}

        return {"held_out": f"population identities {HELD_OUT + 5000}..{HELD_OUT + 5063}, session 0, frame 0",
                "encoder_only": figures(enc), "inversion_30_steps_lr_0.05": figures(inv),
                "perceptual_asset_sha256": zoo.card("perceptual", folder=self.folder)["sha256"],
                "identity_asset_sha256": zoo.card("identity", folder=self.folder)["sha256"],
                "gan_loss": "none (autoencoder + mapping by sliced Wasserstein; a GAN is too slow on 2 CPU cores)"}

    def summary(self, f):
        e, i = f["encoder_only"], f["inversion_30_steps_lr_0.05"]
        return (f"held-out reconstructions, encoder / +30 inversion steps: PSNR {e['psnr_db']:.1f} / {i['psnr_db']:.1f} dB, "
                f"perceptual {e['perceptual_distance']:.3f} / {i['perceptual_distance']:.3f}, "
                f"identity {e['identity_similarity']:.3f} / {i['identity_similarity']:.3f}")

    def assets(self):
        return {"generator": self.generator, "encoder": self.encoder}


_JOBS = {"perceptual": _PerceptualJob, "identity": _IdentityJob, "generator": _GeneratorJob}


def command(kind: str, steps: int, seed: int, threads: int, resolution: int) -> str:
    """The exact command line that reproduces a pretraining run."""
    return f"facebench pretrain {kind} --steps {steps} --seed {seed} --threads {threads} --resolution {resolution}"


def pretrain(kind: str, steps: int | None = None, seed: int = 0, threads: int = 1, resolution: int = 64,
             resume: bool = False, folder=None, workdir: str | Path = ".facebench-cache/pretrain", console=None,
             pool_size: tuple[int, int] | None = None) -> list[dict]:
    """Train ``kind`` (perceptual, identity, generator), evaluate it on held-out persons, write its assets.

    Returns the written cards. ``folder`` is the assets' folder (``zoo.zoo_dir(folder)``: default
    $FACEBENCH_ZOO, else the package's zoo), where the assets are written and where the generator job
    reads the perceptual and identity assets; ``workdir`` holds the pool cache and the checkpoints;
    ``pool_size`` = (identities, images per identity) of the pool (default: the job's, ``POOL_SIZES``).
    """
    if kind not in _JOBS:
        raise FacebenchError(f"unknown pretraining job {kind!r}; choose one of {', '.join(KINDS)}")
    steps = steps or DEFAULT_STEPS[kind]
    pool_size = tuple(pool_size or POOL_SIZES[kind])
    workdir = Path(workdir)
    ckpt = workdir / f"{kind}-{resolution}px-seed{seed}-steps{steps}.pt"
    if resume and not ckpt.exists():
        raise FacebenchError(f"--resume: no checkpoint {ckpt}")
    settings = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(kind, steps, seed, threads, resolution, resume, folder, workdir, console, pool_size, ckpt)
    finally:
        torch.set_num_threads(settings[0])
        torch.use_deterministic_algorithms(settings[1])


def _train(kind, steps, seed, threads, resolution, resume, folder, workdir, console, pool_size, ckpt) -> list[dict]:
    torch.manual_seed(seed)
    t_start = time.perf_counter()
    pool = population_pool(resolution, workdir, *pool_size)
    job = _JOBS[kind](steps, resolution, pool, folder)
    job.build_optimizer()
    rng = np.random.default_rng(seed)
    start, elapsed = 0, 0.0
    if resume:
        try:  # tensors and plain data only: a planted file runs nothing
            state = torch.load(ckpt, weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable or foreign file is one error
            raise FacebenchError(f"checkpoint {ckpt} cannot be read as a pretraining checkpoint "
                                 f"({str(error).strip().splitlines()[0][:200]}); delete it to start over") from None
        job.load_state_dict(state["job"])
        rng.bit_generator.state = state["rng"]
        start, elapsed = state["step"], state["elapsed"]
    elapsed += time.perf_counter() - t_start

    def save_checkpoint(done: int, seconds: float) -> None:
        save_torch(ckpt, {"job": job.state_dict(), "rng": rng.bit_generator.state, "step": done, "elapsed": seconds})

    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    every = max(1, steps // 10)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"pretrain {kind}", total=steps, completed=start, loss=float("nan"))
            t0 = time.perf_counter()
            for step in range(start, steps):
                loss = job.step(step, rng)
                if not math.isfinite(loss):
                    raise FacebenchError(f"pretrain {kind}: loss is {loss} at step {step}; last checkpoint {ckpt}")
                progress.update(task, advance=1, loss=loss)
                done = step + 1
                if interrupted or done % every == 0 or done == steps:
                    save_checkpoint(done, elapsed + time.perf_counter() - t0)
                    progress.console.log(f"{kind}: step {done}/{steps}, loss {loss:.4f}, checkpoint {ckpt}")
                if interrupted:
                    raise KeyboardInterrupt(f"pretrain {kind} stopped at step {done}; continue with --resume")
    finally:
        signal.signal(signal.SIGINT, previous)
    elapsed += time.perf_counter() - t0
    t_eval = time.perf_counter()
    figures = job.evaluate()
    fields = {"command": command(kind, steps, seed, threads, resolution),
              "trained_on": f"FaceWorld Population(world_seed={WORLD_SEED}) identities 0..{pool_size[0] - 1}, "
                            f"{pool_size[1]} images each from random sessions",
              "train_seconds": round(elapsed, 1), "eval_seconds": round(time.perf_counter() - t_eval, 1),
              "machine": f"2-core CPU, torch threads {threads}", "steps": steps, "seed": seed, "summary": job.summary(figures), "figures": figures}
    return [zoo.save(name, module.eval(), fields, folder=folder) for name, module in job.assets().items()]
