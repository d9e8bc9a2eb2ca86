"""One named arrow per measurement: what OHIF's measurement panel lists.

OHIF lists only measurements it *tracks*: when the user accepts "continue tracking
measurements?" on the SR, it hydrates each Measurement Group that names one of its tools
(Tracking Identifier ``Cornerstone3DTools@^0.1.0:<tool>``) into that tool. The measuring
tools re-measure their shape in pixels; ``ArrowAnnotate`` measures nothing: its text is
the group's Comment (DCM 121106), shown on the image and as the panel's label
(@cornerstonejs/adapters ``ArrowAnnotate.getMeasurementData``, OHIF
``measurementServiceMappings/ArrowAnnotate``). So each measurement gets a group holding
an arrow at its own landmark and the comment "<name>: <value> <unit>", the NUM's own
value as text (the NUM itself stays in its family's group, once).

After tracking the viewport shows the photo with the arrows, no longer the families.
Their text boxes are placed by Cornerstone3D's "Text Annotation Position" (99CS3D
``TextPosition``), one ladder right of the face in the order of the arrows' heights,
spaced so that no two boxes overlap once the face is :data:`~dicom.sr_layout.FACE_SCREEN_PX`
tall on screen (the ladder is then taller than the face: the user pans along it).
Before tracking, OHIF draws each arrow group as its short line (no text: no NUM).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from analysis.landmark_names import resolve
from dicom import codes
from dicom import sr_items as it
from dicom import sr_layout as layout
from dicom.sr_drawn import Drawable
from dicom.uids import new_uid

Point = tuple[float, float]

ARROW_TRACKING_ID: Final = "Cornerstone3DTools@^0.1.0:ArrowAnnotate"
COMMENT: Final = Code("121106", "DCM", "Comment")
TEXT_POSITION: Final = Code("TextPosition", "99CS3D", "Text Annotation Position")
MEASUREMENT_GROUP: Final = Code("125007", "DCM", "Measurement Group")
TRACKING_ID: Final = Code("112039", "DCM", "Tracking Identifier")
TRACKING_UID: Final = Code("112040", "DCM", "Tracking Unique Identifier")
IMAGE_REGION: Final = Code("111030", "DCM", "Image Region")
TAIL: Final = 0.03  # the arrow's tail this fraction of the face width right of its head
BOX_PX: Final = layout.LINE_PX + layout.BOX_GAP_PX  # one single-line box and its gap


def arrow_label(m: Drawable) -> str:
    """The arrow's text: OHIF's own label format for a NUM."""
    return f"{m.name}: {m.value:.2f} {codes.unit_code(m.unit).value}"


def arrow_groups(
    measurements: Sequence[Drawable],
    points: dict[str, Point],
    skip: frozenset[str],
    image: it.ImageRef,
    offset: float,
    image_per_px: float | None = None,
) -> list[Dataset]:
    """One ArrowAnnotate group per measurement with a finite value and a landmark.

    ``points``: landmark key → pixel-centre point; ``skip``: landmarks an arrow avoids
    unless the measurement has no other (the scale reference); ``offset``: pixel centre
    → SCOORD origin; ``image_per_px``: the scale the text boxes are spaced for
    (:func:`dicom.sr_layout.image_per_screen_px`).
    """
    heads: list[tuple[Drawable, Point]] = []
    for m in measurements:
        keys = [k for k in (resolve(n) for n in m.landmarks) if k in points]
        own = [k for k in keys if k not in skip] or keys
        if math.isfinite(m.value) and own:
            heads.append((m, points[own[0]]))
    if not heads:
        return []
    xs = [p[0] for p in points.values()]
    width = max(xs) - min(xs)
    box = BOX_PX * layout.image_per_screen_px(list(points.values()), image_per_px)
    heads.sort(key=lambda mh: (mh[1][1], mh[1][0]))
    ys = layout.ladder([h[1] for _, h in heads], [box] * len(heads))
    x_text = max(xs) + layout.LEADER_GAP * width
    out = []
    for (m, (hx, hy)), y in zip(heads, ys, strict=True):
        arrow = [(hx + offset, hy + offset), (hx + TAIL * width + offset, hy + offset)]
        text_at = [(x_text + offset, y - box / 2 + offset)]
        out.append(
            it.container(
                MEASUREMENT_GROUP,
                it.CONTAINS,
                [
                    it.text(TRACKING_ID, ARROW_TRACKING_ID, it.HAS_OBS_CONTEXT),
                    it.uidref(TRACKING_UID, str(new_uid()), it.HAS_OBS_CONTEXT),
                    it.scoord(IMAGE_REGION, "POLYLINE", arrow, image, it.CONTAINS),
                    it.text(COMMENT, arrow_label(m), it.CONTAINS),
                    it.scoord(TEXT_POSITION, "POINT", text_at, image, it.CONTAINS),
                ],
                template="1410",
            )
        )
    return out
