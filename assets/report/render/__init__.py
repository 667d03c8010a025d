"""The report that leaves the server: one self-contained HTML file plus the same tables as CSV and LaTeX.

Pure (no Dagster). Every table passes :func:`models.disclosure.gate` before it is shown, written or
plotted; figures are drawn only from approved (gated) tables.

Modules: :mod:`.inputs` (the pipeline outputs the report reads, declared once by file and column),
:mod:`.truth` (the synthetic generator's truth file), :mod:`.tables` and :mod:`.modality` (the tables as
the gate sees them), :mod:`.gating` (the gate, linked tables in order), :mod:`.cells` (formatted cells,
CSV, LaTeX), :mod:`.figures` and :mod:`.diagnostic_figures`, :mod:`.text` (sentences from the numbers),
:mod:`.sections` (the sections as data, and the completeness rule), :mod:`.compose` (the Jinja2
templates under ``templates/``: HTML, CSS and prose; writing the report folder).
"""

from assets.report.render.compose import (
    Report,
    WrittenReport,
    build_report,
    code_version,
    render_run,
    section_intro,
    write_report,
)
from assets.report.render.inputs import REPORT_INPUTS, ReportInputError, ReportInputs, load_inputs
from assets.report.render.sections import SECTIONS
from assets.report.render.tables import estimates_spec
from assets.report.render.text import run_status
from assets.report.render.truth import load_truth, normalize_truth, true_value

__all__ = [
    "REPORT_INPUTS",
    "SECTIONS",
    "Report",
    "ReportInputError",
    "ReportInputs",
    "WrittenReport",
    "build_report",
    "code_version",
    "estimates_spec",
    "load_inputs",
    "load_truth",
    "normalize_truth",
    "render_run",
    "run_status",
    "section_intro",
    "true_value",
    "write_report",
]
