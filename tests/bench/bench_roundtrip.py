"""Round-trip latency: photo C-STOREd to a real Orthanc → routed to the node by the Lua rule →
analysed → SR + SC back in Orthanc.

Run: ``.venv/bin/python -m tests.bench.bench_roundtrip [--photos 3]``. Prints a table and
writes ``bench-results/roundtrip.json``.

The machine is shared and noisy, so the figure that travels is a ratio against a baseline
measured in the same run: the plain C-STORE of the same photo into Orthanc (dcmtk storescu).
Both stable ages (Orthanc's StableAge and the node's stable_age_s, 1 s each here) are part of
the latency by design; the table also shows the latency minus them.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pydicom import dcmread
from skimage.data import astronaut

from dicom.wrap import wrap_rgb_image
from tests.bench.report import write_json
from tests.integration.conftest import storescu
from tests.support.net import free_port, wait_until
from tests.support.node_proc import NodeProcess
from tests.support.orthanc import new_orthanc

REPO = Path(__file__).resolve().parents[2]
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"
STABLE_AGES_S = 2.0  # Orthanc StableAge 1 s + node stable_age_s 1 s


def _results_for(orthanc, study_uid: str) -> set[str]:  # type: ignore[no-untyped-def]
    found = orthanc.post(
        "/tools/find",
        {"Level": "Instance", "Expand": True, "Query": {"StudyInstanceUID": study_uid}},
    )
    return {i["MainDicomTags"].get("SOPInstanceUID", "") for i in found}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "roundtrip.json")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        orthanc = new_orthanc(root / "orthanc")
        node = NodeProcess(
            root=root / "node",
            port=free_port(),
            env_extra={"FACENODE_DESTINATIONS": f"PACS=ORTHANC@127.0.0.1:{orthanc.dicom_port}"},
        )
        try:
            node.start()
            orthanc.start({"facenode": ("FACENODE", "127.0.0.1", node.port)})
            baseline, roundtrip = [], []
            for k in range(args.photos + 1):  # the first one warms the models up
                ds = wrap_rgb_image(astronaut(), patient_id=f"B{k}", patient_name="Bench^Photo")
                path = root / f"p{k}.dcm"
                ds.save_as(path, enforce_file_format=True)
                t0 = time.perf_counter()
                out = storescu(path, orthanc.dicom_port, orthanc.aet)
                t_store = time.perf_counter() - t0
                assert out.returncode == 0, out.stderr
                src = str(dcmread(path).SOPInstanceUID)
                study = str(ds.StudyInstanceUID)

                def back(study: str = study, src: str = src) -> bool:
                    return len(_results_for(orthanc, study) - {src}) >= 2

                wait_until(back, timeout=300, interval=0.1, what="results back in Orthanc")
                t_total = time.perf_counter() - t0
                if k == 0:
                    warmup = t_total
                    continue
                baseline.append(t_store)
                roundtrip.append(t_total)
        finally:
            node.stop()
            orthanc.stop()

    base = statistics.median(baseline)
    rt = statistics.median(roundtrip)
    report = {
        "photos": args.photos,
        "baseline_cstore_s": base,
        "roundtrip_median_s": rt,
        "roundtrip_minus_stable_ages_s": rt - STABLE_AGES_S,
        "roundtrip_first_photo_with_model_load_s": warmup,
        "ratio_roundtrip_to_cstore": rt / base,
        "ratio_processing_to_cstore": (rt - STABLE_AGES_S) / base,
        "all_roundtrips_s": roundtrip,
    }
    print(f"{'measure':<44}{'value':>10}")
    print(f"{'C-STORE of the photo into Orthanc (baseline)':<44}{base:>9.2f}s")
    print(f"{'round trip, median':<44}{rt:>9.2f}s")
    print(f"{'round trip minus both stable ages (2 s)':<44}{rt - STABLE_AGES_S:>9.2f}s")
    print(f"{'first photo (node loads its model)':<44}{warmup:>9.2f}s")
    print(f"{'ratio round trip / C-STORE':<44}{rt / base:>10.1f}")
    print(f"{'ratio (round trip - stable ages) / C-STORE':<44}{(rt - STABLE_AGES_S) / base:>10.1f}")
    write_json(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
