"""How the board names its scores and columns in tables and plots."""

from __future__ import annotations

from facebench.board.aggregate import better_is_lower
from facebench.protocol import SCORES

#: A score's short name.
LABELS = {
    "recon_perceptual": "rec. perceptual",
    "recon_identity": "rec. identity",
    "recon_psnr": "rec. PSNR",
    "recon_ssim": "rec. SSIM",
    "synth_frechet": "syn. Fréchet",
    "synth_identity": "syn. identity",
    "synth_kid": "syn. KID",
}
#: A summary's short name.
SUMMARIES = {"aip": "AIP", "forgetting": "forgetting", "final_average": "final avg"}


def header(score: str, summary: str, separator: str = " ") -> str:
    """A column's title: what, which summary, the print scale and which way is better
    (``rec. perceptual AIP ×10 ↓``)."""
    scale = SCORES[score][1]
    arrow = "↓" if better_is_lower(score, summary) else "↑"
    name = SUMMARIES[summary]
    return f"{LABELS[score]}{separator}{name}" + (f" ×{scale}" if scale != 1 else "") + f" {arrow}"
