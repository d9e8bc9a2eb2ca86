from __future__ import annotations

import dataclasses

import pytest
from pydicom.uid import UID

from analysis.types import ScaleSource, View
from dicom import codes, sr_items
from dicom.context import ResultContext
from dicom.uids import device_uid, new_uid


def test_device_uid_is_stable_per_model_version_and_changes_with_it():
    a = device_uid("mediapipe-facemesh", "0.10.21")
    assert a == device_uid("mediapipe-facemesh", "0.10.21")
    assert a != device_uid("mediapipe-facemesh", "0.10.22")  # retrained / updated
    assert a != device_uid("dlib68", "0.10.21")
    assert a.startswith("2.25.") and a.is_valid and len(a) <= 64


def test_device_uid_needs_id_and_version():
    with pytest.raises(ValueError, match="model id and a version"):
        device_uid("", "1")


def test_new_uid_is_valid_and_unique():
    uids = {new_uid() for _ in range(200)}
    assert len(uids) == 200
    assert all(UID(u).is_valid and u.startswith("2.25.") for u in uids)


def test_fixed_codes_are_valid_and_private_values_unique():
    private = [c for c in codes.TABLE if c.scheme_designator == codes.PRIVATE_SCHEME]
    assert private, "the private scheme must have fixed codes"
    values = [c.value for c in private]
    assert len(values) == len(set(values))
    for code in codes.TABLE:
        assert 0 < len(code.value) <= 16, code
        assert 0 < len(code.meaning) <= 64, code
        # UMLS: TID 1500 names its "Qualitative Evaluations" container with C0034375
        assert code.scheme_designator in ("DCM", "SCT", "UCUM", "UMLS", codes.PRIVATE_SCHEME)
    assert len(codes.PRIVATE_SCHEME) <= 16 and codes.PRIVATE_SCHEME.startswith("99")


def test_every_scale_source_and_view_has_a_code():
    for source in ScaleSource:
        assert codes.scale_source_code(source).scheme_designator == codes.PRIVATE_SCHEME
    for view in View:
        assert codes.view_code(view).meaning


def test_views_written_are_read_back():
    for view in View:
        code = codes.view_code(view)
        back = codes.view_from_code(code.value, code.scheme_designator)
        assert back is view


def test_standard_view_codes():
    assert codes.view_code(View.FRONTAL).value == "399033003"
    assert codes.view_code(View.PROFILE_RIGHT).value == "399198007"
    assert codes.view_code(View.PROFILE_LEFT).value == "399173006"
    assert codes.view_from_code("399198007", "SRT") is View.PROFILE_RIGHT
    assert codes.view_from_code("399198007", "LN") is None


def test_generated_concepts_round_trip_through_parse_private():
    m = codes.measurement_concept("facial_asymmetry_index_lower_third", "Facial asymmetry index")
    assert m.scheme_designator == codes.PRIVATE_SCHEME
    assert m.value == "m:facial_asymmetry_index_lower_third"
    item = sr_items.code(m)  # as written into the SR: > 16 characters
    assert item.LongCodeValue == m.value and "CodeValue" not in item
    assert m.meaning == "Facial asymmetry index"
    assert codes.parse_private(m.value) == ("measurement", "facial_asymmetry_index_lower_third")
    f = codes.finding_concept("wide_nose", "Wide alar base")
    assert codes.parse_private(f.value) == ("finding", "wide_nose")
    lm = codes.landmark_concept("exocanthion_r")  # alias resolves to the canonical key
    assert lm.value == "lm:ibug_36" and "exocanthion_r" in lm.meaning
    assert codes.parse_private(lm.value) == ("landmark", "ibug_36")
    assert codes.parse_private("face-detection") is None


def test_meanings_are_made_valid():
    long_name = "x" * 100
    assert len(codes.measurement_concept("id", long_name).meaning) == 64
    assert "\\" not in codes.finding_concept("id", "a\\b").meaning
    assert codes.measurement_concept("id", "").meaning == "id"
    with pytest.raises(ValueError, match="non-empty id"):
        codes.measurement_concept("", "name")


@pytest.mark.parametrize(
    ("unit", "value"),
    [("mm", "mm"), ("deg", "deg"), ("{ratio}", "{ratio}"), ("%", "%"), ("[px]", "{pixels}")],
)
def test_units_are_ucum(unit, value):
    code = codes.unit_code(unit)
    assert code.scheme_designator == "UCUM" and code.value == value


def test_unknown_unit_passes_through_as_ucum():
    code = codes.unit_code("cm2")
    assert (code.value, code.scheme_designator) == ("cm2", "UCUM")


def test_severities():
    assert codes.severity_code("mild").value == "255604002"
    assert codes.severity_code("moderate").scheme_designator == "SCT"
    assert codes.severity_code("info").scheme_designator == codes.PRIVATE_SCHEME
    assert codes.severity_code("marked").meaning == "Marked"
    assert codes.parse_private(codes.severity_code("extreme").value) == ("severity", "extreme")


def test_coding_scheme_item_declares_the_private_scheme():
    item = codes.coding_scheme_item("facenode")
    assert item.CodingSchemeDesignator == codes.PRIVATE_SCHEME
    assert item.CodingSchemeResponsibleOrganization == "facenode"


def test_context_new_generates_distinct_series_and_advances():
    ctx = ResultContext.new(software_version="1.2.3", station_name="FN", device_serial="S1")
    assert ctx.sr_series_uid != ctx.sc_series_uid
    assert UID(ctx.sr_series_uid).is_valid and UID(ctx.sc_series_uid).is_valid
    nxt = ctx.advance(3)
    assert nxt.instance_number_start == ctx.instance_number_start + 3
    assert nxt.sr_series_uid == ctx.sr_series_uid
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.manufacturer = "x"  # type: ignore[misc]
    assert (
        ctx.node_device_uid
        == ResultContext.new(
            software_version="1.2.3", station_name="FN", device_serial="S1"
        ).node_device_uid
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"manufacturer": ""}, "manufacturer"),
        ({"station_name": "A" * 17}, "station_name"),
        ({"sr_series_number": 0}, "sr_series_number"),
        ({"instance_number_start": 0}, "instance_number_start"),
        ({"sc_transfer_syntax": "1.2.840.10008.1.2.4.50"}, "sc_transfer_syntax"),
    ],
)
def test_context_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResultContext.new(**kwargs)


def test_context_refuses_invalid_or_shared_series_uids():
    with pytest.raises(ValueError, match="not a valid UID"):
        ResultContext("m", "n", "1", sr_series_uid="1.2.abc", sc_series_uid="1.2.3")
    with pytest.raises(ValueError, match="two different"):
        ResultContext("m", "n", "1", sr_series_uid="1.2.3", sc_series_uid="1.2.3")
