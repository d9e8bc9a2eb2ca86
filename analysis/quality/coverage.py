"""Which catalogue measurements a photo's view allows, and why the others were not made.

Each measurement's definition names the views it is valid for (frontal measurements need
a frontal photo: on a turned head one side is foreshortened and the midline moves; profile
measurements need the soft-tissue outline of a profile). An oblique photo therefore gets
none, and its result must say so rather than come back "reliable" and empty. An asymmetry
value whose points the photo did not confirm (``SemanticLandmarks.unconfirmed``: the
refinement or its perturbation test, :mod:`analysis.confirm`) is withheld, and says so too.
The analysis message (which the SR carries) and the PDF report both word it from
:func:`missing_measurements`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from analysis import measurements as catalogue
from analysis.landmark_names import resolve
from analysis.types import View

#: The reason given for an asymmetry value the photo did not confirm.
NOT_CONFIRMED: Final = (
    "asymmetry not confirmed in this photo: it did not hold when the photo was re-encoded, "
    "shifted or resized, or the mirror match failed"
)

#: Why a view rules out what it does (said once per message, after the reason).
_WHY: Final[dict[View, str]] = {
    View.OBLIQUE_LEFT: (
        "a turned head foreshortens one side of the face and moves the midline, and it shows "
        "no profile outline"
    ),
    View.OBLIQUE_RIGHT: (
        "a turned head foreshortens one side of the face and moves the midline, and it shows "
        "no profile outline"
    ),
    View.PROFILE_LEFT: "a profile shows one side of the face only",
    View.PROFILE_RIGHT: "a profile shows one side of the face only",
}


def view_words(view: View) -> str:
    """``oblique_right`` → "oblique right"."""
    return view.value.replace("_", " ")


def missing_measurements(
    present: Iterable[str], view: View, unconfirmed: Iterable[str] = ()
) -> list[tuple[str, list[str]]]:
    """Catalogue measurements this photo lacks, by reason: (reason, [measurement ids]).

    ``unconfirmed``: the landmark names the photo did not confirm; a missing asymmetry
    value standing on one of them was withheld for that reason."""
    have = set(present)
    doubtful = set(unconfirmed)
    not_for_view: list[str] = []
    withheld: list[str] = []
    no_landmarks: list[str] = []
    for d in catalogue.CATALOGUE:
        if d.id in have:
            continue
        if view not in d.views:
            not_for_view.append(d.id)
        elif any(resolve(n) in doubtful for n in d.confirm):
            withheld.append(d.id)
        else:
            no_landmarks.append(d.id)
    out = []
    if not_for_view:
        name = view_words(view)
        article = "an" if name[0] in "aeiou" else "a"
        out.append((f"not valid for {article} {name} view", not_for_view))
    if withheld:
        out.append((NOT_CONFIRMED, withheld))
    if no_landmarks:
        out.append(("landmarks needed were not found", no_landmarks))
    return out


def valid_for(view: View) -> list[str]:
    """The catalogue measurements valid for ``view``, in catalogue order."""
    return [d.id for d in catalogue.CATALOGUE if view in d.views]


def coverage_note(present: Iterable[str], view: View, unconfirmed: Iterable[str] = ()) -> str:
    """One sentence for the analysis message: how many measurements the view allows were
    made, and which were not made and why (by the definitions' kind: frontal or profile).

    E.g. "oblique right view: no catalogue measurement is valid for it; not made: 62
    frontal and 14 profile measurements (not valid for an oblique right view: a turned
    head foreshortens …)".
    """
    made = list(present)
    allowed = valid_for(view)
    head = f"{view_words(view)} view: "
    if allowed:
        head += f"{sum(1 for m in made if m in allowed)} of its {len(allowed)} measurements made"
    else:
        head += "no catalogue measurement is valid for it"
    parts = []
    for reason, ids in missing_measurements(made, view, unconfirmed):
        kinds = _by_kind(ids)
        why = _WHY.get(view, "") if reason.startswith("not valid") else ""
        parts.append(f"{kinds} ({reason}{': ' + why if why else ''})")
    if not parts:
        return head
    return head + "; not made: " + "; ".join(parts)


def withheld_note(present: Iterable[str], view: View, unconfirmed: Iterable[str]) -> str | None:
    """The asymmetry values a photo of an allowed view withheld, by name, and why (None:
    none). E.g. "not reported: Chin (menton) deviation from the midline (asymmetry not
    confirmed in this photo: …)"."""
    for reason, ids in missing_measurements(present, view, unconfirmed):
        if reason == NOT_CONFIRMED:
            names = ", ".join(catalogue.definition(i).name for i in ids)
            return f"not reported: {names} ({reason})"
    return None


def _by_kind(ids: list[str]) -> str:
    """ "62 frontal and 14 profile measurements" from measurement ids."""
    counts: dict[str, int] = {}
    for mid in ids:
        kind = "frontal" if View.FRONTAL in catalogue.definition(mid).views else "profile"
        counts[kind] = counts.get(kind, 0) + 1
    words = [f"{n} {kind}" for kind, n in counts.items()]
    total = sum(counts.values())
    return " and ".join(words) + (" measurement" if total == 1 else " measurements")
