"""Image sources: where a card's photo sessions come from (FaceWorld renders, folders of photos).

Definitions:

- An *image* is a float32 tensor 3xHxW with values in [0, 1]; H = W = the card's resolution.
- A *session* is one capture of a person: its train images and its test images, different
  frames of the same capture. A person's sessions are in stream order.
- A *frame* number names an image within its session: train images first, then test images.
  FaceWorld renders train frames 0..n_train-1 and test frames n_train..n_train+n_test-1; a
  folder session numbers its files in name order, train files first.

A photo is read at 8 bits per channel, whatever its mode, before it is cropped and resized:
16-bit grey (modes ``I;16``, ``I;16B``, ``I;16L``, ``I;16N``, and ``I`` with values in
0..65535) is scaled to 8 bits (``round(v / 257)``), so 65535 is white, not every value above
255; a palette (``P``), grey (``L``, ``1``), CMYK or YCbCr image becomes RGB. Transparency (an
alpha channel, ``RGBA``/``LA``/``PA``, or a transparent colour, PNG's ``tRNS``) is composited on
mid-grey, :data:`BACKGROUND` (the middle of [0, 1]: no hidden colour is further from it than
half the range), with a warning naming the file where any pixel has alpha < 255: the training
images hold the grey where the photo is see-through. An ``I`` image with values outside
0..65535 and a floating-point (``F``) image are unreadable images: their scale is unknown.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps

from facebench.data.cards import Card, LifeSection
from facebench.errors import FacebenchError

if TYPE_CHECKING:  # torch is imported where images are read: listing cards needs none of it
    import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
BACKGROUND = (128, 128, 128)
"""The colour transparent pixels are composited on (module doc)."""
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
"""PIL's modes of 16-bit grey (``I``: 32-bit integers, read as 16-bit where they fit)."""


class DataError(FacebenchError):
    """An image that cannot be read, a folder without the expected layout, an unknown person."""


@dataclass(frozen=True)
class Images:
    """The images of one split of one session, their frame numbers and, for FaceWorld, factors."""

    images: torch.Tensor  # (N, 3, H, W), float32 in [0, 1]
    frames: list[int]
    factors: Any = None  # facebench.data.faceworld.Factors, or None for real photos


@dataclass(frozen=True)
class Session:
    """One capture session of a person."""

    name: str
    train: Images
    test: Images


@dataclass(frozen=True)
class FaceWorldSource:
    """Persons '0'..'persons-1' of ``FaceWorld(world_seed)``, rendered at ``resolution``; their
    sessions drawn by the life process where ``life`` is given (``faceworld.life``)."""

    world_seed: int
    persons: int
    sessions: int
    train_per_session: int
    test_per_session: int
    resolution: int
    life: LifeSection | None = None

    def person_ids(self) -> list[str]:
        return [str(person) for person in range(self.persons)]

    def counts(self, person: str) -> list[tuple[int, int]]:
        return [(self.train_per_session, self.test_per_session)] * self.sessions

    def read(self, person: str) -> list[Session]:
        from facebench.data.faceworld import INDEPENDENT, FaceWorld, Life

        process = Life.from_card(self.life.model_dump(), self.sessions) if self.life else INDEPENDENT
        world = FaceWorld(world_seed=self.world_seed, process=process)

        def render(session: int, frames: range) -> Images:
            images, factors = world.render(
                person=int(person), session=session, frames=frames, size=self.resolution
            )
            return Images(images, list(frames), factors)

        n_train, n_test = self.train_per_session, self.test_per_session
        return [
            Session(str(t), render(t, range(n_train)), render(t, range(n_train, n_train + n_test)))
            for t in range(self.sessions)
        ]


