"""Profile-view measurements from the soft-tissue profile points.

The profile may face either way; "anterior" is found from the points
(:func:`analysis.measurements.geometry.anterior_direction`). The photo is assumed to be in
natural head position, so "vertical" is the image vertical.

Definitions (angles in degrees, 0..180):

* nasolabial angle — at subnasale between the columella tangent (sn→columella) and the
  upper-lip tangent (sn→labrale superius) (Armijo et al., Plast Reconstr Surg 2012).
* nasofrontal angle — at soft-tissue nasion between glabella and the nasal dorsum line
  n→pronasale (Naini et al., Facial Plast Surg 2016).
* nasofacial angle — between the facial plane (glabella→soft-tissue pogonion) and the
  dorsum (n→pronasale) (Powell & Humphreys, Proportions of the Aesthetic Face, 1984).
* nasomental angle — at pronasale between nasion and soft-tissue pogonion (ibid.).
* facial convexity angle — at subnasale between glabella and soft-tissue pogonion; 180°
  is a straight profile, smaller = more convex (Legan & Burstone, J Oral Surg 1980, report
  its supplement, 12° ± 4°).
* lower face–throat angle — at soft-tissue menton between subnasale and the cervical point
  (Legan & Burstone 1980: 100° ± 7°). The *cervicomental* angle needs a point on the
  anterior neck below the cervical point, which the landmark vocabulary does not have.
* Goode ratio — tip projection (distance of pronasale from the line nasion→alar crease)
  over nasal length (nasion→pronasale); 0.55–0.60 ideal (Goode, in Powell & Humphreys).
* Ricketts E-line — signed distance of labrale superius / inferius from the line
  pronasale→soft-tissue pogonion: **negative = behind the line** (toward the face),
  positive = in front of it (Ricketts 1968: upper ≈ −4 mm, lower ≈ −2 mm).
* chin projection — horizontal distance of soft-tissue pogonion from the vertical through
  soft-tissue nasion (Gonzalez-Ulloa's zero meridian, with natural head position standing in
  for Frankfort horizontal): positive = in front of it, negative = behind (retrusive).
"""

from __future__ import annotations

from collections.abc import Callable

from analysis.geometry import dot
from analysis.measurements.definition import PROFILE_VIEWS, Definition, Kind
from analysis.measurements.geometry import (
    Pts,
    angle_at,
    angle_between,
    anterior_direction,
    dist,
    distance_to_line,
    ratio,
    signed_distance_to_line,
)
from analysis.types import FloatArray, View

PROFILE_IDEAL = frozenset({View.PROFILE_LEFT, View.PROFILE_RIGHT})


def nasolabial_angle(p: Pts) -> FloatArray:
    return angle_at(p["subnasale"], p["columella"], p["labrale_superius"])


def nasofrontal_angle(p: Pts) -> FloatArray:
    return angle_at(p["soft_tissue_nasion"], p["profile_glabella"], p["pronasale"])


def nasofacial_angle(p: Pts) -> FloatArray:
    return angle_between(
        p["soft_tissue_pogonion"] - p["profile_glabella"],
        p["pronasale"] - p["soft_tissue_nasion"],
    )


def nasomental_angle(p: Pts) -> FloatArray:
    return angle_at(p["pronasale"], p["soft_tissue_nasion"], p["soft_tissue_pogonion"])


def facial_convexity_angle(p: Pts) -> FloatArray:
    return angle_at(p["subnasale"], p["profile_glabella"], p["soft_tissue_pogonion"])


def lower_face_throat_angle(p: Pts) -> FloatArray:
    return angle_at(p["soft_tissue_menton"], p["subnasale"], p["cervical_point"])


def cervicomental_angle(p: Pts) -> FloatArray:
    return angle_at(p["cervical_point"], p["soft_tissue_menton"], p["neck_point"])


def goode_ratio(p: Pts) -> FloatArray:
    projection = distance_to_line(p["pronasale"], p["soft_tissue_nasion"], p["alar_crease"])
    return ratio(projection, dist(p["pronasale"], p["soft_tissue_nasion"]))


def _e_line(p: Pts, lip: str) -> FloatArray:
    return signed_distance_to_line(
        p[lip], p["pronasale"], p["soft_tissue_pogonion"], anterior_direction(p)
    )


def chin_projection(p: Pts) -> FloatArray:
    fwd = anterior_direction(p)
    return dot(p["soft_tissue_pogonion"] - p["soft_tissue_nasion"], fwd)


_FACING = ("pronasale", "soft_tissue_nasion", "subnasale")


def _d(
    id: str,
    name: str,
    landmarks: tuple[str, ...],
    formula: Callable[[Pts], FloatArray],
    kind: Kind,
    description: str,
) -> Definition:
    return Definition(
        id=id,
        name=name,
        landmarks=landmarks,
        formula=formula,
        kind=kind,
        views=PROFILE_VIEWS,
        ideal_views=PROFILE_IDEAL,
        description=description,
    )


DEFINITIONS: tuple[Definition, ...] = (
    _d(
        "nasolabial_angle",
        "Nasolabial angle",
        ("subnasale", "columella", "labrale_superius"),
        nasolabial_angle,
        Kind.ANGLE,
        "Columella tangent to upper-lip tangent at subnasale.",
    ),
    _d(
        "nasofrontal_angle",
        "Nasofrontal angle",
        ("soft_tissue_nasion", "profile_glabella", "pronasale"),
        nasofrontal_angle,
        Kind.ANGLE,
        "Glabella–nasion–pronasale.",
    ),
    _d(
        "nasofacial_angle",
        "Nasofacial angle",
        ("profile_glabella", "soft_tissue_pogonion", "soft_tissue_nasion", "pronasale"),
        nasofacial_angle,
        Kind.ANGLE,
        "Facial plane (g–pog) to nasal dorsum (n–prn).",
    ),
    _d(
        "nasomental_angle",
        "Nasomental angle",
        ("pronasale", "soft_tissue_nasion", "soft_tissue_pogonion"),
        nasomental_angle,
        Kind.ANGLE,
        "Nasion–pronasale–pogonion.",
    ),
    _d(
        "facial_convexity_angle",
        "Facial convexity angle (g–sn–pog)",
        ("subnasale", "profile_glabella", "soft_tissue_pogonion"),
        facial_convexity_angle,
        Kind.ANGLE,
        "Glabella–subnasale–pogonion; 180 = straight profile.",
    ),
    _d(
        "lower_face_throat_angle",
        "Lower face–throat angle (sn–me–C)",
        ("soft_tissue_menton", "subnasale", "cervical_point"),
        lower_face_throat_angle,
        Kind.ANGLE,
        "Subnasale–menton–cervical point (Legan & Burstone 1980).",
    ),
    _d(
        "cervicomental_angle",
        "Cervicomental angle (me–C–neck)",
        ("cervical_point", "soft_tissue_menton", "neck_point"),
        cervicomental_angle,
        Kind.ANGLE,
        "Submental line (menton–cervical point) against the anterior neck tangent at the "
        "cervical point (Ellenbogen & Karlin 1980); only when the neck is in the photo.",
    ),
    _d(
        "goode_ratio",
        "Goode tip-projection ratio",
        ("pronasale", "soft_tissue_nasion", "alar_crease"),
        goode_ratio,
        Kind.RATIO,
        "Tip projection from the nasion–alar-crease line over nasion–tip length.",
    ),
    _d(
        "e_line_upper_lip",
        "Upper lip to Ricketts E-line",
        (*_FACING, "labrale_superius", "soft_tissue_pogonion"),
        lambda p: _e_line(p, "labrale_superius"),
        Kind.LENGTH,
        "Signed: negative = behind the tip–pogonion line.",
    ),
    _d(
        "e_line_lower_lip",
        "Lower lip to Ricketts E-line",
        (*_FACING, "labrale_inferius", "soft_tissue_pogonion"),
        lambda p: _e_line(p, "labrale_inferius"),
        Kind.LENGTH,
        "Signed: negative = behind the tip–pogonion line.",
    ),
    _d(
        "chin_projection",
        "Chin projection to the nasion vertical",
        (*_FACING, "soft_tissue_pogonion"),
        chin_projection,
        Kind.LENGTH,
        "Signed: negative = pogonion behind the vertical through soft-tissue nasion.",
    ),
)
