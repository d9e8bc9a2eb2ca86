"""face-alignment backend: its loading path, with stand-in weights the test builds.

The stand-ins are randomly initialised ``FAN(4)`` and ``s3fd`` networks saved as state
dicts — the format face-alignment loads with ``torch.load(weights_only=True)`` — under
the official file names, recorded in a lock file. S3FD's classification heads are set so
that only its coarsest level fires, which gives a few deterministic boxes quickly; the
landmarks themselves are random (the test checks their form, not their accuracy).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from analysis.landmarks.fan_backend import FAN2D, FAN3D, S3FD, FanBackend, decode_heatmaps
from analysis.landmarks.semantic import to_semantic
from analysis.landmarks.weights import LockEntry, read_lock, sha256_file, write_lock
from analysis.types import BackendUnavailableError

torch = pytest.importorskip("torch")
pytest.importorskip("face_alignment")


def _lock(folder: Path, *names: str) -> None:
    lock = read_lock(folder)
    for n in names:
        p = folder / n
        lock[n] = LockEntry(sha256_file(p), p.stat().st_size, "test")
    write_lock(folder, lock)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    folder = tmp_path_factory.mktemp("fan-models")
    torch.manual_seed(0)
    fan = FAN(4)
    torch.save(fan.state_dict(), folder / FAN2D.filename)
    (folder / FAN3D.filename).write_bytes((folder / FAN2D.filename).read_bytes())
    det = s3fd()
    with torch.no_grad():
        for name, module in det.named_children():
            if name.endswith("_mbox_conf"):
                module.weight.zero_()
                # background wins everywhere except on the coarsest (stride 128) level
                face = 3.0 if name == "conv7_2_mbox_conf" else -8.0
                module.bias.fill_(0.0)
                module.bias[-1] = face
            if name.endswith("_mbox_loc"):
                module.weight.zero_()
                module.bias.zero_()
    torch.save(det.state_dict(), folder / S3FD.filename)
    _lock(folder, FAN2D.filename, FAN3D.filename, S3FD.filename)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("three_d", [False, True])
def test_stand_in_weights_load_and_detect_gives_well_formed_faces(
    model_dir: Path, three_d: bool
) -> None:
    backend = FanBackend(model_dir, three_d=three_d, max_faces=1, flip_input=not three_d)
    assert backend.identity.commercial_use is False
    assert sha256_file(model_dir / FAN2D.filename)[:12] in backend.identity.version
    faces = backend.detect(np.ascontiguousarray(data.astronaut()))
    assert len(faces) == 1
    for f in faces:
        assert f.scheme == "ibug68" and f.points.shape == (68, 2)
        assert np.isfinite(f.points).all()
        assert ((f.confidence >= 0) & (f.confidence <= 1)).all()
        assert f.box is not None and 0.5 < f.box.score <= 1
        assert set(to_semantic(f).points) >= {"ibug_00", "ibug_67", "pupil_r"}


def test_tampered_weights_are_refused_before_loading(model_dir: Path, tmp_path: Path) -> None:
    for n in (FAN2D.filename, S3FD.filename):
        (tmp_path / n).write_bytes((model_dir / n).read_bytes())
    _lock(tmp_path, FAN2D.filename, S3FD.filename)
    lock = read_lock(tmp_path)
    lock[FAN2D.filename] = LockEntry(
        hashlib.sha256(b"other").hexdigest(), lock[FAN2D.filename].size, "test"
    )
    write_lock(tmp_path, lock)
    with pytest.raises(
        BackendUnavailableError, match=r"sha256 of .*2DFAN4.*corrupt or was replaced"
    ):
        FanBackend(tmp_path)


def test_missing_detector_or_wrong_format_is_a_clear_error(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / FAN2D.filename).write_bytes((model_dir / FAN2D.filename).read_bytes())
    _lock(tmp_path, FAN2D.filename)
    with pytest.raises(
        BackendUnavailableError, match=r"S3FD face detector s3fd-619a316812\.pth is missing"
    ):
        FanBackend(tmp_path)
    (tmp_path / S3FD.filename).write_bytes(b"not a torch file")
    _lock(tmp_path, S3FD.filename)
    with pytest.raises(BackendUnavailableError, match="not an S3FD state dict"):
        FanBackend(tmp_path)
    # a detector's weights under the network's name: the state dict does not fit FAN-4
    (tmp_path / FAN3D.filename).write_bytes((model_dir / S3FD.filename).read_bytes())
    _lock(tmp_path, FAN3D.filename)
    with pytest.raises(BackendUnavailableError, match="not a FAN-4 state dict"):
        FanBackend(tmp_path, three_d=True)


def test_heatmap_decoding_follows_the_crop_geometry() -> None:
    """A peak at heatmap pixel (u, v) is the centre of crop pixels 4u..4u+3, and the crop
    spans h = 200·scale source pixels around the centre: x = (u + ½)·h/64 + cx − h/2."""
    hm = np.zeros((2, 64, 64), dtype=np.float32)
    hm[0, 30, 20] = 0.9  # row v=30, column u=20
    hm[1, 10, 40], hm[1, 10, 41], hm[1, 11, 40] = 0.8, 0.3, 0.2  # higher right, lower below
    centre, scale = np.array([250.0, 180.0]), 1.5
    pts, scores = decode_heatmaps(hm, centre, scale)
    h = 200.0 * scale
    assert pts[0] == pytest.approx(
        [(20 + 0.5) * h / 64 + 250 - h / 2, (30 + 0.5) * h / 64 + 180 - h / 2]
    )
    # a quarter heatmap pixel towards the higher neighbour: right (+x) and down (+y)
    assert pts[1] == pytest.approx([(40.75) * h / 64 + 250 - h / 2, (10.75) * h / 64 + 180 - h / 2])
    assert scores == pytest.approx([0.9, 0.8])


@pytest.mark.slow
def test_heatmap_decoding_matches_face_alignment_up_to_its_integer_truncation() -> None:
    from face_alignment.utils import get_preds_fromhm

    rng = np.random.default_rng(3)
    hm = rng.random((1, 68, 64, 64)).astype(np.float32)
    centre, scale = np.array([250.0, 180.0]), 1.5
    _, theirs, their_scores = get_preds_fromhm(hm, centre, scale)
    ours, scores = decode_heatmaps(hm[0], centre, scale)
    assert np.array_equal(np.floor(ours), theirs[0])  # all positive here: int() = floor
    assert scores == pytest.approx(their_scores[0])


def test_the_device_setting_picks_the_torch_device(model_dir: Path) -> None:
    """auto and cpu load here (the CPU wheel); cuda insists and says why it cannot."""
    assert FanBackend(model_dir, device="cpu").device == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert FanBackend(model_dir, device="auto").device == expected
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="device 'cuda'.*no usable CUDA"):
            FanBackend(model_dir, device="cuda")
