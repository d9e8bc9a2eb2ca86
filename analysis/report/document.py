"""The report's layout: A4 pages of platypus flowables, rendered to PDF bytes.

Order, as a radiology report reads: title and the "AI result - not a diagnosis" notice,
patient and study, then per photo the annotated photo beside its key facts (view, pose,
scale, reliability), findings with their evidence, quality and reliability warnings
(including the measurements not made and why), the measurement table per group against
norms with a z-score plot, the other annotated images; last the algorithms and models with
their licences, the norm sources and how to read the numbers. Every page repeats the
notice at the top and the patient, page number and creation time at the bottom.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from analysis import measurements as catalogue
from analysis.quality.coverage import missing_measurements
from analysis.report.fonts import ReportFonts, report_fonts
from analysis.report.model import PhotoSection, ReportImage, ReportRequest
from analysis.report.picture import JpegPicture
from analysis.report.plot import z_plot
from analysis.report.rows import Row, group_of, grouped_rows
from analysis.report.wording import (
    SEVERITY_LABEL,
    flag_text,
    number,
    quality_text,
    signed,
    with_unit,
    words,
)
from analysis.types import Finding, PhotoAnalysis, View
from config.tables import NormRow, NormTable

DISCLAIMER: Final = "AI result \u2013 not a diagnosis"
MARGIN: Final = 15 * mm
WIDTH: Final = A4[0] - 2 * MARGIN
INK: Final = colors.HexColor("#1b1f24")
MUTED: Final = colors.HexColor("#5f6b76")
NAVY: Final = colors.HexColor("#1f3a5f")
RED: Final = colors.HexColor("#aa1414")
RULE: Final = colors.HexColor("#c8ced4")
ZEBRA: Final = colors.HexColor("#f3f5f7")
OK_GREEN: Final = colors.HexColor("#2e7d32")
WARN_BG: Final = colors.HexColor("#fff4e0")
WARN_EDGE: Final = colors.HexColor("#d9822b")
NOTICE_BG: Final = colors.HexColor("#fbeaea")
SEVERITY_COLOUR: Final = {
    "info": colors.HexColor("#51606f"),
    "mild": colors.HexColor("#b7791f"),
    "moderate": colors.HexColor("#d9622b"),
    "marked": colors.HexColor("#b3261e"),
}
#: Measurement table columns (mm): name, value ± 1σ, norm, z, flag, notes.
_COLS: Final = (56, 27, 37, 11, 17, 32)


class _Styles:
    """Paragraph styles in the registered font family."""

    def __init__(self, fonts: ReportFonts) -> None:
        base = {"fontName": fonts.regular, "textColor": INK}
        self.title = ParagraphStyle("title", **base, fontSize=17, leading=21)
        self.title.fontName = fonts.bold
        self.subtitle = ParagraphStyle("subtitle", **base, fontSize=9, leading=12)
        self.subtitle.textColor = MUTED
        self.h1 = ParagraphStyle("h1", **base, fontSize=12.5, leading=16, spaceBefore=8,
                                 spaceAfter=4, keepWithNext=1)  # fmt: skip
        self.h1.fontName, self.h1.textColor = fonts.bold, NAVY
        self.h2 = ParagraphStyle("h2", **base, fontSize=10, leading=13, spaceBefore=7,
                                 spaceAfter=3, keepWithNext=1)  # fmt: skip
        self.h2.fontName, self.h2.textColor = fonts.bold, NAVY
        self.h3 = ParagraphStyle("h3", **base, fontSize=8.5, leading=11, spaceBefore=5,
                                 spaceAfter=2, keepWithNext=1)  # fmt: skip
        self.h3.fontName = fonts.bold
        self.body = ParagraphStyle("body", **base, fontSize=8.5, leading=11.2)
        self.small = ParagraphStyle("small", **base, fontSize=7, leading=8.8)
        self.small_muted = ParagraphStyle("small_muted", **base, fontSize=7, leading=8.8)
        self.small_muted.textColor = MUTED
        self.cell = ParagraphStyle("cell", **base, fontSize=7.3, leading=8.8)
        self.cell_right = ParagraphStyle("cell_right", parent=self.cell, alignment=TA_RIGHT)
        self.label = ParagraphStyle("label", **base, fontSize=7.3, leading=9)
        self.label.textColor = MUTED
        self.value = ParagraphStyle("value", **base, fontSize=8.5, leading=10.5)
        self.bullet = ParagraphStyle("bullet", parent=self.body, leftIndent=9, bulletIndent=1,
                                     bulletFontName=fonts.regular)  # fmt: skip
        self.notice = ParagraphStyle("notice", **base, fontSize=8.5, leading=11.2)
        self.source = ParagraphStyle("source", parent=self.small, leftIndent=16, bulletIndent=0,
                                     spaceAfter=1.5, bulletFontName=fonts.regular,
                                     bulletFontSize=7)  # fmt: skip


def render_report(request: ReportRequest, norms: NormTable | None) -> bytes:
    """The report as PDF bytes; ``norms`` (None: no norm columns) judge the measurements."""
    fonts = report_fonts()
    story = _Story(request, norms, fonts, _Styles(fonts))
    return _render(request, fonts, story.build())


def render_note(request: ReportRequest, heading: str, paragraphs: Sequence[str]) -> bytes:
    """A short note in the report's look instead of a report, e.g. that a result was not
    made and why: the page furniture, ``request.title``, patient and study, ``heading``,
    the first paragraph in a warning box and the others below it. ``request.sections`` is
    not read."""
    fonts = report_fonts()
    story = _Story(request, None, fonts, _Styles(fonts))
    return _render(request, fonts, story.note(heading, paragraphs))


def _render(request: ReportRequest, fonts: ReportFonts, story: list[Flowable]) -> bytes:
    # JPEGs go in as they are: ASCII85 (reportlab's default, pure Python without its
    # optional accelerator) costs ~0.5 s per image and makes them 25 % larger.
    rl_config.useA85 = 0
    buf = io.BytesIO()
    doc = BaseDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=21 * mm,
        bottomMargin=19 * mm,
        title=request.title,
        author=_software_name(request),
        subject=DISCLAIMER,
        creator=f"{request.software.name} {request.software.version}",
        initialFontName=fonts.regular,  # no unused Helvetica in the font list
    )
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body",
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)  # fmt: skip
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    doc.build(story, canvasmaker=_canvas_class(request, fonts))
    return buf.getvalue()


# --- page furniture --------------------------------------------------------------------


def _canvas_class(request: ReportRequest, fonts: ReportFonts) -> type:
    """A canvas that draws header and footer on every page once the page count is known."""
    patient = " · ".join(
        p for p in (request.header.patient_name, request.header.patient_id and
                    f"ID {request.header.patient_id}") if p
    )  # fmt: skip
    created = request.created.strftime("%Y-%m-%d %H:%M")
    software = f"{request.software.name} {request.software.version}"

    class NumberedCanvas(Canvas):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._furniture(total)
                super().showPage()
            super().save()

        def _furniture(self, total: int) -> None:
            w, h = A4
            top = h - 12 * mm
            self.saveState()
            self.setFont(fonts.bold, 8.5)
            self.setFillColor(NAVY)
            self.drawString(MARGIN, top, fonts.safe(request.title))
            self.setFillColor(RED)
            self.drawRightString(w - MARGIN, top, fonts.safe(DISCLAIMER.upper()))
            self.setStrokeColor(RED)
            self.setLineWidth(0.8)
            self.line(MARGIN, top - 2.5 * mm, w - MARGIN, top - 2.5 * mm)
            bottom = 11 * mm
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            self.line(MARGIN, bottom + 4 * mm, w - MARGIN, bottom + 4 * mm)
            self.setFont(fonts.regular, 7)
            self.setFillColor(MUTED)
            self.drawString(MARGIN, bottom, fonts.safe(patient or "Patient not identified"))
            self.drawCentredString(w / 2, bottom, f"Page {self._pageNumber} of {total}")
            self.drawRightString(w - MARGIN, bottom, fonts.safe(f"{software} · {created}"))
            self.setFont(fonts.italic, 6.5)
            self.drawCentredString(
                w / 2, bottom - 3.5 * mm,
                fonts.safe("Computer-generated measurements for review by the treating "
                           f"clinician. {DISCLAIMER}."),
            )  # fmt: skip
            self.restoreState()

    return NumberedCanvas


# --- the story -------------------------------------------------------------------------


class _Story:
    def __init__(
        self,
        request: ReportRequest,
        norms: NormTable | None,
        fonts: ReportFonts,
        styles: _Styles,
    ) -> None:
        self.r = request
        self.norms = norms
        self.fonts = fonts
        self.s = styles
        self.citations: dict[str, int] = {}

    def p(self, text: str, style: ParagraphStyle | None = None) -> Paragraph:
        """A paragraph of plain text (escaped, reduced to what the font draws)."""
        return Paragraph(escape(self.fonts.safe(text)), style or self.s.body)

    def markup(self, html: str, style: ParagraphStyle | None = None) -> Paragraph:
        """A paragraph of trusted mini-HTML whose text parts the caller escaped."""
        return Paragraph(html, style or self.s.body)

    def t(self, text: str) -> str:
        return escape(self.fonts.safe(text))

    def style(self, commands: Sequence[tuple[Any, ...]]) -> TableStyle:
        """A table style in the report's font (reportlab's table default is Helvetica)."""
        return TableStyle([("FONTNAME", (0, 0), (-1, -1), self.fonts.regular), *commands])

    def build(self) -> list[Flowable]:
        story: list[Flowable] = [
            self.p(self.r.title + " report", self.s.title),
            self.p("Automated analysis of clinical photographs of the face", self.s.subtitle),
            Spacer(1, 4 * mm),
            self._notice(),
            Spacer(1, 4 * mm),
            self._patient_table(),
        ]
        sections = self.r.sections
        if len(sections) > 1:
            story += [self.p("Summary", self.s.h1), self._summary_table()]
        for i, section in enumerate(sections, start=1):
            story += self._photo(i, len(sections), section)
        story += self._algorithms()
        story += self._sources()
        story += self._reading_notes()
        return story

    def note(self, heading: str, paragraphs: Sequence[str]) -> list[Flowable]:
        story: list[Flowable] = [
            self.p(self.r.title, self.s.title),
            Spacer(1, 4 * mm),
            self._patient_table(),
            self.p(heading, self.s.h1),
        ]
        if paragraphs:
            story.append(self._box(paragraphs[0], WARN_BG, WARN_EDGE))
        for text in paragraphs[1:]:
            story += [Spacer(1, 2 * mm), self.p(text)]
        return story

    # --- front matter ---

    def _notice(self) -> Flowable:
        text = f"<b>{self.t(DISCLAIMER)}.</b> " + self.t(
            f"This report was produced automatically by {_software_name(self.r)} "
            f"{self.r.software.version} from the photographs named below. Its measurements and "
            "findings are computer estimates, each with its uncertainty; they support, "
            "and do not replace, the judgement of a qualified clinician who has "
            "examined the patient."
        )
        box = Table([[self.markup(text, self.s.notice)]], colWidths=[WIDTH])
        box.setStyle(self.style([
            ("BACKGROUND", (0, 0), (-1, -1), NOTICE_BG),
            ("LINEBEFORE", (0, 0), (0, -1), 3, RED),
            ("LEFTPADDING", (0, 0), (-1, -1), 8),
            ("TOPPADDING", (0, 0), (-1, -1), 5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
        ]))  # fmt: skip
        return box

    def _patient_table(self) -> Flowable:
        h = self.r.header
        pairs = [
            ("Patient", h.patient_name or "—"), ("Patient ID", h.patient_id or "—"),
            ("Birth date", h.birth_date or "—"), ("Sex", h.sex or "—"),
            ("Study date", h.study_date or "—"), ("Accession number", h.accession_number or "—"),
            ("Study", h.study_description or "—"),
            ("Referring physician", h.referring_physician or "—"),
            ("Institution", h.institution or "—"),
            ("Report created", self.r.created.strftime("%Y-%m-%d %H:%M")),
        ]  # fmt: skip
        rows = []
        for k in range(0, len(pairs), 2):
            row: list[Any] = []
            for label, value in pairs[k : k + 2]:
                row += [self.p(label, self.s.label), self.p(value, self.s.value)]
            rows.append(row)
        table = Table(rows, colWidths=[28 * mm, 62 * mm, 30 * mm, 60 * mm])
        table.setStyle(self.style([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -2), 0.3, RULE),
            ("LINEABOVE", (0, 0), (-1, 0), 0.8, NAVY),
            ("LINEBELOW", (0, -1), (-1, -1), 0.8, NAVY),
            ("TOPPADDING", (0, 0), (-1, -1), 2.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ]))  # fmt: skip
        return table

    def _summary_table(self) -> Flowable:
        head = ["#", "Photo", "View", "Result", "Measurements", "Findings"]
        rows: list[list[Any]] = [[self.p(x, self.s.label) for x in head]]
        for i, s in enumerate(self.r.sections, start=1):
            a = s.analysis
            rows.append([
                self.p(str(i), self.s.cell), self.p(s.label, self.s.cell),
                self.p(_view_text(a), self.s.cell),
                self.markup(self._status_markup(a), self.s.cell),
                self.p(str(len(a.measurements)), self.s.cell_right),
                self.p(str(len(a.findings)), self.s.cell_right),
            ])  # fmt: skip
        table = Table(rows, colWidths=[8 * mm, 62 * mm, 30 * mm, 40 * mm, 22 * mm, 18 * mm],
                      repeatRows=1)  # fmt: skip
        table.setStyle(self.style(_GRID))
        return table

    # --- one photo ---

    def _photo(self, index: int, total: int, section: PhotoSection) -> list[Flowable]:
        a = section.analysis
        heading = f"Photo {index} of {total}: {section.label}" if total > 1 else (
            f"Photo: {section.label}")  # fmt: skip
        out: list[Flowable] = [CondPageBreak(70 * mm), self.p(heading, self.s.h1)]
        out.append(self._photo_overview(section))
        if not a.face_found:
            out.append(Spacer(1, 3 * mm))
            out.append(self._box(
                "No face was detected in this photo, so no landmarks, measurements or "
                "findings were made. Check that the photo shows the face, in focus and not "
                "cut off, and send it again.", WARN_BG, WARN_EDGE,
            ))  # fmt: skip
            out += self._images(section.images[1:])
            return out
        out += self._findings(a)
        out += self._warnings(a)
        out += self._measurements(a)
        out += self._images(section.images[1:])
        return out

    def _photo_overview(self, section: PhotoSection) -> Flowable:
        facts = self._facts(section)
        image: Any = self.p("(no image)", self.s.small_muted)
        if section.images:
            image = self._image_block(section.images[0], 84 * mm, 105 * mm)
        table = Table([[image, facts]], colWidths=[88 * mm, WIDTH - 88 * mm])
        table.setStyle(self.style([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (0, 0), 4 * mm),
        ]))  # fmt: skip
        return table

    def _facts(self, section: PhotoSection) -> Flowable:
        a = section.analysis
        rows: list[tuple[str, str]] = list(section.details)
        rows.append(("Result", ""))  # placeholder, replaced by markup below
        q, sc = a.quality, a.scale
        if q is not None:
            rows.append(("View", _view_text(a)))
            if q.pose is not None:
                rows.append(("Head pose", (
                    f"yaw {signed_deg(q.pose.yaw)}, pitch {signed_deg(q.pose.pitch)}, "
                    f"roll {signed_deg(q.pose.roll)}")))  # fmt: skip
            faces = str(q.face_count) + (" (the largest was analysed)" if q.face_count > 1 else "")
            rows.append(("Faces detected", faces))
            rows.append(("Detection confidence", f"{q.detection_confidence * 100:.0f} %"))
            rows.append(("Face size", f"{q.face_size_px:.0f} px"))
            expression = [w for w, on in (("mouth open", q.mouth_open), ("smiling", q.smile)) if on]
            rows.append(("Expression", ", ".join(expression) or "neutral"))
        if sc is not None:
            if sc.mm_per_px:
                value = (f"{sc.mm_per_px:.4f} mm/px ± {sc.relative_uncertainty * 100:.1f} % "
                         f"({words(sc.source.value)})")  # fmt: skip
            else:
                value = "none: lengths are in pixels"
            rows.append(("Scale", value))
            if sc.note:
                rows.append(("Scale basis", sc.note))
        rows.append(("Measurements", str(len(a.measurements))))
        rows.append(("Findings", str(len(a.findings))))
        cells: list[list[Any]] = []
        for label, value in rows:
            cell = (self.markup(self._status_markup(a), self.s.value) if label == "Result"
                    else self.p(value, self.s.value))  # fmt: skip
            cells.append([self.p(label, self.s.label), cell])
        table = Table(cells, colWidths=[30 * mm, WIDTH - 88 * mm - 30 * mm])
        table.setStyle(self.style([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -2), 0.3, RULE),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ]))  # fmt: skip
        return table

    def _status_markup(self, a: PhotoAnalysis) -> str:
        if not a.face_found:
            return f'<font color="{WARN_EDGE.hexval()}"><b>No face detected</b></font>'
        if a.reliable:
            return f'<font color="{OK_GREEN.hexval()}"><b>Reliable</b></font>'
        flags = a.quality.flags if a.quality is not None else ()
        reasons = ", ".join(words(f) for f in flags)
        return (f'<font color="{RED.hexval()}"><b>UNRELIABLE</b></font> '
                f"{self.t(reasons)}")  # fmt: skip

    def _box(self, text: str, background: colors.Color, edge: colors.Color) -> Flowable:
        box = Table([[self.p(text, self.s.body)]], colWidths=[WIDTH])
        box.setStyle(self.style([
            ("BACKGROUND", (0, 0), (-1, -1), background),
            ("LINEBEFORE", (0, 0), (0, -1), 3, edge),
            ("LEFTPADDING", (0, 0), (-1, -1), 8),
            ("TOPPADDING", (0, 0), (-1, -1), 4),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ]))  # fmt: skip
        return box

    # --- findings ---

    def _findings(self, a: PhotoAnalysis) -> list[Flowable]:
        out: list[Flowable] = [self.p("Findings", self.s.h2)]
        if not a.findings:
            out.append(self.p("No finding was raised: no rule of the finding table fired on "
                              "the reliable measurements of this photo."))  # fmt: skip
            return out
        for f in a.findings:
            out.append(KeepTogether(self._finding(f)))
        return out

    def _finding(self, f: Finding) -> list[Flowable]:
        colour = SEVERITY_COLOUR.get(f.severity, MUTED).hexval()
        severity = SEVERITY_LABEL.get(f.severity, f.severity)
        head = (f'<b>{self.t(f.title)}</b>  <font color="{colour}"><b>{self.t(severity)}</b>'
                f"</font>  <font color=\"{MUTED.hexval()}\">confidence "
                f"{f.confidence * 100:.0f} %</font>")  # fmt: skip
        out: list[Flowable] = [Spacer(1, 2), self.markup(head, self.s.body),
                               self.p(f.text, self.s.body)]  # fmt: skip
        if f.evidence:
            rows: list[list[Any]] = [
                [
                    self.p(x, self.s.label)
                    for x in ("Evidence", "Value", "Norm (mean ± SD)", "z", "Population")
                ]
            ]
            for e in f.evidence:
                norm = (f"{number(e.norm_mean, e.unit)} ± {number(e.norm_sd, e.unit)}"
                        if e.norm_mean is not None and e.norm_sd is not None else "–")  # fmt: skip
                rows.append([
                    self.p(_measurement_name(e.measurement_id), self.s.cell),
                    self.p(with_unit(e.value, e.unit), self.s.cell),
                    self.p(norm, self.s.cell), self.p(signed(e.z_score), self.s.cell),
                    self.p(e.population or "–", self.s.cell),
                ])  # fmt: skip
            table = Table(rows, colWidths=[50 * mm, 22 * mm, 32 * mm, 12 * mm, WIDTH - 116 * mm])
            table.setStyle(self.style(_GRID))
            out += [Spacer(1, 2), table]
        out.append(Spacer(1, 3))
        return out

    # --- warnings ---

    def _warnings(self, a: PhotoAnalysis) -> list[Flowable]:
        items: list[str] = []
        q = a.quality
        if q is not None:
            items += [quality_text(f) for f in q.flags]
            if q.face_count > 1:
                items.append(f"{q.face_count} faces are in the photo; the largest was analysed.")
            if q.view_source != "dicom":
                items.append(
                    f"The view ({words(q.view.value)}) was estimated from the photo; the "
                    "DICOM header did not state it (View Code Sequence)."
                )
        if a.scale is not None:
            if a.scale.mm_per_px is None:
                items.append("No millimetre scale: lengths are reported in pixels and are not "
                             "compared with norms.")  # fmt: skip
            elif a.scale.source.value == "assumed_interpupillary_distance":
                items.append(
                    "Millimetre values rest on an assumed average interpupillary distance, not "
                    "on a measured reference; their uncertainty includes that assumption."
                )
            elif a.scale.source.value == "iris_diameter_and_assumed_interpupillary_distance":
                items.append(
                    "The iris scale disagreed with the average interpupillary distance; "
                    "millimetre values rest on both combined, and their uncertainty is widened "
                    "to cover the disagreement."
                )
        counts: dict[str, int] = {}
        for m in a.measurements:
            for f in m.flags:
                counts[str(f)] = counts.get(str(f), 0) + 1
        for flag, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            items.append(f"{n} measurement{'s' if n != 1 else ''} marked “{flag_text(flag)}”.")
        view = q.view if q is not None else View.UNKNOWN
        if a.face_found:
            unconfirmed = a.semantic.unconfirmed if a.semantic is not None else frozenset()
            present = (m.id for m in a.measurements)
            for reason, names in missing_measurements(present, view, unconfirmed):
                by_group: dict[str, int] = {}
                for name_id in names:
                    g = group_of(name_id)
                    by_group[g] = by_group.get(g, 0) + 1
                groups = ", ".join(f"{g.lower()} ({n})" for g, n in by_group.items())
                items.append(f"Not measured ({reason}): {groups}.")
        out: list[Flowable] = [self.p("Quality and reliability", self.s.h2)]
        if not items:
            out.append(self.p("The photo passed every automated quality check."))
            return out
        for text in items:
            out.append(Paragraph(self.t(text), self.s.bullet, bulletText="•"))
        return out

    # --- measurements ---

    def _measurements(self, a: PhotoAnalysis) -> list[Flowable]:
        out: list[Flowable] = [
            CondPageBreak(60 * mm),
            self.p("Measurements against norms", self.s.h2),
        ]
        if not a.measurements:
            out.append(self.p("No measurement was made on this photo (see above for why)."))
            return out
        sex = self.r.sex if self.r.sex in ("M", "F") else None
        population = {"M": "male", "F": "female"}.get(sex or "", "sex not stated: pooled")
        out.append(self.p(
            f"Values ± one standard uncertainty. Norm: mean ± SD (range) of the reference "
            f"population [source number]; norm rows for {population}. z = (value − mean) / SD; "
            "flagged when |z| > 2 or outside the range. Plots: bands at |z| ≤ 1 and ≤ 2; a red "
            "dot is flagged, a hollow one is a value the analysis marked less reliable.",
            self.s.small_muted,
        ))  # fmt: skip
        for title, rows in grouped_rows(a.measurements, self.norms, sex):
            group: list[Flowable] = [self.p(title, self.s.h3), self._measurement_table(rows)]
            plot = z_plot(rows, WIDTH, 62 * mm, self.fonts)
            if plot is not None:
                group += [Spacer(1, 2), plot]
            out.append(KeepTogether(group))
        return out

    def _measurement_table(self, rows: Sequence[Row]) -> Flowable:
        head = ("Measurement", "Value ± 1σ", "Norm", "z", "Flag", "Notes")
        data: list[list[Any]] = [[self.p(x, self.s.label) for x in head]]
        flagged_rows = []
        for i, row in enumerate(rows, start=1):
            m = row.measurement
            value = f"{number(m.value, m.unit)} ± {with_unit(m.uncertainty, m.unit)}"
            flag = (f'<font color="{RED.hexval()}"><b>{self.t(row.flag)}</b></font>'
                    if row.flag else "")  # fmt: skip
            notes = "; ".join(flag_text(f) for f in m.flags)
            data.append([
                self.p(m.name, self.s.cell), self.p(value, self.s.cell_right),
                self.p(self._norm_text(row.norm), self.s.cell),
                self.p(signed(row.z), self.s.cell_right),
                self.markup(flag, self.s.cell), self.p(notes, self.s.cell),
            ])  # fmt: skip
            if row.flag:
                flagged_rows.append(i)
        table = Table(data, colWidths=[c * mm for c in _COLS], repeatRows=1)
        style = self.style(_GRID)
        for i in flagged_rows:
            style.add("BACKGROUND", (0, i), (-1, i), colors.HexColor("#fdf0ef"))
        table.setStyle(style)
        return table

    def _norm_text(self, norm: NormRow | None) -> str:
        if norm is None:
            return "–"
        text = f"{number(norm.mean, norm.unit)} ± {number(norm.sd, norm.unit)}"
        if norm.min is not None or norm.max is not None:
            lo = number(norm.min, norm.unit) if norm.min is not None else ""
            hi = number(norm.max, norm.unit) if norm.max is not None else ""
            text += f" ({lo}–{hi})"
        key = f"{norm.population} — {norm.citation}"
        ref = self.citations.setdefault(key, len(self.citations) + 1)
        return f"{text} [{ref}]"

    # --- images ---

    def _images(self, images: Sequence[ReportImage]) -> list[Flowable]:
        if not images:
            return []
        cells = [self._image_block(img, 86 * mm, 112 * mm) for img in images]
        rows = [cells[k : k + 2] + [""] * (2 - len(cells[k : k + 2]))
                for k in range(0, len(cells), 2)]  # fmt: skip
        table = Table(rows, colWidths=[WIDTH / 2, WIDTH / 2])
        table.setStyle(self.style([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("ALIGN", (0, 0), (-1, -1), "CENTER"),
            ("LEFTPADDING", (0, 0), (-1, -1), 1 * mm),
            ("RIGHTPADDING", (0, 0), (-1, -1), 1 * mm),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 4 * mm),
        ]))  # fmt: skip
        return [CondPageBreak(90 * mm), self.p("Annotated images", self.s.h2), table]

    def _image_block(self, img: ReportImage, box_w: float, box_h: float) -> list[Flowable]:
        scale = min(box_w / img.width, box_h / img.height)
        picture = JpegPicture(img.jpeg, img.width * scale, img.height * scale)
        picture.hAlign = "LEFT"
        return [picture, Spacer(1, 1.5), self.p(img.title, self.s.small_muted)]

    # --- back matter ---

    def _algorithms(self) -> list[Flowable]:
        sw = self.r.software
        head = ("Component", "Version", "Licence", "Use")
        rows: list[list[Any]] = [[self.p(x, self.s.label) for x in head]]
        node = f"{_software_name(self.r)} (analysis, measurements, findings, this report)"
        if sw.device_uid:
            node += f"; Device UID {sw.device_uid}"
        rows.append([self.p(node, self.s.cell), self.p(sw.version, self.s.cell),
                     self.p("see product documentation", self.s.cell),
                     self.p("clinical decision support", self.s.cell)])  # fmt: skip
        for m in self.r.models:
            use = (f'<font color="{RED.hexval()}"><b>NON-COMMERCIAL USE ONLY</b></font>'
                   if not m.commercial_use else "commercial use permitted")  # fmt: skip
            rows.append([self.p(f"{m.name} (id {m.id})", self.s.cell),
                         self.p(m.version, self.s.cell),
                         self.p(m.licence or "unknown", self.s.cell),
                         self.markup(use, self.s.cell)])  # fmt: skip
        table = Table(rows, colWidths=[64 * mm, 22 * mm, 48 * mm, WIDTH - 134 * mm], repeatRows=1)
        table.setStyle(self.style(_GRID))
        return [CondPageBreak(40 * mm), self.p("Algorithms and models", self.s.h1), table]

    def _sources(self) -> list[Flowable]:
        if not self.citations:
            return []
        out: list[Flowable] = [self.p("Norm sources", self.s.h2)]
        for text, n in self.citations.items():
            out.append(Paragraph(self.t(text), self.s.source, bulletText=f"[{n}]"))
        return out

    def _reading_notes(self) -> list[Flowable]:
        text = (
            "How to read this report: each value is computed from landmarks that a model "
            "placed on the photo, in millimetres where the photo gave a scale. "
            "The uncertainty (1σ) combines landmark placement and scale. Norms are "
            "population references, not targets; they differ by sex, age and ancestry, and "
            "their source is named for each row. Findings are raised by declarative rules "
            "from the measurements; a measurement the quality checks marked unreliable "
            f"raises none. {DISCLAIMER}."
        )
        return [Spacer(1, 4 * mm), self.p(text, self.s.small_muted)]


#: The look of every data table (header rule, zebra rows, tight padding).
_GRID: Final[list[tuple[Any, ...]]] = [
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LINEBELOW", (0, 0), (-1, 0), 0.8, NAVY),
    ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
    ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, ZEBRA]),
    ("TOPPADDING", (0, 0), (-1, -1), 1.6),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 2.2),
    ("LEFTPADDING", (0, 0), (-1, -1), 2.5),
    ("RIGHTPADDING", (0, 0), (-1, -1), 2.5),
]


def _software_name(r: ReportRequest) -> str:
    sw = r.software
    return sw.name if sw.manufacturer in ("", sw.name) else f"{sw.manufacturer} {sw.name}"


def signed_deg(x: float) -> str:
    return f"{x:+.1f}°".replace("-", "\u2212")


def _view_text(a: PhotoAnalysis) -> str:
    if a.quality is None:
        return "–"
    source = "from DICOM" if a.quality.view_source == "dicom" else "estimated"
    return f"{words(a.quality.view.value)} ({source})"


def _measurement_name(measurement_id: str) -> str:
    try:
        return catalogue.definition(measurement_id).name
    except KeyError:
        return words(measurement_id)
