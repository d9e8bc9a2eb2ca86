"""pytest entry to the NME benchmark (``pytest -m bench tests/bench``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench import bench_nme


@pytest.mark.bench
def test_embedded_default_meets_the_nme_target(tmp_path: Path) -> None:
    if not (bench_nme.data_dir() / bench_nme.XML_FILES["test"]).is_file():
        pytest.skip(f"benchmark data absent: {bench_nme.data_dir()}")
    out = tmp_path / "nme.json"
    report = bench_nme.run(["mediapipe", "dlib", "ensemble"], None, out)
    print("\n" + bench_nme.format_table(report))
    mp = report["backends"]["mediapipe"]
    assert mp["matched"] >= 0.9 * mp["faces"]  # recall
    assert mp["nme_mean"] <= bench_nme.TARGET_NME
    assert mp["nme_test"] <= bench_nme.TARGET_NME  # the split the mapping was not fitted on
    assert report["backends"]["ensemble"]["nme_mean"] <= mp["nme_mean"]
    assert out.is_file()
