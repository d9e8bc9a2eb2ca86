"""The drawn Measurement Groups the node's reports share: one labelled region per family of
measurements (:mod:`dicom.sr_families`), its label box placed on a ladder beside the face
(:mod:`dicom.sr_layout`).

The 2D report (:mod:`dicom.sr`) draws them on the photo, the 3D report (:mod:`dicom.sr3d`)
on the front rendering of the mesh: OHIF reads both the same way
(``tests/support/ohif_sr_model.py``). Each report makes its own NUMs (a callback): the 2D
one's method is the photo's scale source, the 3D one's the mesh's.

A family's first group holds its first :data:`~dicom.sr_families.SHOWN` measurements (what
a viewer labels) and a region that outlines their landmarks, led by the point that sets
the label box's place; the rest follow in a second group with the same Tracking UID and a
plain outline. No region is a lone POINT or a 4/5-point POLYLINE: OHIF would "track" those
as its probe / rectangle tools and re-measure them in pixels (:func:`not_a_rectangle`).
SCOORD coordinates are DICOM's (origin at the first pixel's top-left *corner*): the
analysis' pixel-centre points + :data:`SCOORD_OFFSET`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from pydicom.dataset import Dataset

from analysis.landmark_names import resolve as resolve_name
from dicom import sr_codes as tid
from dicom import sr_items as it
from dicom import sr_layout as layout
from dicom.sr_families import SHOWN, family_of, family_order, rank
from dicom.uids import new_uid

log = logging.getLogger(__name__)

SCOORD_OFFSET = 0.5  # pixel centre (analysis) → pixel corner origin (DICOM SCOORD)

Point = tuple[float, float]


class Drawable(Protocol):
    """What a drawn measurement needs: 2D :class:`analysis.types.Measurement` and 3D
    :class:`dicom.sr3d.Measurement3DEntry` both are."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def unit(self) -> str: ...
    @property
    def landmarks(self) -> tuple[str, ...]: ...


M = TypeVar("M", bound=Drawable)
#: A NUM item of a measurement and the landmark keys it stands on.
NumItem = Callable[[M, list[str]], Dataset]


def scoord(points: Sequence[Point]) -> list[Point]:
    return [(x + SCOORD_OFFSET, y + SCOORD_OFFSET) for x, y in points]


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def outline(points: Sequence[Point]) -> tuple[str, list[Point]]:
    """How a measurement is drawn: (graphic type, points) for its landmarks.

    One point is a POINT, two a line; more are their convex outline as a closed
    POLYLINE (first point repeated), or a line through the extremes when they are
    collinear, so a viewer draws the area a value stands on, not a zigzag through it.
    """
    ordered = list(dict.fromkeys(points))
    if len(ordered) == 1:
        return "POINT", ordered
    if len(ordered) == 2:
        return "POLYLINE", ordered
    unique = sorted(ordered)
    lower: list[Point] = []
    for p in unique:  # Andrew's monotone chain
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(unique):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    if len(hull) < 3:
        return "POLYLINE", [unique[0], unique[-1]]
    return "POLYLINE", [*hull, hull[0]]


def not_a_rectangle(graphic: str, pts: list[Point]) -> list[Point]:
    """A closed outline of 3 or 4 corners with its edge midpoints added (same polygon).

    OHIF offers to "track" an SR whose Image Region is a POLYLINE of 4 or 5 points as its
    rectangle tool, and then re-measures it in pixels; a region of any other point count
    is drawn, labelled with our values, and left alone.
    """
    if graphic != "POLYLINE" or len(pts) not in (4, 5) or pts[0] != pts[-1]:
        return pts
    out: list[Point] = []
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        out += [a, ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)]
    return [*out, out[0]]


