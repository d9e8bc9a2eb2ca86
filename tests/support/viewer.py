"""Headless Chromium (the Debian package) driving the prebuilt OHIF viewer, with Playwright's
sync API: open a study, dismiss the guided tour, open an SR, and read back what the viewer
drew — console messages, the SVG annotations and their labels, and the viewport's pixels.

Only what a user would see is read, plus the viewport's image-to-canvas mapping (the one
place the test asks cornerstone, to place the SR's coordinates on the screen).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
#: Where a failed step leaves its screenshot (git-ignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "viewer"
#: Console text that means the viewer failed (React error boundary, uncaught exceptions).
FAILURE = re.compile(r"Error Boundary|TypeError|ReferenceError|Something went wrong", re.I)
_SR_THUMBNAIL = '[data-cy="study-browser-thumbnail-no-image"]'
_PANEL_BUTTON = '[data-cy="trackedMeasurements-btn"]'
_PANEL = '[data-cy="trackedMeasurements-panel"]'
_VIEWPORT = '[data-cy="viewport-pane"]'
_TRACK_YES = '[data-cy="yes-hydrate-btn"]'  # the SR viewport's tracking prompt
_SERIES = '[data-cy="study-browser-thumbnail"], [data-cy="study-browser-thumbnail-no-image"]'
_MESSAGES = '[id^="display-set-tooltip"]'  # a display set's messages (e.g. unsupported)


@dataclass(frozen=True)
class Series:
    """One entry of the study browser, as it reads."""

    number: int
    modality: str
    description: str
    instances: int
    thumbnail: bool  # an image thumbnail (else a bar: SR, documents, unsupported classes)
    flagged: bool  # OHIF shows a warning icon with the display set's messages


@dataclass
class Drawn:
    """What the SR viewport shows: label lines, shape vertices (canvas px) and the image."""

    labels: list[str]
    boxes: np.ndarray  # K×4 label boxes (x, y, width, height), canvas px, one per annotation
    vertices: np.ndarray  # N×2 canvas coordinates of every line end, polyline point, circle
    circles: np.ndarray  # M×2 centres of the drawn landmark handles
    image_origin: np.ndarray  # canvas position of the image's top-left corner
    image_scale: np.ndarray  # canvas px per image px, (x, y)
    viewport_png: bytes
    viewport_box: tuple[float, float, float, float]  # x, y, width, height on the page

    def overlaps(self, tolerance: float = 2.0) -> list[tuple[int, int, float]]:
        """Pairs of label boxes that overlap by more than ``tolerance`` px both ways."""
        out = []
        b = self.boxes
        for i in range(len(b)):
            for j in range(i + 1, len(b)):
                dx = min(b[i, 0] + b[i, 2], b[j, 0] + b[j, 2]) - max(b[i, 0], b[j, 0])
                dy = min(b[i, 1] + b[i, 3], b[j, 1] + b[j, 3]) - max(b[i, 1], b[j, 1])
                if dx > tolerance and dy > tolerance:
                    out.append((i, j, float(min(dx, dy))))
        return out

    def to_canvas(self, image_xy: np.ndarray) -> np.ndarray:
        """SCOORD image coordinates (pixel-corner origin) → canvas coordinates."""
        return np.asarray(self.image_origin + np.asarray(image_xy, dtype=float) * self.image_scale)

    def image_pixels(self, size: tuple[int, int]) -> np.ndarray:
        """The viewport's pixels (RGB) over an image of ``size`` (columns, rows) as drawn."""
        rgb = png_rgb(self.viewport_png)
        (x0, y0), (x1, y1) = self.to_canvas(np.zeros(2)), self.to_canvas(np.asarray(size, float))
        x0, y0 = max(int(np.ceil(x0)), 0), max(int(np.ceil(y0)), 0)
        return rgb[y0 : int(np.floor(y1)), x0 : int(np.floor(x1))]


