"""Fonts for the PDF report: a Unicode TrueType family, found on the system, never fetched.

Patient names and the report's own text need more than ASCII ("Müller^Zoë", "±", "–",
"°"), which reportlab's built-in PDF fonts cover only as far as Latin-1 / WinAnsi. The
first family found in :data:`CANDIDATES` is registered with reportlab once per process:

1. DejaVu Sans from the Debian package ``fonts-dejavu-core`` (Makefile ``DEB_PACKAGES``),
2. the same DejaVu Sans files matplotlib ships (when matplotlib is installed),
3. Bitstream Vera, which reportlab itself ships (Latin-1 and common punctuation),
4. Helvetica, always present: text is then reduced to what WinAnsi encodes.

Whatever a font cannot draw is replaced by "?" (:meth:`ReportFonts.safe`), so an unusual
name costs a character, never the report.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from reportlab.pdfbase.ttfonts import TTFont

log = logging.getLogger(__name__)

#: Where distributions install DejaVu Sans.
_SYSTEM_DIRS: Final = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/local/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/TTF"),  # Arch, Fedora
)
_DEJAVU: Final = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf")
_VERA: Final = ("Vera.ttf", "VeraBd.ttf", "VeraIt.ttf")


@dataclass(frozen=True)
class ReportFonts:
    """Registered font names and the characters they can draw (None: any TTF glyph)."""

    regular: str
    bold: str
    italic: str
    source: str
    _cmap: frozenset[int] | None = None

    @property
    def unicode(self) -> bool:
        """True for a TrueType family (embedded subset, real glyphs beyond WinAnsi)."""
        return self._cmap is not None

    def safe(self, text: str) -> str:
        """``text`` with every character the font cannot draw replaced by "?"."""
        if self._cmap is None:
            return _winansi(text)
        cmap = self._cmap
        return "".join(c if ord(c) in cmap or c in "\n\t" else "?" for c in text)


#: Most widths a font remembers (words and phrases of the reports; ~100 bytes each).
WIDTH_CACHE_SIZE: Final = 50_000


class MeasuredTTFont(TTFont):  # type: ignore[misc]  # reportlab is untyped
    """A TrueType font that remembers the widths it measured: reportlab measures every word
    of a table cell three times or more (row heights, the page-fit check, drawing), in pure
    Python without its optional C accelerator: a sixth of a report's build time."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(name, path)
        self._widths: dict[tuple[str, float, str], float] = {}

    def stringWidth(self, text: str, size: float, encoding: str = "utf8") -> float:  # noqa: N802
        key = (text, size, encoding)
        width = self._widths.get(key)
        if width is None:
            if len(self._widths) >= WIDTH_CACHE_SIZE:
                self._widths.clear()
            width = self._widths[key] = super().stringWidth(text, size, encoding)
        return width


def candidates() -> list[tuple[str, Path, tuple[str, str, str]]]:
    """Font families to try, best first: (name, folder, (regular, bold, oblique) files)."""
    out = [("DejaVuSans", d, _DEJAVU) for d in _SYSTEM_DIRS]
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin is not None:  # found without importing it
        out.append(("DejaVuSans", Path(spec.origin).parent / "mpl-data/fonts/ttf", _DEJAVU))
    spec = importlib.util.find_spec("reportlab")
    if spec is not None and spec.origin is not None:
        out.append(("Vera", Path(spec.origin).parent / "fonts", _VERA))
    return out


@cache
def report_fonts() -> ReportFonts:
    """Register and return the best available family (cached for the process)."""
    return load_fonts(candidates())


def load_fonts(options: list[tuple[str, Path, tuple[str, str, str]]]) -> ReportFonts:
    """The first family of ``options`` whose three files exist and load; else Helvetica."""
    from reportlab.pdfbase import pdfmetrics

    for family, folder, files in options:
        paths = [folder / f for f in files]
        if not all(p.is_file() for p in paths):
            continue
        names = (f"fn-{family}", f"fn-{family}-Bold", f"fn-{family}-Oblique")
        try:
            fonts = [
                MeasuredTTFont(name, str(path)) for name, path in zip(names, paths, strict=True)
            ]
        except Exception as exc:  # a damaged font file must not cost the report
            log.warning("font %s in %s unusable: %s", family, folder, exc)
            continue
        for font in fonts:
            pdfmetrics.registerFont(font)
        pdfmetrics.registerFontFamily(
            names[0], normal=names[0], bold=names[1], italic=names[2], boldItalic=names[1]
        )
        cmap = frozenset(fonts[0].face.charToGlyph) & frozenset(fonts[1].face.charToGlyph)
        return ReportFonts(*names, source=str(folder / files[0]), _cmap=cmap)
    log.warning("no Unicode TrueType font found (install fonts-dejavu-core); using Helvetica")
    return ReportFonts("Helvetica", "Helvetica-Bold", "Helvetica-Oblique", source="built-in")


def _winansi(text: str) -> str:
    return "".join(c if c in "\n\t" or _in_cp1252(c) else "?" for c in text)


def _in_cp1252(c: str) -> bool:
    try:
        c.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True
