"""The estimation's designs and outcome kinds, declared once as records.

A design's name (``estimation.designs`` of the run configuration, the ``design`` column of every estimation
table) is looked up here for what it is: the DoubleML model and score it runs, the estimates' ``model``
column, its labels, the estimand, the key of its true value in a synthetic delivery's truth file, and the
unit it is estimated on (every eligible meeting, or the first eligible meeting of each spell). An outcome's
name is looked up for its kind: what it measures, its unit and whether it is a primary outcome or a placebo.

Plain data: no Dagster, no estimation code (``models`` and ``assets`` read these records).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# The units of analysis (analysis plan, "Units")
UNIT_MEETINGS = "eligible meetings"
UNIT_FIRST_MEETING = "first eligible meeting of each spell"


@dataclass(frozen=True)
class Design:
    """One design of the estimation grid.

    Attributes
    ----------
    name : str
        As written in the run configuration and the estimation tables.
    model : str
        :class:`models.estimate.DesignSpec`'s ``model`` (``irm``, ``plr``, ``pliv``, ``naive``, ``apos``).
    score : str or None
        ``DesignSpec.score`` (``ATTE``, ``ATE``); None: the model's default.
    model_name : str
        The estimates' ``model`` column.
    label : str
        The report's name of the design.
    short_label : str
        The feasibility verdict's name of the design.
    estimand : str
        What the estimate estimates (docs/estimation.md, "Designs").
    truth_key : str or None
        The key of the true value in a synthetic delivery's truth file (``att``, ``ate``, ``contrasts``); None:
        the truth file holds none.
    unit : str
        :data:`UNIT_MEETINGS` or :data:`UNIT_FIRST_MEETING`.
    causal : bool
        An effect under the design's assumptions (the naive difference is not).
    binary : bool
        The effect of the binary treatment ``digital`` (the modality design contrasts three forms).
    valued : bool
        May be the value section's design (``value.design``): a causal effect of one binary treatment.
    """

    name: str
    model: str
    score: str | None
    model_name: str
    label: str
    short_label: str
    estimand: str
    truth_key: str | None
    unit: str = UNIT_MEETINGS
    causal: bool = True
    binary: bool = True
    valued: bool = False


DESIGNS: tuple[Design, ...] = (
    Design("irm_att", "irm", "ATTE", "IRM", "IRM, ATT (effect on the digitally met)", "IRM-ATT",
           "ATT of digital", "att", valued=True),
    Design("irm_ate", "irm", "ATE", "IRM", "IRM, ATE (average effect)", "IRM-ATE",
           "ATE of digital", "ate", valued=True),
    Design("plr", "plr", None, "PLR", "PLR (partially linear, robustness)", "PLR",
           "partially linear coefficient", "ate", valued=True),
    Design("pliv", "pliv", None, "PLIV", "PLIV (jobcentre-practice instrument)", "PLIV (instrument)",
           "IV coefficient", "ate", valued=True),
    Design("naive", "naive", None, "NAIVE", "naive difference in means", "naive difference",
           "difference in means", "att", causal=False),
    Design("irm_att_first", "irm", "ATTE", "IRM", "IRM, ATT on the first meeting of each spell (secondary unit)",
           "IRM-ATT on first meetings", "ATT on the first eligible meeting of each spell", None,
           unit=UNIT_FIRST_MEETING),
    Design("modality", "apos", "ATE", "APOS", "APOS, contrasts of the meeting forms (in person, telephone, video)",
           "APOS contrasts", "average potential outcomes of meeting_form and their contrasts", "contrasts",
           binary=False),
)  # fmt: skip
DESIGN_NAMES: tuple[str, ...] = tuple(d.name for d in DESIGNS)
DesignName = Literal[DESIGN_NAMES]  # type: ignore[valid-type]
VALUED_DESIGN_NAMES: tuple[str, ...] = tuple(d.name for d in DESIGNS if d.valued)
ValuedDesignName = Literal[VALUED_DESIGN_NAMES]  # type: ignore[valid-type]
# the designs whose estimate is a causal effect of digital under their assumptions (models/feasibility.py)
CAUSAL_DESIGN_NAMES: tuple[str, ...] = tuple(d.name for d in DESIGNS if d.causal and d.binary)
# The plan's primary design (the headline, the diagnostics, the value section's default)
PRIMARY_DESIGN = "irm_att"
_BY_NAME = {d.name: d for d in DESIGNS}


def design(name: str) -> Design:
    """The record of design ``name``.

    Raises
    ------
    ValueError
        Naming the design, when there is none of that name.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"design must be one of {list(DESIGN_NAMES)}; got {name!r}") from None


