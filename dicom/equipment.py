"""The node and its models as Contributing Equipment (IHE AI Results).

Each model version that produced a result is one item with purpose "Processing Equipment"
(DCM 109102, the only processing purpose DICOM defines), manufacturer, model name, software
version and a Device UID derived from the model id and version (:func:`device_uid`), so a
retrained model is told apart from its predecessor. The node itself is one more item.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Final

from highdicom import ContributingEquipment
from pydicom.dataset import Dataset

from analysis.types import ModelIdentity
from dicom.codes import PROCESSING_EQUIPMENT
from dicom.context import ResultContext
from dicom.uids import device_uid

DISCLAIMER_TEXT = "AI result - not a diagnosis"
#: Manufacturer (0008,0070) and Manufacturer's Model Name (0008,1090) of the node in every
#: object it writes; a derived image with this manufacturer that comes back (a PACS rule
#: routing our results to us again) is recognised as ours and never analysed.
OUR_MANUFACTURER: Final = "facenode"
OUR_MODEL_NAME: Final = "facenode"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def licence_note(model: ModelIdentity) -> str:
    """The licence line the report carries for a model (non-commercial said plainly)."""
    note = f"licence: {model.licence or 'unknown'}"
    if not model.commercial_use:
        note += "; NON-COMMERCIAL USE ONLY"
    return note


def model_device_uid(model: ModelIdentity) -> str:
    return str(device_uid(model.id, model.version))


def contributing_equipment(
    ctx: ResultContext, models: Iterable[ModelIdentity]
) -> list[ContributingEquipment]:
    """One item for the node and one per distinct model version, in that order."""
    now = dt.datetime.now()
    node = ContributingEquipment(
        manufacturer=ctx.manufacturer,
        purpose_of_reference=PROCESSING_EQUIPMENT,
        manufacturer_model_name=ctx.model_name,
        software_versions=ctx.software_version or "0",
        device_serial_number=ctx.device_serial,
        institution_name=ctx.institution_name,
        station_name=ctx.station_name,
        contribution_datetime=now,
        contribution_description=f"Processing Algorithm: facial photo analysis ({DISCLAIMER_TEXT})",
    )
    node.DeviceUID = str(ctx.node_device_uid)
    items = [node]
    seen: set[tuple[str, str]] = set()
    for model in models:
        key = (model.id, model.version)
        if key in seen:
            continue
        seen.add(key)
        item = ContributingEquipment(
            manufacturer=ctx.manufacturer,
            purpose_of_reference=PROCESSING_EQUIPMENT,
            manufacturer_model_name=_short(model.name or model.id, 64),
            software_versions=_short(model.version, 64),
            contribution_datetime=now,
            contribution_description=_short(
                f"Processing Algorithm: {model.name} {model.version} (id {model.id}); "
                f"{licence_note(model)}",
                1024,
            ),
        )
        item.DeviceUID = model_device_uid(model)
        items.append(item)
    return items


def apply_general_equipment(ds: Dataset, ctx: ResultContext) -> None:
    """General Equipment attributes highdicom does not set itself."""
    if ctx.station_name:
        ds.StationName = ctx.station_name
    ds.DeviceUID = str(ctx.node_device_uid)