@dataclass(frozen=True)
class FolderSource:
    """Real photos in ``root/<person>/<session>/{train,test}/*.{png,jpg,jpeg,webp}``.

    Persons and sessions are the sub-folders, in name order. Each image is turned upright by its
    EXIF orientation, converted to 8-bit RGB (module doc: 16-bit scaled, transparency on
    mid-grey), centre-cropped to a square and resized to ``resolution``. An unreadable file is
    an error, or with ``on_bad_image="skip"`` a warning and the file left out. A session
    without train or without test images is an error.
    """

    root: Path
    resolution: int
    on_bad_image: str

    def person_ids(self) -> list[str]:
        persons = _subfolders(self.root)
        if not persons:
            raise DataError(f"{self.root}: no person folders (expected root/<person>/<session>/)")
        return [person.name for person in persons]

    def counts(self, person: str) -> list[tuple[int, int]]:
        return [
            (len(_image_files(folder / "train")), len(_image_files(folder / "test")))
            for folder in self._sessions(person)
        ]

    def read(self, person: str) -> list[Session]:
        return [self._read_session(folder) for folder in self._sessions(person)]

    def _sessions(self, person: str) -> list[Path]:
        sessions = _subfolders(self.root / person)
        if not sessions:
            raise DataError(f"{self.root / person}: no session folders")
        return sessions

    def _read_session(self, folder: Path) -> Session:
        train, test = _image_files(folder / "train"), _image_files(folder / "test")
        return Session(
            folder.name,
            self._read_split(folder, "train", train, first_frame=0),
            self._read_split(folder, "test", test, first_frame=len(train)),
        )

    def _read_split(self, folder: Path, split: str, files: list[Path], first_frame: int) -> Images:
        images, frames = [], []
        for frame, path in enumerate(files, first_frame):
            image = self._read_image(path)
            if image is not None:
                images.append(image)
                frames.append(frame)
        if not images:
            readable = "readable " if files else ""
            raise DataError(f"session {folder}: no {readable}{split} images in {folder / split}")
        import torch

        return Images(torch.stack(images), frames)

    def _read_image(self, path: Path) -> torch.Tensor | None:
        """The image in ``path``, or None where it cannot be read and bad images are skipped."""
        try:
            with Image.open(path) as image:
                square = ImageOps.fit(
                    _rgb(ImageOps.exif_transpose(image), path),
                    (self.resolution, self.resolution),
                    method=Image.Resampling.LANCZOS,
                )
        except Exception as error:  # a broken file can fail in any decoder, in any way
            if self.on_bad_image == "skip":
                warnings.warn(f"left out unreadable image {path}: {error}")
                return None
            raise DataError(
                f"cannot read image {path}: {error} (on_bad_image: skip in the card's source "
                "leaves such files out)"
            ) from None
        pixels = np.asarray(square, dtype=np.float32) / 255.0
        import torch

        return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


Source = FaceWorldSource | FolderSource


def source_of(card: Card) -> Source:
    """The image source a validated card describes."""
    params, resolution = dict(card.data["source"]), card.data["resolution"]
    kind = params.pop("kind")
    if kind == "faceworld":
        life = params.pop("life", None)
        return FaceWorldSource(resolution=resolution, life=life and LifeSection.model_validate(life), **params)
    root = card.path.parent / Path(params["root"]).expanduser()
    return FolderSource(root.resolve(), resolution, params["on_bad_image"])


def _rgb(image: Image.Image, path: Path) -> Image.Image:
    """``image`` (read from ``path``) as 8-bit RGB, 16-bit grey scaled and transparency
    composited on :data:`BACKGROUND` with a warning (module doc); ValueError for a mode whose
    scale is unknown."""
    if image.mode == "F":
        raise ValueError(
            "a floating-point (mode F) image has no known scale: save it as 8- or 16-bit"
        )
    if image.mode in SIXTEEN_BIT_MODES:
        image = _grey8(image)
    if not image.has_transparency_data:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"))
    if alpha.min() < 255:
        warnings.warn(
            f"{path}: {np.mean(alpha < 255):.1%} of the pixels are transparent (alpha < 255); "
            f"composited on mid-grey {BACKGROUND}"
        )
    background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _grey8(image: Image.Image) -> Image.Image:
    """A 16-bit grey image as 8-bit grey (``L``; ``LA`` where a grey value is transparent, PNG's
    tRNS): v -> round(v / 257); ValueError where values are outside 0..65535."""
    values = np.asarray(image).astype(np.int64)
    if values.min() < 0 or values.max() > 65535:
        raise ValueError(
            f"a mode {image.mode} image with values from {values.min()} to {values.max()}: only "
            "16-bit values (0..65535) are read"
        )
    grey = Image.fromarray(np.rint(values / 257).astype(np.uint8))
    if "transparency" not in image.info:
        return grey
    alpha = np.where(values == image.info["transparency"], 0, 255).astype(np.uint8)
    return Image.merge("LA", (grey, Image.fromarray(alpha)))


def _subfolders(folder: Path) -> list[Path]:
    """The visible sub-folders of ``folder`` in name order; an error if it is not a folder."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    """The visible image files in ``folder`` in name order (none if there is no such folder)."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )
