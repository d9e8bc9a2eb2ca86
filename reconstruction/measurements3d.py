"""The 2D catalogue's distances and angles where they are defined in 3D.

Ids are the catalogue's (:mod:`analysis.measurements`), so its norms and findings apply;
the formulas are the same anatomy measured in the face frame of the mid-sagittal plane
(:class:`reconstruction.types.MidSagittalPlane`: x toward the subject's left, y up, z out
of the face) instead of in a photo:

* widths (intercanthal, outer canthal, fissures, alar, mouth, interpupillary) are 3D
  distances — no projection, so no foreshortening on a turned head;
* heights (face height, the facial thirds, upper lip, lip–chin) are differences along y;
* profile angles (nasolabial, nasofrontal, nasomental, facial convexity) and the E-line,
  Goode ratio and chin projection are taken in the mid-sagittal plane (the points' y–z):
  the *true* profile, whatever the photos' head pose; the profile points come from the
  surface (:mod:`reconstruction.profile3d`);
* midline deviations (nasal tip, chin, philtrum) are signed distances from the plane,
  + toward the subject's left, on the surface-refined points.

Goode ratio needs the alar crease, which the 3D landmarks do not have: the alar-base
points (iBUG 31/35, slightly anterior and medial of the crease) stand in for it, so the
3D ratio reads a little low. ``nasal_tip_protrusion`` (subnasale–pronasale distance,
Farkas' sn–prn) has no 2D counterpart: it needs depth.

Uncertainty: each landmark's 1-sigma radius (isotropic, σ/√3 per axis) propagated
through the formula by its numerical gradient, plus for lengths the scale's relative
uncertainty times the value, in quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from analysis.findings import evaluate_measurements
from analysis.types import Finding, Measurement
from config.tables import FindingTables
from reconstruction.types import FloatArray, Landmark3D, Measurement3D, MeshScale, MidSagittalPlane

P = Mapping[str, FloatArray]
Formula = Callable[[P], float]


def _d(a: FloatArray, b: FloatArray) -> float:
    return float(np.linalg.norm(a - b))


def _angle_yz(at: FloatArray, a: FloatArray, b: FloatArray) -> float:
    """Angle a–at–b in the sagittal plane (face y–z), degrees."""
    u, v = (a - at)[1:], (b - at)[1:]
    return math.degrees(math.atan2(abs(u[0] * v[1] - u[1] * v[0]), float(u @ v)))


def _line_yz(p: FloatArray, a: FloatArray, b: FloatArray) -> float:
    """Signed distance of p from line a–b in the sagittal plane, + anterior (face +z)."""
    d = (b - a)[1:] / max(float(np.linalg.norm((b - a)[1:])), 1e-12)
    n = np.array([-d[1], d[0]])
    if n[1] < 0:
        n = -n
    return float((p - a)[1:] @ n)


def _mid(p: P, a: str, b: str) -> FloatArray:
    return np.asarray((p[a] + p[b]) / 2.0)


@dataclass(frozen=True)
class Def3D:
    id: str
    name: str
    landmarks: tuple[str, ...]
    formula: Formula
    unit: str  # "mm", "deg", "{ratio}"
    description: str = ""


def _y(name: str) -> Callable[[P], float]:
    return lambda p: float(p[name][1])


def _goode(p: P) -> float:
    prn, n = p["pronasale"], p["soft_tissue_nasion"]
    return abs(_line_yz(prn, n, _mid(p, "ibug_31", "ibug_35"))) / _d(prn[1:], n[1:])


def _sto(p: P) -> FloatArray:
    return _mid(p, "ibug_62", "ibug_66")


DEFINITIONS: tuple[Def3D, ...] = (
    Def3D("interpupillary_distance", "Interpupillary distance", ("pupil_r", "pupil_l"),
          lambda p: _d(p["pupil_r"], p["pupil_l"]), "mm"),
    Def3D("intercanthal_width", "Intercanthal width (en–en)", ("ibug_39", "ibug_42"),
          lambda p: _d(p["ibug_39"], p["ibug_42"]), "mm"),
    Def3D("outer_canthal_width", "Outer canthal width (ex–ex)", ("ibug_36", "ibug_45"),
          lambda p: _d(p["ibug_36"], p["ibug_45"]), "mm"),
    Def3D("palpebral_fissure_width_r", "Palpebral fissure width, right", ("ibug_36", "ibug_39"),
          lambda p: _d(p["ibug_36"], p["ibug_39"]), "mm"),
    Def3D("palpebral_fissure_width_l", "Palpebral fissure width, left", ("ibug_42", "ibug_45"),
          lambda p: _d(p["ibug_42"], p["ibug_45"]), "mm"),
    Def3D("alar_width", "Alar base width (al–al)", ("ibug_31", "ibug_35"),
          lambda p: _d(p["ibug_31"], p["ibug_35"]), "mm"),
    Def3D("mouth_width", "Mouth width (ch–ch)", ("ibug_48", "ibug_54"),
          lambda p: _d(p["ibug_48"], p["ibug_54"]), "mm"),
    Def3D("alar_intercanthal_ratio", "Alar width / intercanthal width",
          ("ibug_31", "ibug_35", "ibug_39", "ibug_42"),
          lambda p: _d(p["ibug_31"], p["ibug_35"]) / _d(p["ibug_39"], p["ibug_42"]), "{ratio}"),
    Def3D("face_height", "Face height (n–me)", ("ibug_27", "ibug_08"),
          lambda p: float(p["ibug_27"][1] - p["ibug_08"][1]), "mm", "Along the face vertical."),
    Def3D("facial_third_middle", "Middle facial third (n–sn)", ("ibug_27", "ibug_33"),
          lambda p: float(p["ibug_27"][1] - p["ibug_33"][1]), "mm"),
    Def3D("facial_third_lower", "Lower facial third (sn–me)", ("ibug_33", "ibug_08"),
          lambda p: float(p["ibug_33"][1] - p["ibug_08"][1]), "mm"),
    Def3D("lower_middle_third_ratio", "Lower third / middle third (sn–me / n–sn)",
          ("ibug_27", "ibug_33", "ibug_08"),
          lambda p: float((p["ibug_33"] - p["ibug_08"])[1] / (p["ibug_27"] - p["ibug_33"])[1]),
          "{ratio}"),
    Def3D("upper_lip_height", "Upper lip height (sn–sto)", ("ibug_33", "ibug_62", "ibug_66"),
          lambda p: float(p["ibug_33"][1] - _sto(p)[1]), "mm"),
    Def3D("lower_lip_chin_height", "Lower lip and chin height (sto–me)",
          ("ibug_62", "ibug_66", "ibug_08"), lambda p: float(_sto(p)[1] - p["ibug_08"][1]), "mm"),
    Def3D("nasal_tip_deviation", "Nasal tip deviation from the midline", ("ibug_30",),
          lambda p: float(p["ibug_30"][0]), "mm", "Signed, + toward the subject's left."),
    Def3D("chin_deviation", "Chin (menton) deviation from the midline", ("ibug_08",),
          lambda p: float(p["ibug_08"][0]), "mm", "Signed, + toward the subject's left."),
    Def3D("philtrum_deviation", "Philtrum deviation from the midline", ("ibug_33", "ibug_51"),
          lambda p: float(_mid(p, "ibug_33", "ibug_51")[0]), "mm",
          "Signed, + toward the subject's left."),
    Def3D("nasolabial_angle", "Nasolabial angle", ("subnasale", "columella", "labrale_superius"),
          lambda p: _angle_yz(p["subnasale"], p["columella"], p["labrale_superius"]), "deg",
          "In the mid-sagittal plane."),
    Def3D("nasofrontal_angle", "Nasofrontal angle",
          ("soft_tissue_nasion", "profile_glabella", "pronasale"),
          lambda p: _angle_yz(p["soft_tissue_nasion"], p["profile_glabella"], p["pronasale"]),
          "deg", "In the mid-sagittal plane."),
    Def3D("nasomental_angle", "Nasomental angle",
          ("pronasale", "soft_tissue_nasion", "soft_tissue_pogonion"),
          lambda p: _angle_yz(p["pronasale"], p["soft_tissue_nasion"], p["soft_tissue_pogonion"]),
          "deg"),
    Def3D("facial_convexity_angle", "Facial convexity angle (g–sn–pog)",
          ("subnasale", "profile_glabella", "soft_tissue_pogonion"),
          lambda p: _angle_yz(p["subnasale"], p["profile_glabella"], p["soft_tissue_pogonion"]),
          "deg"),
    Def3D("goode_ratio", "Goode tip-projection ratio",
          ("pronasale", "soft_tissue_nasion", "ibug_31", "ibug_35"),
          lambda p: _goode(p),
          "{ratio}", "Alar-base points stand in for the alar crease (reads a little low)."),
    Def3D("nasal_tip_protrusion", "Nasal tip protrusion (sn–prn)", ("subnasale", "pronasale"),
          lambda p: _d(p["subnasale"], p["pronasale"]), "mm", "Farkas' sn–prn, 3D distance."),
    Def3D("e_line_upper_lip", "Upper lip to Ricketts E-line",
          ("labrale_superius", "pronasale", "soft_tissue_pogonion"),
          lambda p: _line_yz(p["labrale_superius"], p["pronasale"], p["soft_tissue_pogonion"]),
          "mm", "Signed: negative = behind the tip–pogonion line."),
    Def3D("e_line_lower_lip", "Lower lip to Ricketts E-line",
          ("labrale_inferius", "pronasale", "soft_tissue_pogonion"),
          lambda p: _line_yz(p["labrale_inferius"], p["pronasale"], p["soft_tissue_pogonion"]),
          "mm", "Signed: negative = behind the tip–pogonion line."),
    Def3D("chin_projection", "Chin projection to the nasion vertical",
          ("soft_tissue_pogonion", "soft_tissue_nasion"),
          lambda p: float(p["soft_tissue_pogonion"][2] - p["soft_tissue_nasion"][2]), "mm",
          "Signed: negative = pogonion behind the vertical through soft-tissue nasion."),
)  # fmt: skip


def _propagate(d: Def3D, p: dict[str, FloatArray], sigma: Mapping[str, float]) -> float:
    """1-sigma of the value from the landmarks' isotropic uncertainties (central differences)."""
    var, h = 0.0, 1e-3
    for name in d.landmarks:
        s = sigma.get(name, 0.0) / math.sqrt(3.0)
        if s <= 0:
            continue
        base = p[name]
        for k in range(3):
            e = np.zeros(3)
            e[k] = h
            p[name] = base + e
            hi = d.formula(p)
            p[name] = base - e
            lo = d.formula(p)
            p[name] = base
            var += ((hi - lo) / (2 * h) * s) ** 2
    return math.sqrt(var)


