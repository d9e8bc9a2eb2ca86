"""UIDs the node mints.

Instance and series UIDs are random (``2.25.<uuid4>``, no registered root needed).
Device UIDs are *derived* (``2.25.<uuid5>``) from a model's id and version, so the same
model version always carries the same Device UID and a retrained model (new version) gets
a new one — what IHE AI Results asks of Contributing Equipment.
"""

from __future__ import annotations

import uuid
from typing import Final

from pydicom.uid import UID, generate_uid

#: Fixed namespace of every derived facenode UID; never change it (UIDs would change).
_NAMESPACE: Final[uuid.UUID] = uuid.uuid5(uuid.NAMESPACE_URL, "urn:facenode:device-uid")


def new_uid() -> UID:
    """A fresh random UID under the UUID-derived root ``2.25``."""
    return generate_uid(prefix=None)


def uuid_to_uid(value: uuid.UUID) -> UID:
    """The ``2.25`` form of a UUID (ISO/IEC 9834-8, DICOM PS3.5 B.2)."""
    return UID(f"2.25.{value.int}")


def device_uid(model_id: str, version: str) -> UID:
    """Deterministic Device UID of one model version (stable, changes with the version)."""
    if not model_id or not version:
        raise ValueError(
            f"device_uid needs a model id and a version, got {model_id!r}, {version!r}"
        )
    return uuid_to_uid(uuid.uuid5(_NAMESPACE, f"{model_id}\x00{version}"))