def region(graphic: str, pts: list[Point], image: it.ImageRef) -> Dataset:
    """An Image Region SCOORD of pixel-centre points (a lone point as a small circle)."""
    if graphic == "POINT":  # a lone point would be "tracked" as a probe: a small circle
        (x, y), radius = pts[0], 2.0
        graphic, pts = "CIRCLE", [(x, y), (x + radius, y)]
    return it.scoord(
        tid.IMAGE_REGION, graphic, scoord(not_a_rectangle(graphic, pts)), image, it.CONTAINS
    )


def _drawn_keys(
    members: list[tuple[M, list[str]]], points: dict[str, Point], skip: frozenset[str]
) -> list[str]:
    keys: list[str] = []
    for _, used in members:
        own = [k for k in used if k not in skip and k in points]
        keys += own or [k for k in used if k in points]
    return list(dict.fromkeys(keys))


def _by_family_id(m: Drawable) -> str:
    return family_of(m.id)


def _by_rank(m: Drawable) -> int:
    return rank(m.id)


def family_groups(
    measurements: Sequence[M],
    points: dict[str, Point],
    image: it.ImageRef,
    num: NumItem[M],
    *,
    resolve: Callable[[str], str] = resolve_name,
    skip: frozenset[str] = frozenset(),
    family: Callable[[M], str] = _by_family_id,
    order: Callable[[M], int] = _by_rank,
    image_per_px: float | None = None,
) -> list[Dataset]:
    """Per family: a group of its first :data:`SHOWN` measurements, then one of the rest.

    ``points``: landmark key → pixel-centre point on ``image``; ``resolve`` maps a
    measurement's landmark names to those keys; ``skip``: landmarks an outline leaves
    out unless a measurement has no other (the scale reference). Families follow
    :func:`~dicom.sr_families.family_order`, members ``order`` (then their given order).
    A measurement without a finite value or without any of its landmarks is left out (a
    region without image coordinates is what makes viewers fail). ``image_per_px``: the
    scale the label boxes are spaced for (:func:`dicom.sr_layout.image_per_screen_px`).
    """
    families: dict[str, list[tuple[M, list[str]]]] = {}
    for m in measurements:
        if not math.isfinite(m.value):
            log.warning("measurement %s has no finite value (%r); not written", m.id, m.value)
            continue
        keys = [resolve(name) for name in m.landmarks]
        if not any(k in points for k in keys):
            log.warning("measurement %s has none of its landmarks; not written", m.id)
            continue
        families.setdefault(family(m), []).append((m, keys))
    titles = sorted(families, key=family_order)
    members = {t: sorted(families[t], key=lambda mk: order(mk[0])) for t in titles}
    drawn = [
        layout.Family(
            t,
            len(members[t][:SHOWN]),
            outline([points[k] for k in _drawn_keys(members[t][:SHOWN], points, skip)])[1],
        )
        for t in titles
    ]
    shapes = layout.place(drawn, list(points.values()), image_per_px) if drawn else {}
    groups = []
    for title in titles:
        uid = str(new_uid())
        shown, rest = members[title][:SHOWN], members[title][SHOWN:]
        first = it.scoord(tid.IMAGE_REGION, "POLYLINE", scoord(shapes[title]), image, it.CONTAINS)
        groups.append(_family_group(title, uid, shown, first, num))
        if rest:
            graphic, pts = outline([points[k] for _, keys in rest for k in keys if k in points])
            groups.append(_family_group(title, uid, rest, region(graphic, pts, image), num))
    return groups


def _family_group(
    title: str, uid: str, members: list[tuple[M, list[str]]], drawn: Dataset, num: NumItem[M]
) -> Dataset:
    return it.container(
        tid.MEASUREMENT_GROUP,
        it.CONTAINS,
        [
            it.text(tid.TRACKING_ID, title, it.HAS_OBS_CONTEXT),
            it.uidref(tid.TRACKING_UID, uid, it.HAS_OBS_CONTEXT),
            drawn,
            *(num(m, keys) for m, keys in members),
        ],
        template="1410",
    )
