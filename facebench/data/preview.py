"""Contact sheets: a picture of a person's stream, one row of train frames per session."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from facebench.data import Scenario

PAD = 6
LABEL_WIDTH = 110
TITLE_HEIGHT = 34


def contact_sheet(rows: Sequence[torch.Tensor], labels: Sequence[str], title: str, cell: int = 128):
    """A PIL image: row r shows the images ``rows[r]`` (N x 3 x H x W in [0, 1]) side by side,
    labelled ``labels[r]``, under ``title``. Images are enlarged by the whole factor that brings
    them nearest to ``cell`` pixels, without smoothing, so every pixel stays visible."""
    scale = max(1, round(cell / rows[0].shape[-1]))
    side = rows[0].shape[-1] * scale
    columns = max(len(images) for images in rows)
    sheet = Image.new(
        "RGB",
        (LABEL_WIDTH + columns * (side + PAD) + PAD, TITLE_HEIGHT + len(rows) * (side + PAD) + PAD),
        "white",
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=16)
    draw.text((PAD, PAD), title, fill="black", font=font)
    for r, (images, label) in enumerate(zip(rows, labels)):
        top = TITLE_HEIGHT + r * (side + PAD)
        draw.multiline_text((PAD, top + side // 2 - 10), label, fill="black", font=font)
        for c, image in enumerate(images):
            tile = _to_pil(image).resize((side, side), Image.Resampling.NEAREST)
            sheet.paste(tile, (LABEL_WIDTH + c * (side + PAD), top))
    return sheet


def person_sheet(scenario: Scenario, person: str | int, frames: int = 6):
    """The contact sheet of a person: the first ``frames`` train images of every session."""
    sessions = scenario.sessions(person)
    rows = [session.train.images[:frames] for session in sessions]
    labels = [
        f"session {t}" if session.name == str(t) else f"session {t}\n{session.name}"
        for t, session in enumerate(sessions)
    ]
    return contact_sheet(rows, labels, f"{scenario.name}: person {person}")


def _to_pil(image: torch.Tensor) -> Image.Image:
    pixels = image.clamp(0, 1).permute(1, 2, 0).numpy() * 255
    return Image.fromarray(np.round(pixels).astype(np.uint8))
