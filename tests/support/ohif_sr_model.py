"""How OHIF 3.12.10 / 3.13.2 turn a TID 1500 SR into annotations, mirrored in Python so the
unit tests hold an SR to the viewer's rules without a browser (the browser test,
``tests/integration/test_viewer.py``, checks the real thing).

Source: the prebuilt ``@ohif/app`` bundles, extension ``cornerstone-dicom-sr``
(``getSopClassHandlerModule``: ``_getMeasurements``, ``_processMeasurement``,
``_processTID1410Measurement``, ``_processNonGeometricallyDefinedMeasurement``,
``_checkIfCanAddMeasurementsToDisplaySet``; ``isRehydratable``; ``DICOMSRDisplayTool``):

* one annotation per Measurement Group (125007) of Imaging Measurements (126010), groups
  merged by Tracking Unique Identifier (112040);
* a group with a top-level SCOORD is drawn from its *first* SCOORD; its label lines are
  its top-level NUMs, "<Code Meaning>: <value, 2 decimals> <unit code value>";
* a group without one takes each NUM's child SCOORD; 3.12 reads a NUM's Content
  Sequence as one item, so a NUM with more children is skipped whole ("Graphic undefined
  not currently supported, skipping annotation"); 3.13 picks the SCOORD among several;
* a group left without coordinates crashes the viewer (``coords[0].ReferencedSOPSequence``
  of undefined); a SCOORD whose IMAGE child has no Referenced SOP Sequence is never shown;
* each label box is drawn 25 px right of and below an anchor on the annotation's shape,
  one line per 1.2 em (14 px font), and stays there in image space: 3.12 anchors at the
  right-most of the shape's first two points at their mean height, 3.13 at the whole
  shape's right edge and the middle of its vertical extent (``getTextBoxCoordsCanvas``,
  ``_determineCorners``; see :func:`text_box_anchor`);
* at most five label lines are drawn, a value of exactly 0 without its number;
  MULTIPOINT draws dots and no label;
* an SR is offered for "tracking" when a group's tracking identifier names a cornerstone
  tool, or its graphic is an Image Region (DCM 111030) POINT of 1–2 points or POLYLINE of
  4–5 points; tracking hydrates each such group into that tool (``hydrateStructuredReport``):
  the measuring tools (probe, rectangle, length…) re-measure the shape in pixels on a
  photo, ``ArrowAnnotate`` keeps the group's Comment text (see :func:`hydrated_as`).
"""

from dataclasses import dataclass, field

from pydicom.dataset import Dataset

IMAGING_MEASUREMENTS = "126010"
MEASUREMENT_GROUP = "125007"
TRACKING_UID = "112040"
TRACKING_ID = "112039"
IMAGE_REGION = ("DCM", "111030")
TOOL_PREFIXES = ("Cornerstone3DTools@^0.1.0:", "cornerstoneTools@^4.0.0:")
MAX_LINES = 5


