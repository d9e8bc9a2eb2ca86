"""The overlay's canvas: the photo under a red "AI result" banner, above a caption band,
and the text drawn on it (sizes that scale with the photo, ASCII for OpenCV's fonts).

No annotation ever covers the face: the banner and the caption lie outside the photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import cv2
import numpy as np

from analysis.types import ImageArray

Color = tuple[int, int, int]  # RGB

BANNER_TEXT: Final[str] = "AI result - not a diagnosis"
BANNER_BG: Final[Color] = (170, 20, 20)
WHITE: Final[Color] = (255, 255, 255)
CAPTION_BG: Final[Color] = (24, 24, 24)
LABEL_BG: Final[Color] = (0, 0, 0)


@dataclass(frozen=True)
class Style:
    """Sizes that scale with the photo so marks stay visible on 512 px and 6000 px alike."""

    radius: int
    thickness: int
    font_scale: float
    font_thickness: int
    line_height: int
    margin: int
    label_scale: float | None = None  # font scale of labels drawn on the face

    def for_face(self, points: dict[str, tuple[float, float]]) -> Style:
        """The same style with labels sized to the face (a small face gets small labels)."""
        if not points:
            return self
        xy = np.asarray(list(points.values()), dtype=np.float64)
        face = float(np.ptp(xy[:, 0]))
        return replace(self, label_scale=float(np.clip(face / 420.0, 0.3, self.font_scale * 0.8)))

    @classmethod
    def for_image(cls, width: int, height: int) -> Style:
        short = min(width, height)
        font_scale = max(0.45, min(width, 2400) / 1100.0)
        font_thickness = max(1, round(font_scale * 1.6))
        (_, text_h), baseline = cv2.getTextSize(
            "Ag", cv2.FONT_HERSHEY_SIMPLEX, font_scale, font_thickness
        )
        return cls(
            radius=max(1, round(short / 300)),
            thickness=max(1, round(short / 500)),
            font_scale=font_scale,
            font_thickness=font_thickness,
            line_height=int((text_h + baseline) * 1.5),
            margin=max(4, round(font_scale * 12)),
        )


def compose(image: ImageArray, caption: Sequence[str], style: Style) -> ImageArray:
    """Photo on a canvas: banner on top, caption band below (wider canvas for tiny photos)."""
    h, w = image.shape[:2]
    width = max(w, _text_width(BANNER_TEXT, style) + 2 * style.margin)
    text_w = width - 2 * style.margin
    lines = [wrapped for line in caption for wrapped in _wrap(to_ascii(line), text_w, style)]
    banner_h = style.line_height + style.margin
    caption_h = style.line_height * len(lines) + style.margin
    canvas = np.zeros((banner_h + h + caption_h, width, 3), dtype=np.uint8)
    canvas[:banner_h] = BANNER_BG
    canvas[banner_h : banner_h + h, :w] = image
    canvas[banner_h + h :] = CAPTION_BG
    bx = max(style.margin, (width - _text_width(BANNER_TEXT, style)) // 2)
    _put(canvas, BANNER_TEXT, bx, banner_h - style.margin, style, WHITE)
    y = banner_h + h
    for line in lines:
        y += style.line_height
        _put(canvas, line, style.margin, y - style.margin // 2, style, WHITE)
    return canvas


def label(
    img: ImageArray,
    text: str,
    pos: np.ndarray,
    style: Style,
    color: Color,
    *,
    centred: bool = False,
) -> None:
    """ASCII text on a dark box at ``pos`` (its left end, or its centre), kept inside."""
    text = to_ascii(text)
    scale = style.font_scale * 0.8 if style.label_scale is None else style.label_scale
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, style.font_thickness)
    x = int(round(pos[0] - (tw / 2 if centred else 0)))
    y = int(round(pos[1] + th / 2))
    h, w = img.shape[:2]
    x = min(max(x, 1), max(w - tw - 2, 1))
    y = min(max(y, th + 2), max(h - base - 2, th + 2))
    cv2.rectangle(img, (x - 2, y - th - 2), (x + tw + 2, y + base), LABEL_BG, -1)
    cv2.putText(
        img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, style.font_thickness,
        cv2.LINE_AA,
    )  # fmt: skip


def to_ascii(text: str) -> str:
    """The text in the ASCII OpenCV's Hershey fonts can draw (±, °, dashes spelled out)."""
    table = {
        "\u00b1": "+/-",
        "\u00b0": " deg",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00d7": "x",
        "\u2192": "->",
    }
    for k, v in table.items():
        text = text.replace(k, v)
    return text.encode("ascii", "replace").decode("ascii")


def _wrap(text: str, max_width: int, style: Style) -> list[str]:
    words, lines, current = text.split(), [], ""
    for word in words:
        trial = f"{current} {word}".strip()
        if current and _text_width(trial, style) > max_width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines or [""]


def _text_width(text: str, style: Style) -> int:
    (w, _), _ = cv2.getTextSize(
        text, cv2.FONT_HERSHEY_SIMPLEX, style.font_scale, style.font_thickness
    )
    return int(w)


def _put(img: ImageArray, text: str, x: int, y: int, style: Style, color: Color) -> None:
    cv2.putText(
        img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, style.font_scale, color,
        style.font_thickness, cv2.LINE_AA,
    )  # fmt: skip
