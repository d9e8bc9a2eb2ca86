"""pytest entry to the profile-silhouette benchmark (``pytest -m bench tests/bench``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench import bench_profile


@pytest.mark.bench
def test_profile_points_on_a_rendered_scan(tmp_path: Path) -> None:
    if not (bench_profile.data_dir() / "james.obj").is_file():
        pytest.skip(f"benchmark data absent: {bench_profile.data_dir()}")
    out = tmp_path / "profile.json"
    report = bench_profile.run(out)
    print("\n" + bench_profile.format_table(report))
    s = report["summary"]
    for case in report["cases"]:
        assert not case["missing_vs_exact"], case  # every point the exact outline gives
    assert s["median_vs_exact_mm"] <= bench_profile.TARGET_MEDIAN_MM
    assert s["max_angle_error_deg"] <= 3.0
    assert s["silhouette_median_px"] <= 0.5
    assert s["median_ms"] <= bench_profile.TARGET_MS
    assert out.is_file()
