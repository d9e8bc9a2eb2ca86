"""insightface backend: its loading path, with stand-in ONNX graphs the test builds.

The graphs have the official files' interface, which is what insightface's model router
and wrappers read: ``det_10g.onnx`` takes ``input.1`` (1×3×H×W, dynamic) and gives the
nine SCRFD outputs (scores, boxes, 5 key points at strides 8/16/32, two anchors each);
``2d106det.onnx`` / ``1k3d68.onnx`` take ``data`` (1×3×192×192) and give ``fc1``
(1×212 / 1×3309). Only the stride-32 scores fire, so detection is deterministic; the
landmark values are random but inside the crop (the test checks form, not accuracy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from analysis.landmarks.insightface_backend import DETECTOR, LMK3D68, LMK106, InsightFaceBackend
from analysis.landmarks.semantic import to_semantic
from analysis.landmarks.weights import LockEntry, read_lock, sha256_file, write_lock
from analysis.types import BackendUnavailableError

onnx = pytest.importorskip("onnx")
pytest.importorskip("insightface")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(arr.astype(np.float32), name)


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def detector_graph(path: Path) -> None:
    nodes, inits, outputs = [], [], []
    heads = {"score": 1, "bbox": 4, "kps": 10}
    names = {k: [] for k in heads}
    for stride in (8, 16, 32):
        pooled = f"pool{stride}"
        nodes.append(
            helper.make_node(
                "AveragePool",
                ["input.1"],
                [pooled],
                kernel_shape=[stride, stride],
                strides=[stride, stride],
            )
        )
        for head, k in heads.items():
            w, b, out = f"w_{head}{stride}", f"b_{head}{stride}", f"{head}_{stride}"
            bias = np.zeros(2 * k)
            if head == "score":
                bias[:] = 4.0 if stride == 32 else -8.0
            elif head == "bbox":
                bias[:] = 2.0  # 2 strides from the anchor centre to each side
            inits += [_init(w, np.zeros((2 * k, 3, 1, 1))), _init(b, bias)]
            nodes += [
                helper.make_node("Conv", [pooled, w, b], [f"c_{out}"]),
                helper.make_node("Transpose", [f"c_{out}"], [f"t_{out}"], perm=[0, 2, 3, 1]),
                helper.make_node(
                    "Reshape", [f"t_{out}", f"shape{k}"], [out if head != "score" else f"r_{out}"]
                ),
            ]
            if head == "score":
                nodes.append(helper.make_node("Sigmoid", [f"r_{out}"], [out]))
            names[head].append(out)
    for k in set(heads.values()):
        inits.append(numpy_helper.from_array(np.array([-1, k], dtype=np.int64), f"shape{k}"))
    for head, k in heads.items():
        outputs += [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", k]) for n in names[head]
        ]
    inp = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "h", "w"])
    _save(helper.make_graph(nodes, "det", [inp], outputs, inits), path)


def landmark_graph(path: Path, n_out: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    inp = helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 192, 192])
    out = helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, n_out])
    nodes = [
        helper.make_node("GlobalAveragePool", ["data"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "W", "B"], ["fc1"]),
    ]
    inits = [_init("W", rng.normal(0, 0.01, (3, n_out))), _init("B", rng.uniform(-0.6, 0.6, n_out))]
    _save(helper.make_graph(nodes, "lmk", [inp], [out], inits), path)


def _lock(folder: Path) -> None:
    lock = read_lock(folder)
    for p in folder.glob("*.onnx"):
        lock[p.name] = LockEntry(sha256_file(p), p.stat().st_size, "test")
    write_lock(folder, lock)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("insightface-models")
    detector_graph(folder / DETECTOR.filename)
    landmark_graph(folder / LMK106.filename, 212, seed=1)
    landmark_graph(folder / LMK3D68.filename, 3309, seed=2)
    _lock(folder)
    return folder


@pytest.mark.parametrize(("scheme", "n"), [("insightface106", 106), ("ibug68", 68)])
def test_stand_in_graphs_load_and_detect_gives_well_formed_faces(
    model_dir: Path, scheme: str, n: int
) -> None:
    backend = InsightFaceBackend(
        model_dir, scheme=scheme, max_faces=3, providers=["CPUExecutionProvider"]
    )
    assert backend.identity.commercial_use is False
    assert "non-commercial" in backend.identity.licence
    img = np.ascontiguousarray(data.astronaut())
    faces = backend.detect(img)
    assert 1 <= len(faces) <= 3
    for f in faces:
        assert f.scheme == scheme and f.points.shape == (n, 2) and np.isfinite(f.points).all()
        assert f.box is not None and f.box.score == pytest.approx(1 / (1 + np.exp(-4.0)), abs=1e-3)
        # regressed points stay within the face's loose crop (1.5 × the box)
        size = max(f.box.x1 - f.box.x0, f.box.y1 - f.box.y0)
        cx, cy = (f.box.x0 + f.box.x1) / 2, (f.box.y0 + f.box.y1) / 2
        assert (np.abs(f.points - (cx, cy)) <= 0.8 * size).all()
        sem = to_semantic(f)
        assert {"ibug_00", "ibug_67", "pupil_l"} <= set(sem.points)
    areas = [(f.box.x1 - f.box.x0) * (f.box.y1 - f.box.y0) for f in faces if f.box]
    assert areas == sorted(areas, reverse=True)


def test_a_landmark_graph_in_the_detector_slot_is_refused(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / DETECTOR.filename).write_bytes((model_dir / LMK106.filename).read_bytes())
    (tmp_path / LMK106.filename).write_bytes((model_dir / LMK106.filename).read_bytes())
    _lock(tmp_path)
    with pytest.raises(BackendUnavailableError, match="not a face-detector graph"):
        InsightFaceBackend(tmp_path, providers=["CPUExecutionProvider"])


def test_wrong_landmark_graph_and_bad_bytes_are_refused(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / DETECTOR.filename).write_bytes((model_dir / DETECTOR.filename).read_bytes())
    # the 68-point graph where the 106-point one belongs
    (tmp_path / LMK106.filename).write_bytes((model_dir / LMK3D68.filename).read_bytes())
    _lock(tmp_path)
    with pytest.raises(BackendUnavailableError, match="not the 106-point 2D landmark graph"):
        InsightFaceBackend(tmp_path, providers=["CPUExecutionProvider"])
    (tmp_path / LMK106.filename).write_bytes(b"\x00 not an onnx file")
    _lock(tmp_path)
    with pytest.raises(BackendUnavailableError, match="could not be loaded as an ONNX model"):
        InsightFaceBackend(tmp_path, providers=["CPUExecutionProvider"])


def test_changed_file_or_missing_file_is_refused(model_dir: Path, tmp_path: Path) -> None:
    for f in (DETECTOR, LMK106):
        (tmp_path / f.filename).write_bytes((model_dir / f.filename).read_bytes())
    _lock(tmp_path)
    with (tmp_path / LMK106.filename).open("r+b") as fh:  # flip one byte, keep the size
        fh.seek(100)
        b = fh.read(1)
        fh.seek(100)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(BackendUnavailableError, match=r"sha256 of .*2d106det\.onnx"):
        InsightFaceBackend(tmp_path)
    with pytest.raises(BackendUnavailableError, match=r"1k3d68\.onnx is missing"):
        InsightFaceBackend(tmp_path, scheme="ibug68")
