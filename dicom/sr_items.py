"""SR content items as plain pydicom Datasets, shaped exactly as highdicom writes them.

highdicom's constructors validate every item, deep-copy the whole tree and search it for
evidence: 1–2 s for one photo's report. The node's reports have one fixed shape that the
unit tests check (dciodvfy, highdicom's parser, the OHIF model), so the tree is built here
directly. pydicom's own constructors cost tens of microseconds an element (keyword
lookup, value conversion and validation), so :func:`element` and :func:`_new_dataset` make
them from prototypes: a DataElement with its VR from the dictionary and its value already
in the type pydicom writes (str, float, list of floats, Sequence), a Dataset with its own
empty dictionaries. That leans on two pydicom internals (``Dataset._dict`` and
``DataElement._value``), checked by every SR unit test (write, read back with highdicom,
dciodvfy). A code item is a fresh Dataset over shared, never-mutated DataElements. highdicom
stays the reader (``Comprehensive3DSR.from_dataset``) in the tests; these items are what
``highdicom.sr.CodedConcept``, ``NumContentItem``, ``ScoordContentItem``, ... write:

* a code: Code Value, or Long Code Value beyond 16 characters; Scheme; Meaning;
* NUM: Measured Value Sequence (Numeric Value DS, auto-formatted; Floating Point Value;
  Measurement Units), or a Numeric Value Qualifier;
* SCOORD: Graphic Type / Data (FL), Pixel Origin Interpretation when given, and an IMAGE
  child "Source" (SELECTED FROM) with the Referenced SOP Sequence;
* CONTAINER: Continuity of Content CONTINUOUS, Content Template Sequence (DCMR) if any.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from pydicom import config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as PydicomSequence
from pydicom.sr.coding import Code
from pydicom.tag import BaseTag
from pydicom.valuerep import format_number_as_ds

_IGNORE = config.IGNORE
_LONG_CODE = 16

CONTAINS = "CONTAINS"
HAS_PROPERTIES = "HAS PROPERTIES"
HAS_CONCEPT_MOD = "HAS CONCEPT MOD"
HAS_OBS_CONTEXT = "HAS OBS CONTEXT"
INFERRED_FROM = "INFERRED FROM"
SELECTED_FROM = "SELECTED FROM"

SOURCE = Code("260753009", "SCT", "Source")


@cache
def _tag(keyword: str) -> tuple[BaseTag, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return BaseTag(tag), dictionary_VR(tag)


_ELEMENT: dict[str, Any] = dict(DataElement(0x00080100, "SH", "", validation_mode=_IGNORE).__dict__)
_DATASET: dict[str, Any] = dict(Dataset().__dict__)
_MUTABLE = tuple(k for k, v in _DATASET.items() if isinstance(v, dict | list | set))


def _new_dataset() -> Dataset:
    ds: Dataset = Dataset.__new__(Dataset)
    state = ds.__dict__
    state.update(_DATASET)
    for key in _MUTABLE:
        state[key] = type(_DATASET[key])()
    return ds


def element(keyword: str, value: Any) -> DataElement:
    """A DataElement of ``keyword``; ``value`` as pydicom writes it (a list for SQ)."""
    tag, vr = _tag(keyword)
    elem: DataElement = DataElement.__new__(DataElement)
    state = elem.__dict__
    state.update(_ELEMENT)
    state["tag"], state["VR"] = tag, vr
    state["_value"] = PydicomSequence(value) if vr == "SQ" else value
    return elem


def dataset(**values: Any) -> Dataset:
    """A Dataset of ``keyword=value`` elements (sequences as lists of Datasets)."""
    return put(_new_dataset(), **values)


def put(ds: Dataset, **values: Any) -> Dataset:
    d = ds._dict
    for keyword, value in values.items():
        elem = element(keyword, value)
        d[elem.tag] = elem
    return ds


@cache
def _code_elements(value: str, scheme: str, meaning: str) -> tuple[DataElement, ...]:
    key = "LongCodeValue" if len(value) > _LONG_CODE else "CodeValue"
    return (
        element(key, value),
        element("CodingSchemeDesignator", scheme),
        element("CodeMeaning", meaning),
    )


def code(c: Code) -> Dataset:
    """A Code Sequence item (a fresh Dataset; its elements are shared and never changed)."""
    ds = _new_dataset()
    d = ds._dict
    for elem in _code_elements(c.value, c.scheme_designator, c.meaning):
        d[elem.tag] = elem
    return ds


def _item(relationship: str | None, value_type: str, name: Code) -> Dataset:
    ds = _new_dataset()
    if relationship is not None:
        put(ds, RelationshipType=relationship)
    return put(ds, ValueType=value_type, ConceptNameCodeSequence=[code(name)])


def with_children(item: Dataset, children: Iterable[Dataset | None]) -> Dataset:
    kids = [c for c in children if c is not None]
    if kids:
        put(item, ContentSequence=kids)
    return item


def container(
    name: Code,
    relationship: str | None,
    children: Iterable[Dataset | None] = (),
    template: str | None = None,
) -> Dataset:
    item = put(_item(relationship, "CONTAINER", name), ContinuityOfContent="CONTINUOUS")
    if template is not None:
        put(
            item,
            ContentTemplateSequence=[
                dataset(MappingResource="DCMR", TemplateIdentifier=template)
            ],
        )
    return with_children(item, children)


def text(name: Code, value: str, relationship: str) -> Dataset:
    return put(_item(relationship, "TEXT", name), TextValue=value)


def uidref(name: Code, uid: str, relationship: str) -> Dataset:
    return put(_item(relationship, "UIDREF", name), UID=uid)


def code_item(name: Code, value: Code, relationship: str) -> Dataset:
    return put(_item(relationship, "CODE", name), ConceptCodeSequence=[code(value)])


def num(
    name: Code,
    value: float,
    unit: Code,
    relationship: str,
    qualifier: Code | None = None,
    children: Iterable[Dataset | None] = (),
) -> Dataset:
    """NUM as highdicom writes it (``value`` a float: Numeric Value and Floating Point)."""
    value = float(value)
    measured = dataset(
        NumericValue=format_number_as_ds(value),
        FloatingPointValue=value,
        MeasurementUnitsCodeSequence=[code(unit)],
    )
    item = put(_item(relationship, "NUM", name), MeasuredValueSequence=[measured])
    if qualifier is not None:
        put(item, NumericValueQualifierCodeSequence=[code(qualifier)])
    return with_children(item, children)


class ImageRef:
    """The source photo as SR references need it (frame 1 of multi-frame objects)."""

    def __init__(self, sop_class_uid: str, sop_instance_uid: str, frame: int | None) -> None:
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid
        self.frame = frame

    @property
    def origin(self) -> str | None:
        return "FRAME" if self.frame is not None else None

    def referenced_sop(self) -> Dataset:
        ref = dataset(
            ReferencedSOPClassUID=self.sop_class_uid,
            ReferencedSOPInstanceUID=self.sop_instance_uid,
        )
        if self.frame is not None:
            put(ref, ReferencedFrameNumber=self.frame)
        return ref

    def image(self, name: Code, relationship: str) -> Dataset:
        """IMAGE item (Image Library entry, SCOORD source)."""
        item = _item(relationship, "IMAGE", name)
        return put(item, ReferencedSOPSequence=[self.referenced_sop()])


def scoord(
    name: Code,
    graphic_type: str,
    points: Sequence[tuple[float, float]],
    image: ImageRef,
    relationship: str,
    with_origin: bool = True,
) -> Dataset:
    """SCOORD on ``image`` (coordinates already in DICOM's pixel-corner convention)."""
    item = _item(relationship, "SCOORD", name)
    put(
        item,
        GraphicType=graphic_type,
        GraphicData=[float(c) for p in points for c in p],
        ContentSequence=[image.image(SOURCE, SELECTED_FROM)],
    )
    if with_origin and image.origin is not None:
        put(item, PixelOriginInterpretation=image.origin)
    return item
