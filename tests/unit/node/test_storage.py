from __future__ import annotations

from pathlib import Path

from node.storage import Storage, safe_component, write_atomic


def test_wellformed_uid_is_kept_others_are_hashed() -> None:
    assert safe_component("1.2.840.10008.1") == "1.2.840.10008.1"
    assert safe_component("1.2\x00") == "1.2"  # DICOM UI padding
    for evil in ("../../etc/passwd", "1.2/3", "", "1." * 40, "a b"):
        out = safe_component(evil)
        assert out.startswith("h") and "/" not in out and ".." not in out and len(out) == 41


def test_instance_path_stays_inside_storage(tmp_path: Path) -> None:
    st = Storage(tmp_path)
    p = st.instance_path("../../x", "1.2.3", "/abs/path")
    assert p.resolve().is_relative_to(tmp_path.resolve())
    assert p.parent.name == "1.2.3"


def test_write_atomic_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.dcm"
    write_atomic(target, b"x" * 1000)
    write_atomic(target, b"y" * 10)
    assert target.read_bytes() == b"y" * 10
    assert [p.name for p in target.parent.iterdir()] == ["b.dcm"]