def measure(
    landmarks: Mapping[str, Landmark3D],
    plane: MidSagittalPlane,
    scale: MeshScale,
    definitions: tuple[Def3D, ...] = DEFINITIONS,
) -> tuple[Measurement3D, ...]:
    """Every definition whose landmarks are all present, in catalogue order."""
    p = {k: plane.to_face(v.position) for k, v in landmarks.items()}
    sigma = {k: v.uncertainty_mm for k, v in landmarks.items()}
    out = []
    for d in definitions:
        if not all(k in p for k in d.landmarks):
            continue
        value = d.formula(p)
        if not math.isfinite(value):
            continue
        u = _propagate(d, p, sigma)
        if d.unit == "mm":
            u = math.hypot(u, scale.relative_uncertainty * abs(value))
        out.append(Measurement3D(d.id, d.name, value, d.unit, u, d.landmarks, scale, d.description))
    return tuple(out)


def findings(
    measurements: Sequence[Measurement3D], *, sex: str | None, tables: FindingTables
) -> tuple[Finding, ...]:
    """The finding rules (:mod:`analysis.findings`) on the 3D values: they share the
    catalogue's ids and units, so the 2D norms and rules judge them as they are; a 3D value
    without a catalogue counterpart (``nasal_tip_protrusion``) raises nothing."""
    values = [
        Measurement(m.id, m.name, m.value, m.unit, m.uncertainty, m.landmarks) for m in measurements
    ]
    return evaluate_measurements(values, sex=sex, tables=tables)
