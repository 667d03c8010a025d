"""Register contracts as plain data: the delivery format (shared/docs/delivery_format.md) and the
staged, typed shape every later stage reads.

A contract lists each column's staged name (lower case), type, description, unit and allowed values
(a codebook field or a range), and each register's key. Staging writes exactly these columns plus
``period`` columns derived from the file name. No Dagster import: ``assets/staging`` turns every contract
into a blocking asset check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DType = Literal["str", "int", "float", "date"]
# Physical (Polars) types of the tables the stages write (data_contracts/tables.py).
PhysicalType = Literal["String", "Int8", "Int16", "Int32", "Int64", "Float64", "Date", "Boolean"]


@dataclass(frozen=True)
class Column:
    """One column of a register as staged, or of a table a stage writes (``data_contracts/tables.py``):
    a register column has a logical type (``str``, ``int``, ...), a stage output's column its physical
    Polars type and a role (key, id, count, outcome, covariate, ...)."""

    name: str
    dtype: DType | PhysicalType
    description: str
    unit: str = ""
    required: bool = True
    nullable: bool = True
    # Allowed values: the name of a codebook field ("koen", "kommuner", "dream_codes", ...) or None.
    codebook_field: str | None = None
    # Inclusive numeric range, or inclusive date range as ISO strings.
    value_range: tuple[float, float] | tuple[str, str] | None = None
    # Regular expression every (non-missing) value of a str column must match, or None.
    pattern: str | None = None
    # What the column is in its table (data_contracts.tables.ROLES); None for a register's column.
    role: str | None = None


@dataclass(frozen=True)
class RegisterContract:
    """One register: how its files are named, their period, their key and their columns."""

    name: str
    description: str
    period: Literal["quarter", "year", "none"]
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    # True when the register is one wide file whose column set depends on its period (DREAM).
    wide: bool = False
    # Extra columns staging adds from the file name: (name, dtype, description).
    derived: tuple[tuple[str, DType, str], ...] = field(default=())
    # How staging derives ``reference_date`` from the file name's year (and month): "month_end" (last day
    # of the file's month), "MM-DD" (that day of the file's year) or None (no reference date).
    reference_day: str | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"register {self.name}: no column {name!r}")


PNR = Column(
    "pnr", "str", "Pseudonymised person number (kept as a string: leading zeros matter)", nullable=False
)

_YEAR = ("year", "int", "Year of the file (from its name)")
_SOURCE = ("source_file", "str", "Name of the delivered file the row came from")

BEF = RegisterContract(
    name="bef",
    description="BEF population snapshot, end of quarter (March, June, September, December)",
    period="quarter",
    key=("pnr",),
    columns=(
        PNR,
        Column("koen", "int", "Sex (1 man, 2 woman)", codebook_field="koen"),
        Column("foed_dag", "date", "Date of birth", value_range=("1900-01-01", "2022-12-31")),
        Column(
            "ie_type", "int", "Origin (1 Danish origin, 2 immigrant, 3 descendant)", codebook_field="ie_type"
        ),
        Column("opr_land", "int", "Country of origin (DST code)", value_range=(0, 9999)),
        Column("kom", "int", "Municipality of residence", codebook_field="kommuner"),
        Column("civst", "str", "Civil status (one letter)", codebook_field="civst"),
    ),
    derived=(
        _YEAR,
        ("month", "int", "Month of the snapshot (from the file name)"),
        ("reference_date", "date", "Last day of the snapshot month"),
        _SOURCE,
    ),
    reference_day="month_end",
)

UDDA = RegisterContract(
    name="udda",
    description="UDDA highest completed education, status at 30 September",
    period="year",
    key=("pnr",),
    columns=(
        PNR,
        Column(
            "hfaudd", "int", "Highest completed education (DST 4-digit HFAUDD code)", codebook_field="hfaudd"
        ),
    ),
    derived=(_YEAR, ("reference_date", "date", "30 September of the year"), _SOURCE),
    reference_day="09-30",
)

IND = RegisterContract(
    name="ind",
    description="IND personal income, calendar year",
    period="year",
    key=("pnr",),
    columns=(
        PNR,
        Column("loenmv_13", "float", "Wage income", unit="DKK per year"),
        Column("perindkialt_13", "float", "Total personal income", unit="DKK per year"),
    ),
    derived=(_YEAR, ("reference_date", "date", "31 December of the year"), _SOURCE),
    reference_day="12-31",
)

AKM = RegisterContract(
    name="akm",
    description="AKM socio-economic status (SOCIO13), end of November",
    period="year",
    key=("pnr",),
    columns=(PNR, Column("socio13", "int", "Socio-economic status (DST SOCIO13)", codebook_field="socio13")),
    derived=(_YEAR, ("reference_date", "date", "30 November of the year"), _SOURCE),
    reference_day="11-30",
)

AKASSE = RegisterContract(
    name="akasse",
    description="A-kasse membership at the end of the year (absent row = not a member)",
    period="year",
    key=("pnr",),
    columns=(PNR, Column("akasse_id", "int", "A-kasse identifier", value_range=(1, 99999))),
    derived=(_YEAR, ("reference_date", "date", "31 December of the year"), _SOURCE),
    reference_day="12-31",
)

DREAM = RegisterContract(
    name="dream",
    description="DREAM weekly benefit codes (y_YYWW) and monthly degree of employment (grad_YYYY_MM), wide",
    period="none",
    key=("pnr",),
    columns=(
        PNR,
        # Templates for the wide columns: every y_YYWW and grad_YYYY_MM column is checked against these.
        Column(
            "y_YYWW",
            "str",
            "DREAM benefit code of ISO week WW of 19YY (YY >= 90) or 20YY (null = no benefit)",
            codebook_field="dream_codes",
        ),
        Column(
            "grad_YYYY_MM",
            "int",
            "Degree of employment in month MM of YYYY (null = none)",
            unit="percent",
            value_range=(0, 100),
        ),
    ),
    wide=True,
    derived=(_SOURCE,),
)

SAMTALER = RegisterContract(
    name="samtaler",
    description="Held meetings from STAR's shared data base (one row per meeting)",
    period="year",
    key=(),
    columns=(
        PNR,
        Column(
            "samtale_dato",
            "date",
            "Date the meeting was held",
            nullable=False,
            value_range=("2010-01-01", "2025-12-31"),
        ),
        Column(
            "samtaletype",
            "int",
            "Meeting type (7 jobsamtale, 4 opfoelgningssamtale, ...)",
            nullable=False,
            codebook_field="samtaletype",
        ),
        Column(
            "kontaktform",
            "str",
            "Meeting form code (personal, telephone, video, digital, letter)",
            nullable=False,
            codebook_field="kontaktform",
        ),
        Column(
            "aktoer",
            "str",
            "Who held the meeting (JC jobcentre, AK a-kasse)",
            nullable=False,
            codebook_field="aktoer",
        ),
        Column("kommune", "int", "Municipality of the jobcentre", nullable=False, codebook_field="kommuner"),
    ),
    derived=(_YEAR, _SOURCE),
)

KONTAKTFORM_VALIDERING = RegisterContract(
    name="kontaktform_validering",
    description="Municipalities' month-by-month confirmation of their registered meeting form",
    period="none",
    key=("kommune", "maaned"),
    columns=(
        Column("kommune", "int", "Municipality", nullable=False, codebook_field="kommuner"),
        Column("maaned", "str", "Month (YYYY-MM)", nullable=False, pattern=r"^\d{4}-(0[1-9]|1[0-2])$"),
        Column(
            "bekraeftet",
            "int",
            "1 = registered meeting form confirmed for that month",
            nullable=False,
            value_range=(0, 1),
        ),
    ),
    derived=(_SOURCE,),
)

BEFOLKNING_KOMMUNE = RegisterContract(
    name="befolkning_kommune",
    description="Residents aged 16-66 by municipality and year or month (optional; FOLK1A)",
    period="none",
    key=("kommune", "aar", "maaned"),
    columns=(
        Column("kommune", "int", "Municipality", nullable=False, codebook_field="kommuner"),
        Column("aar", "int", "Year of the count (or give maaned)", required=False, value_range=(1990, 2100)),
        Column(
            "maaned",
            "str",
            "Month of the count, YYYY-MM (or give aar)",
            required=False,
            pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        ),
        Column(
            "n_16_66", "int", "Residents aged 16-66", unit="persons", nullable=False, value_range=(0, 10**7)
        ),
    ),
    derived=(_SOURCE,),
)

# DREAM's wide column names: y_YYWW (ISO week WW of 19YY for YY >= the codebook's dream_century_pivot,
# default 90, else 20YY) and grad_YYYY_MM (month MM of YYYY); see data_contracts/dream_columns.py.
DREAM_WEEK_PATTERN = r"^y_(?P<yy>\d{2})(?P<ww>\d{2})$"
DREAM_MONTH_PATTERN = r"^grad_(?P<year>\d{4})_(?P<month>\d{2})$"

CONTRACTS: dict[str, RegisterContract] = {
    c.name: c
    for c in (BEF, UDDA, IND, AKM, AKASSE, DREAM, SAMTALER, KONTAKTFORM_VALIDERING, BEFOLKNING_KOMMUNE)
}