@dataclass
class Annotation:
    tracking_uid: str
    tracking_identifier: str
    graphics: list[tuple[str, int, tuple[str, str]]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    region: bool = False  # drawn from a group-level SCOORD (the TID 1410 path)

    @property
    def crashes(self) -> bool:
        return not self.graphics

    @property
    def text_lines(self) -> list[str]:
        drawn_with_text = any(g[0] != "MULTIPOINT" for g in self.graphics)
        return self.labels[:MAX_LINES] if drawn_with_text else []


def _code(item: Dataset) -> tuple[str, str]:
    c = item.ConceptNameCodeSequence[0]
    return str(c.CodingSchemeDesignator), str(c.get("CodeValue") or c.get("LongCodeValue"))


def _label(num: Dataset) -> str | None:
    if not num.get("MeasuredValueSequence"):
        return None
    mv = num.MeasuredValueSequence[0]
    unit = mv.MeasurementUnitsCodeSequence[0].CodeValue
    meaning = num.ConceptNameCodeSequence[0].CodeMeaning
    value = float(mv.NumericValue)
    # OHIF: `NumericValue ? Number(NumericValue).toFixed(2) : ''` — a 0 shows no number
    return f"{meaning}: {value:.2f} {unit}" if value else f"{meaning}:  {unit}"


def _graphic(scoord: Dataset) -> tuple[str, int, tuple[str, str]] | None:
    children = scoord.get("ContentSequence", [])
    if not children or "ReferencedSOPSequence" not in children[0]:
        return None
    size = 3 if scoord.ValueType == "SCOORD3D" else 2
    code = _code(scoord) if "ConceptNameCodeSequence" in scoord else ("", "")
    return str(scoord.GraphicType), len(scoord.GraphicData) // size, code


def annotations(sr: Dataset, version: str = "3.12.10") -> list[Annotation]:
    """The annotations OHIF ``version`` makes of ``sr`` (a TID 1500 report)."""
    root = [i for i in sr.ContentSequence if _code(i)[1] == IMAGING_MEASUREMENTS]
    if not root:
        return []
    merged: dict[str, list[Dataset]] = {}
    for group in root[0].get("ContentSequence", []):
        if _code(group)[1] != MEASUREMENT_GROUP:
            continue
        items = list(group.get("ContentSequence", []))
        uid = next(str(i.UID) for i in items if _code(i)[1] == TRACKING_UID)
        merged.setdefault(uid, []).extend(items)
    out = []
    for uid, items in merged.items():
        ident = next((str(i.TextValue) for i in items if _code(i)[1] == TRACKING_ID), "")
        ann = Annotation(uid, ident)
        scoords = [i for i in items if i.ValueType in ("SCOORD", "SCOORD3D")]
        nums = [i for i in items if i.ValueType == "NUM"]
        if scoords:  # TID 1410: the first region, labels from the group's NUMs
            ann.region = True
            g = _graphic(scoords[0])
            if g is not None:
                ann.graphics.append(g)
            ann.labels = [x for x in map(_label, nums) if x]
        else:
            for num in nums:
                children = list(num.get("ContentSequence", []))
                if children:
                    picked = [c for c in children if c.ValueType in ("SCOORD", "SCOORD3D")]
                    if version.startswith("3.12") and len(children) != 1:
                        ann.warnings.append("Graphic undefined not currently supported")
                        continue
                    if not picked:
                        ann.warnings.append(f"Graphic {children[0].ValueType} not supported")
                        continue
                    g = _graphic(picked[0])
                    if g is not None:
                        ann.graphics.append(g)
                label = _label(num)
                if label:
                    ann.labels.append(label)
        out.append(ann)
    return out


TEXT_BOX_OFFSET_PX = 25.0  # drawTextBox's default padding, added to the anchor both ways
TEXT_LINE_PX = 16.8  # 14 px font, tspan dy = 1.2 em


def text_box_anchor(points: list[tuple[float, float]], version: str) -> tuple[float, float]:
    """The anchor of a drawn POLYLINE's label box (same coordinates as ``points``)."""
    if version.startswith("3.12"):  # only the first two points count
        (x0, y0), (x1, y1) = points[0], points[1]
        return max(x0, x1), (y0 + y1) / 2
    ys = [p[1] for p in points]
    return max(p[0] for p in points), (min(ys) + max(ys)) / 2


def rehydratable(anns: list[Annotation]) -> bool:
    """Whether OHIF offers to "track" (hydrate) the SR into its own measuring tools."""
    for a in anns:
        if a.tracking_identifier.startswith(TOOL_PREFIXES):
            return True
        for graphic, points, code in a.graphics[:1] if a.region else []:
            if code != IMAGE_REGION:
                continue
            if (graphic == "POINT" and points <= 2) or (graphic == "POLYLINE" and points in (4, 5)):
                return True
    return False


def hydrated_as(a: Annotation) -> str | None:
    """The cornerstone tool OHIF hydrates annotation ``a`` into when tracked (None: none)."""
    for prefix in TOOL_PREFIXES:
        if a.tracking_identifier.startswith(prefix):
            return a.tracking_identifier.removeprefix(prefix).split(":")[0]
    for graphic, points, code in a.graphics[:1] if a.region else []:
        if code == IMAGE_REGION and graphic == "POINT" and points <= 2:
            return "Probe"
        if code == IMAGE_REGION and graphic == "POLYLINE" and points in (4, 5):
            return "RectangleROI"
    return None


def remeasured(anns: list[Annotation]) -> list[Annotation]:
    """The annotations tracking would hand to a tool that measures (in pixels on a photo)."""
    return [a for a in anns if hydrated_as(a) not in (None, "ArrowAnnotate")]
