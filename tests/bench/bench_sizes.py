"""Size and build time of the result objects per photo: the SCs in each lossless transfer
syntax the node can write, and the PDF report.

Run: ``.venv/bin/python -m tests.bench.bench_sizes [--repeats 3] [--photos astronaut,big]``.

Per photo (the astronaut always; the shared 12.6-MP portrait ``deepface_img49.jpg`` and a
1-MP frontal portrait when the shared data is there): the real analysis and its overlays,
then for each SC transfer syntax the bytes written for all overlays and the median time to
build them (highdicom ``SCImage`` including the encoding) and to decode them back (checked
pixel-exact); then the PDF report (JPEG images, render, wrap) with its size and time. The
machine is shared and noisy: a fixed numpy workload (sorting 400 000 doubles) timed in the
same run is the baseline. Results: table on stdout, JSON in ``bench-results/sizes.json``.
"""

from __future__ import annotations

import argparse
import io
import time
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from tests.bench.bench_timing import median_ms
from tests.bench.photos import REPO, astronaut, data_root, read_rgb
from tests.bench.report import write_json

SYNTAXES = {"uncompressed": ExplicitVRLittleEndian, "rle": RLELossless, "jpeg-ls": JPEGLSLossless}
PHOTOS = {
    "big": "photos/frontal_dev/deepface_img49.jpg",
    "frontal-1mp": "photos/dynaface/img4-1024-frontal.jpg",
}
_REF = np.random.default_rng(0).random(400_000)




def _bytes(ds: Any) -> bytes:
    from dicom.part10 import encode

    return encode(ds)  # as the node writes it


def bench_photo(name: str, pixels: np.ndarray, analyzer: Any, repeats: int) -> dict[str, Any]:
    from analysis.overlay import render_overlays
    from dicom.context import ResultContext
    from dicom.pdf import build_report, photo_section
    from dicom.photo import dataset_to_photo
    from dicom.sc import build_sc
    from tests.factories import make_vl_photo

    source = make_vl_photo(pixels)
    photo = dataset_to_photo(source)
    result = analyzer.analyze(photo)
    overlays = render_overlays(photo, result)
    row: dict[str, Any] = {
        "photo": name,
        "size": f"{pixels.shape[1]}x{pixels.shape[0]}",
        "overlays": len(overlays),
        "overlay_megapixels": round(sum(i.shape[0] * i.shape[1] for _, i in overlays) / 1e6, 2),
        "raw_overlay_mb": round(sum(i.nbytes for _, i in overlays) / 1e6, 2),
        "sc": {},
    }
    for label, syntax in SYNTAXES.items():
        ctx = ResultContext.new(sc_transfer_syntax=syntax)

        def build(c: ResultContext = ctx) -> list[Any]:
            return [build_sc(source, img, t, c, k) for k, (t, img) in enumerate(overlays, 1)]

        build()  # warm-up (codec import)
        encode = median_ms(build, repeats)
        files = [_bytes(sc) for sc in build()]
        t0 = time.perf_counter()
        for data, (_, img) in zip(files, overlays, strict=True):
            assert np.array_equal(dcmread(io.BytesIO(data)).pixel_array, img), label
        decode = (time.perf_counter() - t0) * 1000.0
        row["sc"][label] = {
            "mb": round(sum(len(f) for f in files) / 1e6, 2),
            "build_ms": round(encode, 1),
            "decode_ms": round(decode, 1),
        }
    ctx = ResultContext.new()

    def report() -> bytes:
        section = photo_section(source, result, overlays)
        return _bytes(build_report([source], [section], ctx, 1))

    report()
    row["pdf"] = {
        "mb": round(len(report()) / 1e6, 2),
        "build_ms": round(median_ms(report, repeats), 1),
    }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--photos", default="astronaut,frontal-1mp,big")
    args = parser.parse_args()
    from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
    from config.norms import load_tables

    analyzer = PhotoAnalyzer(AnalysisOptions(tables=load_tables()))
    rows = []
    for name in args.photos.split(","):
        if name == "astronaut":
            pixels: np.ndarray | None = astronaut()
        else:
            path = data_root() / PHOTOS[name]
            pixels = read_rgb(path) if path.is_file() else None
            if pixels is None:
                print(f"{name}: shared data absent ({path}), skipped")
                continue
        baseline = median_ms(lambda: np.sort(_REF), 5)
        row = bench_photo(name, pixels, analyzer, args.repeats)
        row["baseline_sort_ms"] = round(baseline, 1)
        rows.append(row)
        print(f"\n{name} {row['size']}: {row['overlays']} overlays, "
              f"{row['overlay_megapixels']} MP, raw {row['raw_overlay_mb']} MB; "
              f"baseline sort {baseline:.1f} ms")  # fmt: skip
        for label, sc in row["sc"].items():
            print(f"  SC {label:13s} {sc['mb']:7.2f} MB  build {sc['build_ms']:7.1f} ms  "
                  f"decode {sc['decode_ms']:7.1f} ms")  # fmt: skip
        pdf = row["pdf"]
        print(f"  PDF report      {pdf['mb']:7.2f} MB  build {pdf['build_ms']:7.1f} ms")
    write_json(REPO / "bench-results" / "sizes.json", {"repeats": args.repeats, "photos": rows})


if __name__ == "__main__":
    main()
