"""Table contracts as plain data: every table one stage hands to another, from staging to the analysis table.

A :class:`TableContract` says where a stage writes a table (``<work>/<stage>/<file>``), what one row is, its
primary key, and each column's physical Parquet type, unit and role (:data:`ROLES`). Columns whose names
depend on the delivery or the run configuration (``kommune_<code>``, ``y_exit_<k>w``) are declared by a
:class:`ColumnPattern` (a regular expression with the same type, unit and role) rather than a fixed list.
Aggregates carry their disclosure structure (:class:`Disclosure`): which columns are counts of persons'
records, what defines a cell, and which counts are differences of others.

No Dagster import (``tests/test_layers.py``): ``assets/contracts.py`` checks files against these contracts
and writes through them, and ``assets/contract_defs.py`` makes the Dagster column schemas and the blocking
schema-and-key check of every output. Types are Polars' names (``str(pl.Int8) == "Int8"``), the types the
stages write today, so a contract check reads only a Parquet file's footer.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from data_contracts.codebook import FLOW_FORM_COLUMNS, FORM_COUNT_COLUMNS, SHARE_FORM_COLUMNS
from data_contracts.registers import Column, PhysicalType

Role = Literal[
    "key",  # part of the primary key
    "id",  # identifies a person or spell (cluster and fold unit), not the row
    "attribute",  # describes the row's unit (dates, weeks, codes) without being a design column
    "design",  # fixes the comparison: time, place, group (analysis table)
    "treatment",  # the treatment and its arms
    "outcome",  # an outcome, placebo or negative control
    "covariate",  # a pre-treatment covariate (no nulls: missing values are indicators)
    "flag",  # a 0/1 marker of a subset (first meeting of a spell)
    "status",  # the row's fate in a rule (excluded_by) or its validation
    "count",  # a count of records (subject to disclosure control in an aggregate)
    "share",  # a share or mean computed from counts (suppressed with them)
    "value",  # a measured value (income, weeks, a grad)
    "label",  # text for people: a rule's name or description
    "provenance",  # the reference date or year a covariate was taken from
]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]

# The column dictionary's roles (assets/analysis/logic.py ROLES); a contract's "key" is the dictionary's "id".
DICTIONARY_ROLE = {"key": "id"}


@dataclass(frozen=True)
class ColumnPattern:
    """Generated columns: every column whose whole name matches ``pattern`` has this type, unit and role.

    ``example`` is a name the pattern matches (used in messages and to build test fixtures).
    """

    pattern: str
    dtype: PhysicalType
    role: Role
    description: str
    example: str
    unit: str = ""
    nullable: bool = True

    def matches(self, name: str) -> bool:
        return re.fullmatch(self.pattern, name) is not None


@dataclass(frozen=True)
class Disclosure:
    """How an aggregate is protected: cells (rows, by the ``by`` columns) whose ``counts`` fall below the run
    configuration's ``disclosure.min_cell`` are suppressed together with the ``shares`` computed from them.

    ``differences`` lists (a, b, c) with a - b = c in every row: suppressing one of the three alone leaks it
    (it is the difference of the other two), so a gate must suppress a second one. ``chained`` lists
    (after, before) pairs where row i's ``after`` equals row i+1's ``before`` (the sample flow's steps).
    """

    unit: str
    by: tuple[str, ...]
    counts: tuple[str, ...]
    shares: tuple[str, ...] = ()
    differences: tuple[tuple[str, str, str], ...] = ()
    chained: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TableContract:
    """One table a stage writes for another: file, row, key, columns (fixed and generated), disclosure."""

    name: str
    stage: str
    file: str
    description: str
    row: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    patterns: tuple[ColumnPattern, ...] = ()
    # The Dagster asset whose materialisation the table belongs to (and whose check validates it).
    asset: str = ""
    disclosure: Disclosure | None = None
    # The name of a stage check that already counts duplicate keys cheaper than a generic count (the
    # contract check then checks the schema only), or "".
    key_checked_by: str = ""
    # False when the stage writes the table only for some configurations (e.g. the modality design's
    # potential outcomes) or may leave it out (feasibility): its check then passes when there is no file.
    required_file: bool = True

    @property
    def asset_name(self) -> str:
        return self.asset or self.name

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def path(self, work_dir: str | Path) -> Path:
        """``<work_dir>/<stage>/<file>``: where the stage writes this table."""
        return Path(work_dir) / self.stage / self.file

    def spec(self, name: str) -> Column | ColumnPattern | None:
        """The fixed column ``name``, else the first pattern it matches, else None (undeclared)."""
        for c in self.columns:
            if c.name == name:
                return c
        for p in self.patterns:
            if p.matches(name):
                return p
        return None

    def role(self, name: str) -> str | None:
        s = self.spec(name)
        return None if s is None else s.role


def _c(name: str, dtype: PhysicalType, role: Role, description: str, unit: str = "", **kw) -> Column:
    return Column(name, dtype, description, unit=unit, role=role, **kw)  # type: ignore[arg-type]


def _key(name: str, dtype: PhysicalType, description: str) -> Column:
    return _c(name, dtype, "key", description, nullable=False)


PNR = _c("pnr", "String", "id", "Pseudonymised person number (string, leading zeros kept)", nullable=False)
WEEK_INDEX = "continuous ISO week index (weeks since 1990-W01)"
MEETING_ID = _key(
    "meeting_id", "Int64", "Row number of the meeting in the staged samtaler (deterministic order)"
)

# --- cohort -------------------------------------------------------------------------------------------------

BENEFIT_WEEKS = TableContract(
    name="benefit_weeks",
    stage="cohort",
    file="benefit_weeks.parquet",
    description="Long DREAM: the weeks with a benefit code, with the code's group and kind",
    row="one person-week with a DREAM benefit code",
    key=("pnr", "week_index"),
    columns=(
        _c("pnr", "String", "key", PNR.description, nullable=False),
        _c("week_index", "Int32", "key", "Week of the code", unit=WEEK_INDEX, nullable=False),
        _c("iso_week", "String", "attribute", "ISO week, 'YYYY-Www'"),
        _c("code", "String", "value", "DREAM benefit code of the week"),
        _c("benefit_group", "String", "attribute", "The code's group (codebook dream_groups)"),
        _c("kind", "String", "attribute", "The code's kind (target, other benefit, exit, censoring, ...)"),
    ),
    # counted per person with a bitstring screen (assets/cohort/logic.py count_duplicate_person_weeks)
    key_checked_by="benefit_weeks_one_code_per_person_week",
)

EMPLOYMENT_MONTHS = TableContract(
    name="employment_months",
    stage="cohort",
    file="employment_months.parquet",
    description="Long DREAM grad_: the months with a degree of employment",
    row="one person-month with a grad",
    key=("pnr", "month_index"),
    asset="benefit_weeks",
    columns=(
        _c("pnr", "String", "key", PNR.description, nullable=False),
        _c("month_index", "Int32", "key", "Month of the grad", unit="months since 1990-01", nullable=False),
        _c("month_key", "String", "attribute", "Month, 'YYYY-MM'"),
        _c("grad", "Int16", "value", "Degree of employment in the month", unit="percent"),
    ),
)

DREAM_CALENDAR = TableContract(
    name="dream_calendar",
    stage="cohort",
    file="dream_calendar.parquet",
    description="DREAM's weeks: each week's y_ column and the month (grad_ column) it belongs to",
    row="one week DREAM delivers",
    key=("week_index",),
    asset="benefit_weeks",
    columns=(
        _c("week_index", "Int32", "key", "The week", unit=WEEK_INDEX, nullable=False),
        _c("iso_week", "String", "attribute", "ISO week, 'YYYY-Www'"),
        _c("y_column", "String", "attribute", "DREAM's column of the week (y_YYWW)"),
        _c("month_index", "Int32", "attribute", "Month of the week's Thursday", unit="months since 1990-01"),
        _c("month_key", "String", "attribute", "Month of the week's Thursday, 'YYYY-MM'"),
        _c(
            "grad_column", "String", "attribute", "DREAM's grad_ column of that month (null if not delivered)"
        ),
    ),
)

BENEFIT_SPELLS = TableContract(
    name="benefit_spells",
    stage="cohort",
    file="benefit_spells.parquet",
    description="Benefit spells: maximal runs of consecutive weeks whose codes all belong to one target group",
    row="one spell of one person",
    key=("spell_id",),
    columns=(
        PNR,
        _c("benefit_group", "String", "attribute", "Target group of the spell's codes"),
        _c("spell_start_week", "Int32", "attribute", "First week of the spell", unit=WEEK_INDEX),
        _c("spell_end_week", "Int32", "attribute", "Last week of the spell", unit=WEEK_INDEX),
        _c("spell_weeks", "Int32", "value", "Length of the spell", unit="weeks"),
        _c("spell_start_iso_week", "String", "attribute", "First week, 'YYYY-Www'"),
        _c("spell_end_iso_week", "String", "attribute", "Last week, 'YYYY-Www'"),
        _key("spell_id", "String", "'<pnr>:<spell start week index>'"),
    ),
)

# --- treatment ----------------------------------------------------------------------------------------------

_MEETING_COMMON = (
    MEETING_ID,
    PNR,
    _c("meeting_date", "Date", "attribute", "SAMTALE_DATO"),
    _c("samtaletype", "Int32", "attribute", "SAMTALETYPE code"),
    _c("kontaktform", "String", "attribute", "KONTAKTFORM code as delivered (upper case)"),
    _c("aktoer", "String", "attribute", "AKTOER code (upper case)"),
    _c("kommune", "Int32", "attribute", "Jobcentre municipality (samtaler KOMMUNE)"),
    _c("kontaktform_category", "String", "attribute", "The form's category (codebook kontaktform)"),
    _c("meeting_form", "String", "attribute", "The three-arm form (in_person, telephone, video) or null"),
    _c("meeting_week_index", "Int32", "attribute", "Week of the meeting date", unit=WEEK_INDEX),
    _c("meeting_week", "String", "attribute", "ISO week of the meeting date, 'YYYY-Www'"),
    _c("meeting_month_index", "Int32", "attribute", "Month of the meeting date", unit="months since 1990-01"),
    _c("calendar_month", "String", "attribute", "Month of the meeting date, 'YYYY-MM'"),
    _c("week_code", "String", "value", "DREAM code of the meeting's ISO week (null: none)"),
)

MEETINGS = TableContract(
    name="meetings",
    stage="treatment",
    file="meetings.parquet",
    description="Every staged meeting, annotated, with the first eligibility rule it fails",
    row="one staged meeting (duplicates included)",
    key=("meeting_id",),
    columns=(
        *_MEETING_COMMON,
        _c(
            "duplicate_rank", "Int32", "status", "1 for the first of identical registrations, 2, 3 ... copies"
        ),
        _c("bekraeftet", "Int32", "status", "BEKRAEFTET of the municipality-month (null: no validation row)"),
        _c("week_benefit_group", "String", "attribute", "Group of the week's DREAM code"),
        _c("bef_known", "Boolean", "status", "Person in a BEF snapshot dated before the meeting week"),
        _c("excluded_by", "String", "status", "First eligibility rule the meeting fails (null: eligible)"),
    ),
)

ELIGIBLE_MEETINGS = TableContract(
    name="eligible_meetings",
    stage="treatment",
    file="eligible_meetings.parquet",
    description="Eligible meetings (the primary unit), in their target-group spell",
    row="one eligible meeting",
    key=("meeting_id",),
    columns=(
        *_MEETING_COMMON[:9],
        _c("digital", "Int8", "treatment", "1 if the form's category is the treated one, 0 if the control"),
        *_MEETING_COMMON[9:],
        _c("benefit_group", "String", "attribute", "Target group of the spell"),
        _c("spell_id", "String", "id", "Spell containing the meeting week", nullable=False),
        _c("spell_start_week", "Int32", "attribute", "First week of the spell", unit=WEEK_INDEX),
        _c("spell_end_week", "Int32", "attribute", "Last week of the spell", unit=WEEK_INDEX),
        _c("elapsed_weeks", "Int32", "value", "Meeting week - spell start + 1", unit="weeks"),
        _c(
            "n_earlier_jobsamtaler_spell",
            "Int32",
            "count",
            "Jobsamtaler in the spell before the meeting week",
        ),
        _c("first_in_spell", "Int8", "flag", "1 for the spell's first eligible meeting (the secondary unit)"),
    ),
)

SAMPLE_FLOW = TableContract(
    name="sample_flow",
    stage="treatment",
    file="sample_flow.parquet",
    description="Sample flow: each eligibility rule in order with the meetings before, removed and after",
    row="one eligibility rule (step)",
    key=("step",),
    columns=(
        _key("step", "Int32", "Position of the rule (1 = first)"),
        _c("rule", "String", "label", "Name of the rule"),
        _c("description", "String", "label", "The rule in words"),
        _c("units_before", "Int64", "count", "Meetings before the rule", unit="meetings"),
        _c("units_removed", "Int64", "count", "Meetings the rule removes", unit="meetings"),
        _c("units_after", "Int64", "count", "Meetings after the rule", unit="meetings"),
        *(
            _c(c, "Int64", "count", f"Eligible meetings of form {c[6:]} (last step only)", unit="meetings")
            for c in FLOW_FORM_COLUMNS
        ),
    ),
    disclosure=Disclosure(
        unit="meetings",
        by=("step",),
        counts=("units_before", "units_removed", "units_after", *FLOW_FORM_COLUMNS),
        differences=(("units_before", "units_removed", "units_after"),),
        chained=(("units_after", "units_before"),),
    ),
)

# --- outcomes -----------------------------------------------------------------------------------------------

EXIT_PATTERN = ColumnPattern(
    r"y_exit_\d+w", "Int8", "outcome", "1 if the exit week is within k weeks after the meeting week, else 0; "
    "null = censored or DREAM too short", example="y_exit_13w", unit="0/1",
)  # fmt: skip
SELFSUPPORT_PATTERN = ColumnPattern(
    r"weeks_selfsupport_\d+w", "Int16", "outcome", "Weeks of self-support in the k weeks after the meeting week",
    example="weeks_selfsupport_26w", unit="weeks",
)  # fmt: skip
PRE_SELFSUPPORT_PATTERN = ColumnPattern(
    r"weeks_selfsupport_pre\d+w", "Int16", "outcome", "Placebo: weeks of self-support in the k weeks before "
    "the spell", example="weeks_selfsupport_pre52w", unit="weeks",
)  # fmt: skip
OUTCOME_PATTERNS = (EXIT_PATTERN, SELFSUPPORT_PATTERN, PRE_SELFSUPPORT_PATTERN)

MEETING_OUTCOMES = TableContract(
    name="meeting_outcomes",
    stage="outcomes",
    file="meeting_outcomes.parquet",
    description="Outcomes of each eligible meeting (horizons from the run configuration)",
    row="one eligible meeting",
    key=("meeting_id",),
    columns=(
        MEETING_ID,
        _c(
            "exit_week_index",
            "Int32",
            "value",
            "First employment week after the meeting (null: none)",
            WEEK_INDEX,
        ),
    ),
    patterns=OUTCOME_PATTERNS,
)

PLACEBO_COLUMNS = (
    _c(
        "wage_income_2y_before",
        "Float64",
        "outcome",
        "Placebo: IND wage income two years before the meeting year",
        unit="DKK per year",
    ),  # fmt: skip
    _c(
        "y_exit_13w_pseudo",
        "Int8",
        "outcome",
        "Negative control: exit within 13 weeks of a pseudo-meeting 52 weeks before the spell",
        unit="0/1",
    ),  # fmt: skip
)

MEETING_PLACEBOS = TableContract(
    name="meeting_placebos",
    stage="outcomes",
    file="meeting_placebos.parquet",
    description="Placebo and negative-control outcomes that are not functions of the covariates",
    row="one eligible meeting",
    key=("meeting_id",),
    columns=(MEETING_ID, *PLACEBO_COLUMNS),
)

# --- covariates ---------------------------------------------------------------------------------------------


def _cov(name: str, dtype: PhysicalType, description: str, unit: str = "", required: bool = True) -> Column:
    return _c(name, dtype, "covariate", description, unit=unit, nullable=False, required=required)


def _covs(pattern: str, dtype: PhysicalType, description: str, example: str, unit: str = "") -> ColumnPattern:
    return ColumnPattern(pattern, dtype, "covariate", description, example=example, unit=unit, nullable=False)


# The covariates whose names are fixed; the families below depend on the codebook (origin, civil status,
# socio-economic groups, municipalities), the run configuration (target groups, the window's months) or the
# history windows. Their definitions are in the column dictionary (assets/covariates/logic.py covariate_specs).
COVARIATE_COLUMNS = (
    _cov("age", "Int16", "Age on the meeting date (0 when unknown)", unit="years"),
    _cov("age_missing", "Int8", "1 if the date of birth is missing", unit="0/1"),
    _cov("sex_woman", "Int8", "1 if a woman", unit="0/1"),
    _cov("sex_missing", "Int8", "1 if sex is missing or not a codebook code", unit="0/1"),
    _cov("education_level", "Int8", "Level of the highest completed education (0 when unknown)"),
    _cov("education_missing", "Int8", "1 if education is unknown", unit="0/1"),
    _cov("wage_income_prev_year", "Float64", "Wage income of the year before", unit="DKK per year"),
    _cov(
        "total_income_prev_year", "Float64", "Total personal income of the year before", unit="DKK per year"
    ),
    _cov("income_missing", "Int8", "1 if income of the year before is unknown", unit="0/1"),
    _cov("akasse_member", "Int8", "1 if an a-kasse member at the end of the year before", unit="0/1"),
    _cov("akasse_unknown", "Int8", "1 if a-kasse membership is unknown", unit="0/1"),
    _cov("elapsed_weeks", "Int32", "Weeks since the spell started", unit="weeks"),
    _cov("n_earlier_jobsamtaler_spell", "Int32", "Jobsamtaler in the spell before the meeting week"),
    _cov(
        "local_benefit_share",
        "Float64",
        "Share of the municipality's residents on benefit, previous month "
        "(absent when the local labour market is left out)",
        unit="share",
        required=False,
    ),  # fmt: skip
    _cov(
        "local_share_missing",
        "Int8",
        "1 if the municipality's population is unknown",
        unit="0/1",
        required=False,
    ),  # fmt: skip
)
COVARIATE_PATTERNS = (
    _covs(r"origin_[a-z0-9_]+", "Int8", "1 if of this origin (codebook ie_type), or origin_missing", "origin_immigrant"),
    _covs(r"civst_[a-z0-9_]+", "Int8", "1 if of this civil status (codebook civst), or civst_missing", "civst_married"),
    _covs(r"socio_[a-z0-9_]+", "Int8", "1 if in this SOCIO13 group (codebook), or socio_missing", "socio_employee"),
    _covs(r"benefit_group_[a-z0-9_]+", "Int8", "1 if the spell's target group is this one", "benefit_group_dagpenge"),
    _covs(r"benefit_weeks_pre_spell_\d+w", "Int16", "Benefit weeks in the k weeks before the spell",
          "benefit_weeks_pre_spell_52w", unit="weeks"),
    _covs(r"benefit_history_truncated_\d+w", "Int8", "1 if DREAM starts inside that k-week window",
          "benefit_history_truncated_52w", unit="0/1"),
    _covs(r"kommune_\d+", "Int8", "1 if the jobcentre municipality is this code (codebook kommuner)", "kommune_101"),
    _covs(r"month_\d{4}_\d{2}", "Int8", "1 if the meeting is in this month of the window", "month_2020_05"),
)  # fmt: skip

MEETING_COVARIATES = TableContract(
    name="meeting_covariates",
    stage="covariates",
    file="meeting_covariates.parquet",
    description="Covariates of each eligible meeting, dated before the meeting week; no nulls",
    row="one eligible meeting",
    key=("meeting_id",),
    columns=(MEETING_ID, *COVARIATE_COLUMNS),
    patterns=COVARIATE_PATTERNS,
)


def _prov(name: str, dtype: PhysicalType, description: str) -> Column:
    return _c(name, dtype, "provenance", description)


COVARIATE_PROVENANCE = TableContract(
    name="covariate_provenance",
    stage="covariates",
    file="covariate_provenance.parquet",
    description="Which snapshot, year or week each eligible meeting's covariates were taken from",
    row="one eligible meeting",
    key=("meeting_id",),
    asset="meeting_covariates",
    columns=(
        MEETING_ID,
        _c("meeting_week_index", "Int32", "attribute", "Week of the meeting", unit=WEEK_INDEX),
        _c("week_start", "Date", "attribute", "Monday of the meeting week"),
        _c("meeting_year", "Int32", "attribute", "Year of the meeting date"),
        _prov("bef_reference_date", "Date", "Reference date of the BEF snapshot used"),
        _prov("udda_year", "Int32", "UDDA year used"),
        _prov("udda_reference_date", "Date", "Reference date of that UDDA year"),
        _prov("ind_year", "Int32", "IND year used"),
        _prov("ind_reference_date", "Date", "Reference date of that IND year"),
        _prov("akm_reference_date", "Date", "Reference date of the AKM year used"),
        _prov("akasse_reference_date", "Date", "Reference date of the a-kasse year used"),
        _prov("history_last_week", "Int32", "Last DREAM week of the benefit history"),
        _prov("local_bef_reference_date", "Date", "BEF snapshot of the local labour market"),
        _prov("local_last_week", "Int32", "Last DREAM week of the local labour market"),
        _prov("earlier_meetings_last_week", "Int32", "Last week of the earlier jobsamtaler counted"),
    ),
)

# --- analysis -----------------------------------------------------------------------------------------------


def _design(name: str, dtype: PhysicalType, description: str, unit: str = "") -> Column:
    return _c(name, dtype, "design", description, unit=unit)


ANALYSIS_TABLE = TableContract(
    name="analysis_table",
    stage="analysis",
    file="analysis_table.parquet",
    description="One row per eligible meeting: ids, design columns, treatment, outcomes and covariates",
    row="one eligible meeting",
    key=("meeting_id",),
    columns=(
        MEETING_ID,
        _c("pnr", "String", "id", "Pseudonymised person number; cluster and fold unit", nullable=False),
        _c("spell_id", "String", "id", "Benefit spell containing the meeting week", nullable=False),
        _design("meeting_date", "Date", "SAMTALE_DATO"),
        _design("meeting_week", "String", "ISO week of the meeting date, 'YYYY-Www'"),
        _design("meeting_week_index", "Int32", "Week of the meeting date", unit=WEEK_INDEX),
        _design("kommune", "Int32", "Jobcentre municipality code"),
        _design("calendar_month", "String", "Month of the meeting date, 'YYYY-MM'"),
        _design("benefit_group", "String", "Target group of the spell"),
        _design("spell_start_week", "Int32", "First week of the spell", unit=WEEK_INDEX),
        _design("kontaktform", "String", "KONTAKTFORM code as delivered (upper case)"),
        _c("digital", "Int8", "treatment", "1 if the meeting form is digital", unit="0/1", nullable=False),
        _c(
            "meeting_form",
            "String",
            "treatment",
            "Three-arm form of the modality design (in_person, telephone, video)",
        ),  # fmt: skip
        _c("first_in_spell", "Int8", "flag", "1 for the spell's first eligible meeting", unit="0/1"),
        *PLACEBO_COLUMNS,
        *COVARIATE_COLUMNS,
    ),
    patterns=(*OUTCOME_PATTERNS, *COVARIATE_PATTERNS),
)

COLUMN_DICTIONARY = TableContract(
    name="column_dictionary",
    stage="analysis",
    file="column_dictionary.parquet",
    description="Every column of the analysis table: role, type, definition, sources and time window",
    row="one column of the analysis table, in its order",
    key=("name",),
    asset="analysis_table",
    columns=(
        _key("name", "String", "Column name"),
        _c("role", "String", "label", "id, design, treatment, outcome, covariate or flag"),
        _c("dtype", "String", "label", "Polars type of the column"),
        _c("definition", "String", "label", "What the column holds"),
        _c("source_registers", "String", "label", "Registers the column is built from"),
        _c("time_window", "String", "label", "When the information is dated"),
    ),
)

_SHARE_COLUMNS = (
    _c("n_meetings", "Int64", "count", "Eligible meetings", unit="meetings"),
    _c("n_digital", "Int64", "count", "Eligible digital meetings", unit="meetings"),
    _c("digital_share", "Float64", "share", "n_digital / n_meetings", unit="share"),
    *(
        _c(c, "Int64", "count", f"Eligible meetings of form {c[2:]}", unit="meetings")
        for c in FORM_COUNT_COLUMNS
    ),
    *(_c(c, "Float64", "share", f"Share of form {c[6:]}", unit="share") for c in SHARE_FORM_COLUMNS),
)
_SHARE_DISCLOSURE = dict(
    unit="meetings",
    counts=("n_meetings", "n_digital", *FORM_COUNT_COLUMNS),
    shares=("digital_share", *SHARE_FORM_COLUMNS),
)

DIGITAL_SHARE_BY_MONTH = TableContract(
    name="digital_share_by_month",
    stage="analysis",
    file="digital_share_by_month.parquet",
    description="Eligible meetings and the digital share by calendar month (aggregate)",
    row="one calendar month",
    key=("calendar_month",),
    asset="analysis_table",
    columns=(_key("calendar_month", "String", "'YYYY-MM'"), *_SHARE_COLUMNS),
    disclosure=Disclosure(by=("calendar_month",), **_SHARE_DISCLOSURE),
)

DIGITAL_SHARE_BY_KOMMUNE_MONTH = TableContract(
    name="digital_share_by_kommune_month",
    stage="analysis",
    file="digital_share_by_kommune_month.parquet",
    description="Eligible meetings and the digital share by municipality and month (aggregate)",
    row="one municipality-month",
    key=("kommune", "calendar_month"),
    asset="analysis_table",
    columns=(
        _key("kommune", "Int32", "Municipality"),
        _key("calendar_month", "String", "'YYYY-MM'"),
        *_SHARE_COLUMNS,
    ),
    disclosure=Disclosure(by=("kommune", "calendar_month"), **_SHARE_DISCLOSURE),
)

OUTCOME_MEANS = TableContract(
    name="outcome_means",
    stage="analysis",
    file="outcome_means.parquet",
    description="Each outcome's non-missing count and mean, overall and by digital (aggregate)",
    row="one outcome",
    key=("outcome",),
    asset="analysis_table",
    columns=(
        _key("outcome", "String", "Outcome column of the analysis table"),
        _c("n_nonmissing", "Int64", "count", "Meetings with the outcome known", unit="meetings"),
        _c("n_missing", "Int64", "count", "Meetings with the outcome missing", unit="meetings"),
        _c("mean", "Float64", "share", "Mean over the known outcomes"),
        _c("n_digital_1", "Int64", "count", "Digital meetings with the outcome known", unit="meetings"),
        _c("mean_digital_1", "Float64", "share", "Mean over those"),
        _c("n_digital_0", "Int64", "count", "Other meetings with the outcome known", unit="meetings"),
        _c("mean_digital_0", "Float64", "share", "Mean over those"),
    ),
    disclosure=Disclosure(
        unit="meetings",
        by=("outcome",),
        counts=("n_nonmissing", "n_missing", "n_digital_1", "n_digital_0"),
        shares=("mean", "mean_digital_1", "mean_digital_0"),
        differences=(("n_nonmissing", "n_digital_1", "n_digital_0"),),
    ),
)

# --- estimation ---------------------------------------------------------------------------------------------
# What the estimation stage collects from its cells (assets/estimation/logic.py collect_cells), and the tables
# it adds (placebos, power, feasibility, value): what the report and the results bundle read. A cell is one
# (outcome, design); the modality design has one row per contrast of the three forms (``contrast``, null for
# the binary designs, a nullable part of the key). Counts are of meetings in the cell's sample.

_OUTCOME = _key("outcome", "String", "Outcome column of the analysis table")
_DESIGN = _key("design", "String", "Design name (data_contracts/designs.py)")
_CELL = (_OUTCOME, _DESIGN)
_CONTRAST_KEY = _c(
    "contrast", "String", "key", "Modality contrast, 'a - b' of two forms (null: a binary design)"
)


def _v(name: str, description: str, unit: str = "") -> Column:
    return _c(name, "Float64", "value", description, unit=unit)


def _n(name: str, description: str, dtype: PhysicalType = "Int64", required: bool = True) -> Column:
    return _c(name, dtype, "count", description, unit="meetings", required=required)


_INTERVAL = (
    _v("estimate", "Point estimate", "outcome's unit"),
    _v("se", "Standard error", "outcome's unit"),
    _v("ci_low", "Lower end of the 95% confidence interval", "outcome's unit"),
    _v("ci_high", "Upper end of the 95% confidence interval", "outcome's unit"),
)
# n = n_treated + n_control in every row that has both (a gate suppressing one must suppress a second)
_N_SPLIT = (("n", "n_treated", "n_control"),)

ESTIMATES = TableContract(
    name="estimates",
    stage="estimation",
    file="estimates.parquet",
    description="One DoubleML estimate per cell (outcome x design; x contrast for the modality design)",
    row="one estimate of a cell (one contrast of the modality design)",
    key=("outcome", "design", "contrast"),
    columns=(
        *_CELL,
        _c("model", "String", "attribute", "DoubleML model (IRM, PLR, PLIV, naive, APOS)"),
        _c("score", "String", "attribute", "DoubleML score (ATTE, ATE, partialling out, IV-type)"),
        *_INTERVAL[:2],
        *_INTERVAL[2:],
        _v("p_value", "Two-sided p-value of no effect"),
        _n("n", "Meetings in the estimation sample (after trimming)"),
        _n("n_treated", "Digital meetings in the sample"),
        _n("n_control", "Other meetings in the sample (n - n_treated)"),
        _n("n_trimmed", "Meetings trimmed for their propensity"),
        _n("n_missing_outcome", "Meetings left out for a missing outcome"),
        _n("n_missing_instrument", "Meetings left out without an instrument (PLIV)"),
        _c("n_persons", "Int64", "count", "Persons in the sample (clusters)", unit="persons"),
        _c("learner", "String", "attribute", "Nuisance learner"),
        _c("folds", "Int64", "attribute", "Cross-fitting folds"),
        _c("reps", "Int64", "attribute", "Repetitions of the sample split"),
        _c("seed", "Int64", "attribute", "Seed of the sample splits"),
        _c("cluster", "String", "attribute", "Cluster variable(s) of the standard error"),
        _v("seconds", "Time the fit took", "seconds"),
        _v("rep_spread", "Spread of the estimate over the repetitions", "outcome's unit"),
        _n("n_trimmed_treated", "Digital meetings trimmed"),
        _n("n_trimmed_control", "Other meetings trimmed"),
        _v("first_stage_coef", "PLIV: first-stage coefficient of the instrument"),
        _v("first_stage_f", "PLIV: first-stage F statistic"),
        _v("first_stage_partial_r2", "PLIV: first-stage partial R squared"),
        _v("ar_ci_low", "PLIV: lower end of the Anderson-Rubin confidence set", "outcome's unit"),
        _v("ar_ci_high", "PLIV: upper end of the Anderson-Rubin confidence set", "outcome's unit"),
        _c("ar_set", "String", "attribute", "PLIV: shape of the Anderson-Rubin set (bounded, unbounded, ...)"),
        _CONTRAST_KEY,
        _v("ess_treated", "Effective sample size of the treated (overlap weights)", "meetings"),
        _v("ess_control", "Effective sample size of the controls (overlap weights)", "meetings"),
    ),
    disclosure=Disclosure(
        unit="meetings",
        by=("outcome", "design", "contrast"),
        counts=("n", "n_treated", "n_control", "n_trimmed", "n_missing_outcome", "n_missing_instrument",
                "n_persons", "n_trimmed_treated", "n_trimmed_control"),
        differences=_N_SPLIT,
    ),
)  # fmt: skip

OVERLAP = TableContract(
    name="overlap",
    stage="estimation",
    file="overlap.parquet",
    description="Histogram of the estimated propensity by treatment arm (binary designs)",
    row="one propensity bin of a cell",
    key=("outcome", "design", "bin_low"),
    asset="estimates",
    columns=(
        *_CELL,
        _key("bin_low", "Float64", "Lower edge of the bin"),
        _c("bin_high", "Float64", "attribute", "Upper edge of the bin"),
        _n("n_treated", "Digital meetings with a propensity in the bin"),
        _n("n_control", "Other meetings with a propensity in the bin"),
    ),
    disclosure=Disclosure(unit="meetings", by=("outcome", "design", "bin_low"), counts=("n_treated", "n_control")),
    required_file=False,
)  # fmt: skip

OVERLAP_BY_ARM = TableContract(
    name="overlap_by_arm",
    stage="estimation",
    file="overlap_by_arm.parquet",
    description="Modality design: quantiles of each form's generalized propensity among each arm's meetings",
    row="one (form, arm) of a modality cell",
    key=("outcome", "design", "form", "arm"),
    asset="estimates",
    columns=(
        *_CELL,
        _key("form", "String", "Form whose propensity is summarised"),
        _key("arm", "String", "Form the meetings had"),
        _n("n", "Meetings of the arm"),
        *(_c(q, "Float64", "share", f"Propensity: {q}", unit="probability")
          for q in ("min", "p05", "p25", "p50", "p75", "p95", "max")),
    ),
    disclosure=Disclosure(unit="meetings", by=("outcome", "design", "form", "arm"), counts=("n",),
                          shares=("min", "p05", "p25", "p50", "p75", "p95", "max")),
    required_file=False,
)  # fmt: skip

BALANCE = TableContract(
    name="balance",
    stage="estimation",
    file="balance.parquet",
    description="Standardised mean differences of the covariates before and after weighting",
    row="one covariate of a cell",
    key=("outcome", "design", "covariate"),
    asset="estimates",
    columns=(
        *_CELL,
        _key("covariate", "String", "Covariate of the analysis table"),
        _v("smd_before", "Standardised mean difference, unweighted", "standard deviations"),
        _v("smd_after", "Standardised mean difference, weighted", "standard deviations"),
    ),
    required_file=False,
)

SENSITIVITY = TableContract(
    name="sensitivity",
    stage="estimation",
    file="sensitivity.parquet",
    description="DoubleML sensitivity to unobserved confounding: bounds and robustness values per scenario",
    row="one scenario of a cell (the default, or a benchmark covariate group)",
    key=("outcome", "design", "benchmark"),
    asset="estimates",
    columns=(
        *_CELL,
        _v("cf_y", "Confounding strength in the outcome (partial R squared)"),
        _v("cf_d", "Confounding strength in the treatment"),
        _v("rho", "Correlation of the confounding"),
        _v("theta", "Point estimate", "outcome's unit"),
        _v("theta_lower", "Lower bound of the estimate", "outcome's unit"),
        _v("theta_upper", "Upper bound of the estimate", "outcome's unit"),
        _c("ci_lower", "Float64", "value", "Lower end of the bounds' confidence interval", required=False),
        _c("ci_upper", "Float64", "value", "Upper end of the bounds' confidence interval", required=False),
        _v("rv", "Robustness value"),
        _v("rva", "Robustness value at the 5% level"),
        _c("benchmark", "String", "key", "Benchmark covariate group (null: the configured scenario)"),
    ),
    required_file=False,
)

GROUP_EFFECTS = TableContract(
    name="group_effects",
    stage="estimation",
    file="group_effects.parquet",
    description="Effects within groups (benefit group, age band, sex, ...) of a cell",
    row="one group of a cell (of a contrast, for the modality design)",
    key=("outcome", "design", "contrast", "group_var", "group"),
    asset="estimates",
    columns=(
        *_CELL,
        _key("group_var", "String", "Variable the groups are of"),
        _key("group", "String", "The group"),
        *_INTERVAL,
        _n("n", "Meetings in the group"),
        _n("n_treated", "Digital meetings in the group", required=False),
        _n("n_control", "Other meetings in the group", required=False),
        _c("reason", "String", "status", "Why the group has no estimate (null: it has one)", required=False),
        dataclasses.replace(_CONTRAST_KEY, required=False),
    ),
    disclosure=Disclosure(unit="meetings", by=("outcome", "design", "contrast", "group_var", "group"),
                          counts=("n", "n_treated", "n_control"), differences=_N_SPLIT),
    required_file=False,
)  # fmt: skip

NUISANCE_LOSSES = TableContract(
    name="nuisance_losses",
    stage="estimation",
    file="nuisance_losses.parquet",
    description="The learner of each nuisance and its out-of-fold loss (under learner 'auto' also the loss it "
    "was chosen by)",
    row="one nuisance of a cell",
    key=("outcome", "design", "nuisance"),
    asset="estimates",
    columns=(
        *_CELL,
        _c("learner", "String", "attribute", "Learner of the nuisance"),
        _key("nuisance", "String", "Nuisance (ml_g0, ml_g1, ml_m, ...)"),
        _c("metric", "String", "attribute", "Loss metric (rmse, logloss)"),
        _v("loss", "Out-of-fold loss"),
        _c(
            "selection_loss",
            "Float64",
            "value",
            "Inner out-of-fold loss of the learner choice",
            required=False,
        ),
    ),
    required_file=False,
)

POTENTIAL_OUTCOMES = TableContract(
    name="potential_outcomes",
    stage="estimation",
    file="potential_outcomes.parquet",
    description="Modality design: each form's average potential outcome, with its trimming",
    row="one form of a modality cell",
    key=("outcome", "design", "level"),
    asset="estimates",
    columns=(
        *_CELL,
        _key("level", "String", "Form (in_person, telephone, video)"),
        *_INTERVAL,
        _n("n", "Meetings kept"),
        _n("n_trimmed", "Meetings trimmed for their generalized propensity"),
        _c("propensity_min", "Float64", "share", "Smallest propensity of the form kept", unit="probability"),
        _c("propensity_max", "Float64", "share", "Largest propensity of the form kept", unit="probability"),
    ),
    disclosure=Disclosure(unit="meetings", by=("outcome", "design", "level"), counts=("n", "n_trimmed"),
                          shares=("propensity_min", "propensity_max")),
    required_file=False,
)  # fmt: skip

FEASIBILITY = TableContract(
    name="feasibility",
    stage="estimation",
    file="feasibility.parquet",
    description="Can the delivery answer the question: minimum detectable effects, effective sample sizes, "
    "the equivalent reversed trial (models/feasibility.py)",
    row="one estimate (outcome x design; the modality design has one row per contrast)",
    # the contrast as in the estimates: null for a binary design (one value of the key)
    key=("outcome", "design", "contrast"),
    asset="estimates",
    columns=(
        *_CELL,
        _CONTRAST_KEY,
        _n("n", "Meetings in the estimation sample"),
        _n("n_treated", "Digital meetings"),
        _n("n_control", "Other meetings"),
        _v("se", "Standard error of the estimate", "outcome's unit"),
        _v("mde_80", "Minimum detectable effect at 80% power, 5% two-sided", "outcome's unit"),
        _v("relevant_effect", "Effect that matters (low end of estimation.feasibility_effect)", "outcome's unit"),
        _v("mde_to_effect", "mde_80 / relevant_effect"),
        _v("ess_treated", "Effective sample size of the treated", "meetings"),
        _v("ess_control", "Effective sample size of the controls", "meetings"),
        _n("n_trimmed_treated", "Digital meetings trimmed"),
        _n("n_trimmed_control", "Other meetings trimmed"),
        _c("share_meetings_small_cells", "Float64", "share", "Share of meetings in municipality-months with "
           "few in-person meetings", unit="share"),
        _v("first_stage_f", "PLIV: first-stage F statistic"),
        _v("outcome_sd", "Standard deviation of the outcome", "outcome's unit"),
        _c("trial_persons_per_arm", "Int64", "value", "Persons per arm of the equivalent reversed trial", unit="persons"),
        _c("trial_persons", "Int64", "value", "Persons of the equivalent reversed trial", unit="persons"),
    ),
    disclosure=Disclosure(unit="meetings", by=("outcome", "design", "contrast"),
                          counts=("n", "n_treated", "n_control", "n_trimmed_treated", "n_trimmed_control"),
                          differences=_N_SPLIT),
    # the estimates stand without it: a failed feasibility leaves no file and the report says so
    required_file=False,
)  # fmt: skip

PLACEBOS = TableContract(
    name="placebos",
    stage="estimation",
    file="placebos.parquet",
    description="Placebos: the permuted treatment, the pre-period outcomes and the negative control",
    row="one placebo estimate (the modality design: one per contrast)",
    # the contrast as in the estimates: null for a binary design and the permuted treatment
    key=("kind", "outcome", "design", "contrast"),
    asset="permutation_placebo",
    columns=(
        _key("kind", "String", "permuted_treatment, pre_period_outcome, pre_period_income or "
             "negative_control_outcome"),
        _OUTCOME,
        _DESIGN,
        _CONTRAST_KEY,
        *_INTERVAL,
        _v("p_value", "Two-sided p-value of no effect"),
        _n("n", "Meetings in the estimation sample"),
    ),
    disclosure=Disclosure(unit="meetings", by=("kind", "outcome", "design", "contrast"), counts=("n",)),
)  # fmt: skip

POWER = TableContract(
    name="power",
    stage="estimation",
    file="power.parquet",
    description="Minimum detectable effect of the reversed trial (80% power, 5% two-sided, 1:1) per outcome "
    "and trial size",
    row="one outcome and trial size",
    key=("outcome", "trial_size"),
    asset="reversed_trial_power",
    columns=(
        _OUTCOME,
        _key("trial_size", "Int64", "Persons in the trial"),
        _v("baseline_mean", "Mean of the outcome among the observed meetings", "outcome's unit"),
        _v("sd", "Standard deviation of the outcome", "outcome's unit"),
        _v("mde", "Minimum detectable effect", "outcome's unit"),
    ),
)

VALUE = TableContract(
    name="value",
    stage="estimation",
    file="value.parquet",
    description="What a digital meeting is worth: staff time saved against the effect on self-support "
    "(models/value.py; every number but the effect an assumption of the configuration)",
    row="one benefit group, and 'all'",
    key=("benefit_group",),
    asset="meeting_value",
    columns=(
        _key("benefit_group", "String", "Benefit group, or 'all'"),
        _v("staff_minutes_saved", "Staff minutes saved per digital meeting", "minutes"),
        _v("staff_cost_per_hour_dkk", "Staff cost", "DKK per hour"),
        _v("staff_saving_dkk", "Staff saving per meeting", "DKK"),
        _v("weekly_benefit_dkk", "Benefit paid per week", "DKK per week"),
        _v("effect_weeks", "Effect on weeks of self-support", "weeks"),
        _v("effect_weeks_ci_low", "Lower end of its 95% interval", "weeks"),
        _v("effect_weeks_ci_high", "Upper end of its 95% interval", "weeks"),
        _v("benefit_saving_dkk", "Benefit saved per meeting", "DKK"),
        _v("net_dkk", "Net value per meeting", "DKK"),
        _v("net_dkk_ci_low", "Lower end of its 95% interval", "DKK"),
        _v("net_dkk_ci_high", "Upper end of its 95% interval", "DKK"),
        _v("break_even_weeks", "Effect at which the meeting breaks even", "weeks"),
        _c(
            "annual_jobsamtaler",
            "Int64",
            "value",
            "Jobsamtaler a year (configured)",
            unit="meetings per year",
        ),
        _v("national_net_dkk", "National net value a year", "DKK per year"),
        _v("national_net_dkk_ci_low", "Lower end of its 95% interval", "DKK per year"),
        _v("national_net_dkk_ci_high", "Upper end of its 95% interval", "DKK per year"),
    ),
)

ESTIMATION_TABLES = (ESTIMATES, OVERLAP, OVERLAP_BY_ARM, BALANCE, SENSITIVITY, GROUP_EFFECTS, NUISANCE_LOSSES,
                     POTENTIAL_OUTCOMES, FEASIBILITY, PLACEBOS, POWER, VALUE)  # fmt: skip

TABLES: dict[str, TableContract] = {
    t.name: t
    for t in (
        BENEFIT_WEEKS,
        EMPLOYMENT_MONTHS,
        DREAM_CALENDAR,
        BENEFIT_SPELLS,
        MEETINGS,
        ELIGIBLE_MEETINGS,
        SAMPLE_FLOW,
        MEETING_OUTCOMES,
        MEETING_PLACEBOS,
        MEETING_COVARIATES,
        COVARIATE_PROVENANCE,
        ANALYSIS_TABLE,
        COLUMN_DICTIONARY,
        DIGITAL_SHARE_BY_MONTH,
        DIGITAL_SHARE_BY_KOMMUNE_MONTH,
        OUTCOME_MEANS,
        *ESTIMATION_TABLES,
    )
}
"""Every stage output from staging to the estimation's tables, by name. The staged registers themselves are
:data:`data_contracts.registers.CONTRACTS`."""


def tables_of(asset: str) -> list[TableContract]:
    """The contracts of the tables the asset ``asset`` writes (its own first)."""
    return sorted((t for t in TABLES.values() if t.asset_name == asset), key=lambda t: t.name != asset)
