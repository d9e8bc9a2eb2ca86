"""A small z-score plot per measurement group (reportlab graphics, vector in the PDF).

One row per measurement that has a norm: its name, then a dot at its z-score on a
−4…+4 SD axis over bands for |z| ≤ 1, ≤ 2 and beyond. A value past the axis ends is an
arrowhead at the edge; a flagged (out-of-norm) value is red; a value the analysis marked
unreliable is drawn hollow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from reportlab.graphics.shapes import Circle, Drawing, Line, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

from analysis.report.fonts import ReportFonts
from analysis.report.rows import Row

AXIS: Final = 4.0
ROW_H: Final = 9.0
LABEL_SIZE: Final = 6.5
BAND_1: Final = colors.HexColor("#e4f0e4")
BAND_2: Final = colors.HexColor("#f5f1dc")
BAND_OUT: Final = colors.HexColor("#f7e3e1")
DOT: Final = colors.HexColor("#1f3a5f")
FLAGGED: Final = colors.HexColor("#b3261e")
GRID: Final = colors.HexColor("#9aa5b1")


def z_plot(
    rows: Sequence[Row], width: float, label_width: float, fonts: ReportFonts
) -> Drawing | None:
    """The plot for ``rows`` (None when none of them has a z-score)."""
    rows = [r for r in rows if r.z is not None]
    if not rows:
        return None
    axis_h = 12.0
    height = len(rows) * ROW_H + axis_h + 2
    d = Drawing(width, height)
    d.initialFontName = fonts.regular  # not the Helvetica default
    x0, x1 = label_width, width - 6
    top = height - 1

    def xz(z: float) -> float:
        return x0 + (max(-AXIS, min(AXIS, z)) + AXIS) / (2 * AXIS) * (x1 - x0)

    plot_h = len(rows) * ROW_H
    y_base = top - plot_h
    for lo, hi, fill in ((-AXIS, AXIS, BAND_OUT), (-2.0, 2.0, BAND_2), (-1.0, 1.0, BAND_1)):
        d.add(Rect(xz(lo), y_base, xz(hi) - xz(lo), plot_h, fillColor=fill, strokeColor=None))
    for z in range(-int(AXIS), int(AXIS) + 1):
        x = xz(z)
        d.add(Line(x, y_base, x, top, strokeColor=GRID, strokeWidth=0.8 if z == 0 else 0.25))
        label = f"{z:+d}".replace("-", "\u2212") if z else "0"
        d.add(String(x, y_base - 8, fonts.safe(label), fontName=fonts.regular,
                     fontSize=6, textAnchor="middle", fillColor=GRID))  # fmt: skip
    d.add(String(x0 - 10, y_base - 8, fonts.safe("z (SD)"), fontName=fonts.regular,
                 fontSize=6, textAnchor="end", fillColor=GRID))  # fmt: skip
    for i, row in enumerate(rows):
        y = top - (i + 0.5) * ROW_H
        d.add(String(x0 - 4, y - 2.2, _fit(row.measurement.name, label_width - 8, fonts),
                     fontName=fonts.regular, fontSize=LABEL_SIZE, textAnchor="end"))  # fmt: skip
        assert row.z is not None
        colour = FLAGGED if row.out_of_norm else DOT
        hollow = not row.measurement.reliable
        if abs(row.z) > AXIS:
            s = 1 if row.z > 0 else -1
            xe = xz(row.z)
            d.add(Polygon([xe, y, xe - s * 5, y + 3, xe - s * 5, y - 3],
                          fillColor=None if hollow else colour, strokeColor=colour))  # fmt: skip
        else:
            d.add(Circle(xz(row.z), y, 2.4, fillColor=colors.white if hollow else colour,
                         strokeColor=colour, strokeWidth=0.8))  # fmt: skip
    return d


def _fit(text: str, width: float, fonts: ReportFonts) -> str:
    text = fonts.safe(text)
    if stringWidth(text, fonts.regular, LABEL_SIZE) <= width:
        return text
    while text and stringWidth(text + "…", fonts.regular, LABEL_SIZE) > width:
        text = text[:-1]
    return fonts.safe(text.rstrip() + "…")