def on_all_meetings(name: str) -> Design:
    """The design of all eligible meetings that design ``name`` repeats (same model and score): itself, or
    for a design of the secondary unit (``irm_att_first``) the primary unit's (``irm_att``)."""
    rec = design(name)
    if rec.unit == UNIT_MEETINGS:
        return rec
    return next(d for d in DESIGNS if (d.model, d.score, d.unit) == (rec.model, rec.score, UNIT_MEETINGS))


@dataclass(frozen=True)
class OutcomeKind:
    """One kind of outcome: its names follow ``template`` (``{k}``: a horizon in weeks).

    Attributes
    ----------
    name : str
        The kind.
    template : str
        The outcome's column name, ``{k}`` standing for the horizon in weeks.
    unit : str
        ``share`` (0/1 per meeting: means and effects are shares), ``weeks`` or ``kroner``.
    role : str
        ``primary`` or ``placebo``.
    meaning : str
        What it measures.
    """

    name: str
    template: str
    unit: Literal["share", "weeks", "kroner"]
    role: Literal["primary", "placebo"]
    meaning: str

    @property
    def pattern(self) -> re.Pattern[str]:
        head, sep, tail = self.template.partition("{k}")
        return re.compile(re.escape(head) + (r"(?P<k>\d+)" + re.escape(tail) if sep else ""))

    def outcome(self, k: int | None = None) -> str:
        """The outcome's name at horizon ``k`` (weeks)."""
        return self.template.format(k=k)


OUTCOME_KINDS: tuple[OutcomeKind, ...] = (
    OutcomeKind("exit", "y_exit_{k}w", "share", "primary",
                "exit to employment within k weeks of the meeting (weeks without a benefit code)"),
    OutcomeKind("selfsupport", "weeks_selfsupport_{k}w", "weeks", "primary",
                "weeks of self-support in the k weeks after the meeting"),
    OutcomeKind("selfsupport_pre", "weeks_selfsupport_pre{k}w", "weeks", "placebo",
                "weeks of self-support in the k weeks before the spell (pre-period outcome)"),
    OutcomeKind("wage_before", "wage_income_2y_before", "kroner", "placebo",
                "wage income of the calendar year two years before the meeting year"),
    OutcomeKind("exit_pseudo", "y_exit_{k}w_pseudo", "share", "placebo",
                "exit within k weeks of a pseudo-meeting before the spell (negative-control outcome)"),
)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """An outcome's name read against :data:`OUTCOME_KINDS`: its kind and horizon (weeks; None if none)."""

    name: str
    kind: OutcomeKind
    horizon: int | None

    @property
    def unit(self) -> str:
        return self.kind.unit


def outcome(name: str) -> Outcome:
    """The kind and horizon of outcome ``name``.

    Raises
    ------
    ValueError
        Naming the outcome, when it follows no declared kind.
    """
    for kind in OUTCOME_KINDS:
        m = kind.pattern.fullmatch(str(name))
        if m:
            k = m.groupdict().get("k")
            return Outcome(str(name), kind, int(k) if k is not None else None)
    raise ValueError(
        f"outcome: {name!r} follows none of the declared kinds {[k.template for k in OUTCOME_KINDS]}"
    )


def outcome_unit(name: str) -> str | None:
    """The unit of outcome ``name`` (``share``, ``weeks``, ``kroner``), or None for an undeclared name."""
    try:
        return outcome(name).unit
    except ValueError:
        return None


def outcome_kind_name(name: str) -> str | None:
    """The kind of outcome ``name`` (``exit``, ``selfsupport``, ...), or None for an undeclared name."""
    try:
        return outcome(name).kind.name
    except ValueError:
        return None