@dataclass
class ViewerPage:
    page: Any
    console: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        return [line for line in self.console if FAILURE.search(line)]

    def open_study(self, base_url: str, study_uid: str) -> None:
        self.page.goto(f"{base_url}/viewer?StudyInstanceUIDs={study_uid}")
        self.page.locator(_SR_THUMBNAIL).first.wait_for(timeout=60_000)
        self.dismiss_tour()

    def dismiss_tour(self, timeout_ms: int = 15_000) -> None:
        """OHIF starts a guided tour on first use, once the viewport has loaded (late on a
        busy machine); its "Skip all" ends it. Its popup blocks clicks on the study browser."""
        skip = self.page.get_by_text("Skip all")
        try:
            skip.first.wait_for(timeout=timeout_ms)
        except Exception:  # noqa: BLE001 - no tour this time
            return
        skip.first.click()

    def open_sr(self, expected_labels: int, timeout_ms: int = 60_000) -> None:
        """Double-click the SR thumbnail and wait until all its labels are drawn.

        The measurement panel is opened too: OHIF 3.12 draws an SR's annotations only on
        the next render, which the viewport's resize triggers.
        """
        # The PDF report (modality DOC) has an image-less thumbnail too: pick the SR's.
        skip = self.page.get_by_text("Skip all")
        if skip.count() and skip.first.is_visible():  # the tour came after dismiss_tour
            skip.first.click()
        try:
            self.page.locator(_SR_THUMBNAIL).filter(has_text="SR").first.dblclick()
            badge = self.page.locator('[data-cy^="ModalityLoadBadge"]').first
            badge.wait_for(timeout=timeout_ms)
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(ARTIFACTS / "open-sr-failure.png"))
            raise
        self.page.locator(_PANEL_BUTTON).first.click()
        # 3.13 may keep the camera of the viewport's width before the panel opened (the
        # picture follows the element, the image-to-canvas mapping not): resize again
        self.page.wait_for_timeout(500)
        self.page.evaluate("window.dispatchEvent(new Event('resize'))")
        self.page.wait_for_function(
            "n => document.querySelectorAll('svg.svg-layer text tspan').length >= n",
            arg=expected_labels,
            timeout=timeout_ms,
        )
        self.page.wait_for_timeout(500)  # the last frame settles

    def open_sr_and_track(self, rows: int, timeout_ms: int = 60_000) -> str:
        """Open the SR and accept OHIF's "continue tracking measurements?" (its hydration
        prompt in the SR viewport); return the measurement panel's text once it lists
        ``rows`` entries. The prompt must be answered first: a click elsewhere (opening
        the panel) dismisses it, and OHIF then does not ask again for that SR.
        """
        skip = self.page.get_by_text("Skip all")
        if skip.count() and skip.first.is_visible():
            skip.first.click()
        self.page.locator(_SR_THUMBNAIL).filter(has_text="SR").first.dblclick()
        self.page.locator(_TRACK_YES).first.click(timeout=timeout_ms)
        self.page.wait_for_timeout(1000)
        if not self.page.locator(_PANEL).count():
            self.page.locator(_PANEL_BUTTON).first.click()
        self.page.wait_for_function(
            """([sel, n]) => { const p = document.querySelector(sel);
                 return p && p.innerText.includes('(' + n + ')'); }""",
            arg=[_PANEL, rows],
            timeout=timeout_ms,
        )
        self.page.wait_for_timeout(500)
        self.page.evaluate("window.dispatchEvent(new Event('resize'))")
        self.page.wait_for_timeout(1000)  # the hydrated tools' first frame
        return self.panel_text()

    def series(self) -> list[Series]:
        """The study browser's entries, in their order."""
        rows: list[dict[str, Any]] = self.page.evaluate(
            """([sel, msg]) => Array.from(document.querySelectorAll(sel)).map(e => ({
                 number: +e.getAttribute('data-series'),
                 modality: e.querySelector('[data-cy="series-modality-label"]').innerText,
                 description: e.querySelector('[data-cy="series-description-label"]').innerText,
                 last: e.innerText.trim().split(/\\s+/).pop(),
                 thumbnail: e.getAttribute('data-cy') === 'study-browser-thumbnail',
                 flagged: !!e.querySelector(msg)}))""",
            [_SERIES, _MESSAGES],
        )
        return [
            Series(
                r["number"],
                r["modality"].strip(),
                r["description"].strip(),
                int(r["last"]),
                r["thumbnail"],
                r["flagged"],
            )
            for r in rows
        ]

    def series_messages(self, number: int) -> str:
        """The text of a display set's warning icon (hovered, as a user reads it)."""
        self.page.locator(f'[data-series="{number}"] {_MESSAGES}').first.hover()
        tip = self.page.locator("[data-radix-popper-content-wrapper]").first
        tip.wait_for(timeout=10_000)
        text = str(tip.inner_text())
        self.page.mouse.move(5, 1000)  # away: the tooltip closes
        return text

    def open_series(self, number: int) -> None:
        """Double-click a series' entry in the study browser."""
        self.page.locator(f'[data-series="{number}"]').first.dblclick()

    def show_series(self, number: int, timeout_ms: int = 60_000) -> None:
        """Open a series of images and wait until the viewport shows its first image."""
        self.open_series(number)
        self.page.wait_for_function(
            """n => { const cs = window.cornerstone;
                 const vp = cs && cs.getEnabledElements()[0]?.viewport;
                 const id = vp && vp.getCurrentImageId();
                 const s = id && cs.metaData.get('generalSeriesModule', id);
                 return s && s.seriesNumber === n; }""",
            arg=number,
            timeout=timeout_ms,
        )
        self.page.wait_for_timeout(1000)  # the first frame

    def show_image(self, index: int) -> None:
        """Scroll the viewport's stack to image ``index`` (as the arrow keys do)."""
        self.page.evaluate(
            """async i => { const vp = window.cornerstone.getEnabledElements()[0].viewport;
                 await vp.setImageIdIndex(i); vp.render(); }""",
            index,
        )
        self.page.wait_for_timeout(1000)

    def current_image(self) -> str:
        """SOP Instance UID of the image the (first) viewport shows."""
        uid: str = self.page.evaluate(
            """() => { const cs = window.cornerstone;
                 const id = cs.getEnabledElements()[0].viewport.getCurrentImageId();
                 return cs.metaData.get('sopCommonModule', id).sopInstanceUID; }"""
        )
        return uid

    def panel_text(self) -> str:
        panel = self.page.locator(_PANEL)
        return str(panel.first.inner_text(timeout=5_000)) if panel.count() else ""

    def drawn(self, settle_ms: int = 400, tries: int = 20) -> Drawn:
        """What is drawn, read once the layout and the drawing have stopped changing
        (opening the side panel resizes the viewport, and the SVG follows a frame later)."""
        last = self._read()
        for _ in range(tries):
            self.page.wait_for_timeout(settle_ms)
            now = self._read()
            if now == last:
                break
            last = now
        else:
            raise TimeoutError("the viewport kept changing")
        return self._drawn(last)

    def _read(self) -> dict[str, Any]:
        data: dict[str, Any] = self.page.evaluate(
            """() => {
              const layer = document.querySelector('svg.svg-layer');
              // one <text> per label box, one <tspan> per line
              const labels = Array.from(layer.querySelectorAll('text tspan'))
                .map(t => t.textContent).filter(Boolean);
              // on screen, relative to the layer (getBBox would ignore the box's translate)
              const l = layer.getBoundingClientRect();
              // (an annotation without label lines leaves an empty <text>: not a box)
              const boxes = Array.from(layer.querySelectorAll('text'))
                .filter(t => t.textContent.trim()).map(t => {
                const b = t.getBoundingClientRect();
                return [b.x - l.x, b.y - l.y, b.width, b.height]; });
              const v = [], c = [];
              for (const n of layer.querySelectorAll('line')) {
                v.push([+n.getAttribute('x1'), +n.getAttribute('y1')]);
                v.push([+n.getAttribute('x2'), +n.getAttribute('y2')]);
              }
              for (const n of layer.querySelectorAll('polyline')) {
                if (n.closest('g[data-annotation-uid]')) continue;  // arrow glyphs
                for (const p of n.points) v.push([p.x, p.y]);
              }
              for (const n of layer.querySelectorAll('circle')) {
                c.push([+n.getAttribute('cx'), +n.getAttribute('cy')]);
              }
              const cs = window.cornerstone;
              const vp = cs.getEnabledElements()[0].viewport;
              const id = vp.getCurrentImageId();
              const px = cs.metaData.get('imagePixelModule', id);
              const a = vp.worldToCanvas(cs.utilities.imageToWorldCoords(id, [0, 0]));
              const b = vp.worldToCanvas(
                cs.utilities.imageToWorldCoords(id, [px.columns, px.rows]));
              const r = vp.element.getBoundingClientRect();
              return {labels, boxes, v, c, a, b, size: [px.columns, px.rows],
                      box: [r.x, r.y, r.width, r.height]};
            }"""
        )
        return data

    def _drawn(self, data: dict[str, Any]) -> Drawn:
        origin = np.asarray(data["a"], dtype=float)
        scale = (np.asarray(data["b"], dtype=float) - origin) / np.asarray(data["size"], float)
        x, y, w, h = data["box"]
        png = self.page.screenshot(clip={"x": x, "y": y, "width": w, "height": h})
        return Drawn(
            labels=list(data["labels"]),
            boxes=np.asarray(data["boxes"], dtype=float).reshape(-1, 4),
            vertices=np.asarray(data["v"], dtype=float).reshape(-1, 2),
            circles=np.asarray(data["c"], dtype=float).reshape(-1, 2),
            image_origin=origin,
            image_scale=scale,
            viewport_png=png,
            viewport_box=(x, y, w, h),
        )

    def zoom_to(self, image_xy: tuple[float, float], zoom: float) -> None:
        """Centre the viewport on an image point and zoom, as a user would (for a close-up)."""
        self.page.evaluate(
            """([x, y, zoom]) => {
              const cs = window.cornerstone;
              const vp = cs.getEnabledElements()[0].viewport;
              const c = cs.utilities.imageToWorldCoords(vp.getCurrentImageId(), [x, y]);
              const cam = vp.getCamera();
              const d = c.map((v, i) => v - cam.focalPoint[i]);
              vp.setCamera({focalPoint: c, position: cam.position.map((v, i) => v + d[i])});
              vp.setZoom(zoom);
              vp.render();
            }""",
            [image_xy[0], image_xy[1], zoom],
        )
        self.page.wait_for_timeout(1000)

    def screenshot(self, path: Path, clip: tuple[float, float, float, float] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if clip is None:
            self.page.screenshot(path=str(path))
        else:
            x, y, w, h = clip
            self.page.screenshot(path=str(path), clip={"x": x, "y": y, "width": w, "height": h})


def png_rgb(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def compact_png(png: bytes, colours: int = 128) -> bytes:
    """A screenshot as a small palette PNG (for the README: text stays sharp)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colours, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (system package, never Playwright's own download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            # root in a container needs --no-sandbox; SwiftShader gives WebGL without a GPU
            args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def viewer_page(browser: Any) -> Iterator[ViewerPage]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    vp = ViewerPage(page)
    page.on("console", lambda m: vp.console.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: vp.console.append(f"[pageerror] {e}"))
    try:
        yield vp
    finally:
        context.close()
