"""Parameters of the synthetic world (:class:`SynthParams`).

Defaults follow ``shared/docs/evidence.md``: weekly exit to employment about 2-6% for dagpenge
recipients and 1-2% for job-ready kontanthjaelp recipients, digital meeting shares near 100% in spring
2020 and lower after reopening, and a true effect of a digital (rather than in-person) meeting that is a
hazard ratio of about 0.95-1.00 overall, stronger negative for kontanthjaelp recipients.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SynthParams:
    """Frozen parameter set of the generator. Every value is written into the truth file.

    Attributes
    ----------
    share_focal : float
        Expected share of persons with a *focal* dagpenge or job-ready kontanthjaelp spell that starts
        between 2019-W40 and 2021-W08 (most of them overlap the analysis window May 2020 - Feb 2021).
    share_kh_nonmember : float
        Probability that a focal person who is not an a-kasse member is on job-ready kontanthjaelp
        (members are on dagpenge with probability ``1 - share_kh_member``).
    share_kh_member : float
        Probability that a focal a-kasse member is on job-ready kontanthjaelp rather than dagpenge.
    hazard_dagpenge, hazard_kh : float
        Baseline weekly exit intensity (reference person, first spell week, calendar factor 1).
    duration_dependence : float
        Exponent of elapsed spell weeks in the exit intensity (negative: falling hazard).
    covid_spring_factor, covid_autumn_factor, reopening_factor : float
        Calendar multipliers of the exit intensity: March-May 2020, June 2020 - February 2021, and from
        March 2021 on.
    effect_log_hr : float
        Log hazard ratio of a digital meeting (versus in person) for the reference group
        (dagpenge, age 30-49, man, education level 2-5).
    effect_kh : float
        Added log hazard ratio for job-ready kontanthjaelp recipients.
    effect_age_young, effect_age_old : float
        Added log hazard ratio for ages below 30 and 50 or above.
    effect_woman : float
        Added log hazard ratio for women.
    effect_edu_low, effect_edu_high : float
        Added log hazard ratio for education level 0-1 (none known, grundskole) and 6-8 (bachelor and up).
    effect_telephone_shift, effect_video_shift : float
        Added log hazard ratio of a telephone and of a video meeting (the codebook's form; other digital is
        video by default) on top of the digital one: the three-arm truth of the modality design. The
        defaults, -0.3 and +0.7 times log(1.04), make video 4% better than telephone on the hazard and are
        centred on the generator's telephone/video mix (70% / 30% of digital meetings), so the digital
        effect, the mix of the two, stays what it was without them.
    effect_scale : float
        Multiplies the whole log hazard ratio (1 = defaults above).
    null_effect : bool
        If True the hazard ratio is exactly 1 for every meeting: every true effect is 0.
    selection_strength : float
        Logit coefficient of the person's observable job-prospect index in the probability of a digital
        meeting (0 = meeting form independent of the person).
    selection_unobserved : float
        Logit coefficient of the unobserved disadvantage in the same probability (default 0, so that the
        covariates of the analysis plan suffice for identification).
    first_meeting_in_person : float
        Logit shift of the digital probability for the first meeting of a spell (negative: more in person).
    kh_digital_shift : float
        Logit shift of the digital probability for kontanthjaelp recipients.
    letter_share : float
        Share of jobcentre meetings held by letter (form ``other``; left out of the analysis).
    non_jobsamtale_share : float
        Share of scheduled jobcentre meetings of a focal spell that are not jobsamtaler.
    duplicate_meeting_share : float
        Share of jobcentre meetings followed by a second one in the same week.
    unconfirmed_share_high : float
        Monthly probability of BEKRAEFTET = 0 in the window for municipalities with poor registration.
    share_poor_registration : float
        Share of municipalities with poor registration.
    misregistration : float
        In unconfirmed municipality-months, probability that the registered form is the wrong one.
    meeting_interval_early, meeting_interval_late : float
        Mean weeks between jobcentre meetings in the first 26 spell weeks and later.
    population_coverage : float
        The synthetic persons as a share of their municipality's residents aged 16-66: the optional
        ``befolkning_kommune`` file counts ``persons x weight / population_coverage`` residents per
        municipality, as Statistics Denmark's FOLK1A would (a project's BEF holds only its own persons).
    world : str
        Name of the world these parameters describe (``easy``, ``realistic``, ``confounded`` for the presets
        of :data:`WORLDS`; anything else after ``--param`` overrides is still recorded as given).
    unobserved_hazard : float
        Coefficient of the unobserved disadvantage ``-z`` in the log exit intensity.
    level_own_share : float
        Median municipality's own digital share (before person-level terms) after it lets people back in
        person (between its reopening date and 15 December 2020, and again from its return date).
    level_own_sd : float
        Standard deviation of the municipalities' own level on the logit scale.
    level_hazard_link : float
        Coefficient of the municipality's hazard effect in its own digital level. Not 0 breaks the
        instrument's exclusion restriction (the level correlates with the municipality's exit hazard; the
        instrument's municipality effects absorb only its time-constant part).
    lockdown1_logit, reopen_allowed_logit, lockdown2_logit : float
        Logit of the digital share, every municipality: 12 March - 25 May 2020 (obligations suspended),
        26 May 2020 until the municipality's reopening date, and 16 December 2020 until its return date.
    return_shift : float
        Logit added to the own level from the municipality's return date (February - April 2021).
    reopen_max_weeks : int
        Reopening dates are drawn uniformly over this many weeks from 26 May 2020.
    share_never_reopen : float
        Share of municipalities that keep meetings digital throughout the window (own level
        ``never_reopen_logit``; drawn from a random stream of their own, so 0 changes no other draw).
    never_reopen_logit : float
        Logit of the digital share of those municipalities until 1 August 2021.
    chunk_size : int
        Persons per chunk (the output depends on it; it is recorded in the truth file).
    """

    share_focal: float = 0.55
    share_kh_nonmember: float = 0.6
    share_kh_member: float = 0.05
    hazard_dagpenge: float = 0.085
    hazard_kh: float = 0.032
    duration_dependence: float = -0.25
    covid_spring_factor: float = 0.55
    covid_autumn_factor: float = 0.85
    reopening_factor: float = 1.2
    effect_log_hr: float = math.log(0.985)
    effect_kh: float = math.log(0.93)
    effect_age_young: float = 0.01
    effect_age_old: float = -0.03
    effect_woman: float = 0.01
    effect_edu_low: float = -0.03
    effect_edu_high: float = 0.02
    effect_scale: float = 1.0
    null_effect: bool = False
    effect_telephone_shift: float = -0.3 * math.log(1.04)
    effect_video_shift: float = 0.7 * math.log(1.04)
    selection_strength: float = 3.0
    selection_unobserved: float = 0.0
    first_meeting_in_person: float = -0.4
    kh_digital_shift: float = -0.3
    letter_share: float = 0.03
    non_jobsamtale_share: float = 0.08
    duplicate_meeting_share: float = 0.03
    unconfirmed_share_high: float = 0.35
    share_poor_registration: float = 0.3
    misregistration: float = 0.3
    meeting_interval_early: float = 5.5
    meeting_interval_late: float = 10.0
    population_coverage: float = 0.3
    world: str = "easy"
    unobserved_hazard: float = 0.3
    level_own_share: float = 0.60
    level_own_sd: float = 0.6
    level_hazard_link: float = 1.5
    lockdown1_logit: float = 4.2
    reopen_allowed_logit: float = 2.4
    lockdown2_logit: float = 3.0
    return_shift: float = 0.4
    reopen_max_weeks: int = 20
    share_never_reopen: float = 0.0
    never_reopen_logit: float = 4.5
    chunk_size: int = 50_000

    def __post_init__(self) -> None:
        for name in (
            "share_focal",
            "share_kh_nonmember",
            "share_kh_member",
            "letter_share",
            "non_jobsamtale_share",
            "duplicate_meeting_share",
            "unconfirmed_share_high",
            "share_poor_registration",
            "misregistration",
            "population_coverage",
            "share_never_reopen",
        ):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"SynthParams.{name} must lie in [0, 1], got {v}")
        for name in ("hazard_dagpenge", "hazard_kh", "meeting_interval_early", "meeting_interval_late"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SynthParams.{name} must be positive, got {getattr(self, name)}")
        if not 0.0 < self.level_own_share < 1.0:
            raise ValueError(f"SynthParams.level_own_share must lie in (0, 1), got {self.level_own_share}")
        if self.level_own_sd < 0 or self.reopen_max_weeks < 1:
            raise ValueError(
                f"SynthParams.level_own_sd must be >= 0 and reopen_max_weeks >= 1, got {self.level_own_sd} "
                f"and {self.reopen_max_weeks}"
            )
        if self.chunk_size < 1:
            raise ValueError(f"SynthParams.chunk_size must be >= 1, got {self.chunk_size}")

    def replace(self, **changes: Any) -> SynthParams:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """All parameters as a JSON-ready dict."""
        return dataclasses.asdict(self)


# The worlds of ``regdml synth --world`` (docs/synth.md, "Worlds"). Each is a set of changes to the
# dataclass defaults, which are the ``easy`` world (the generator as it was before worlds existed).
WORLDS: dict[str, dict[str, Any]] = {
    # Digital share about 0.67 overall, 45-92% by month; selection on observables only; the municipality's
    # digital level follows its hazard effect (a mildly invalid instrument).
    "easy": {},
    # 2020-21 as the evidence describes it (shared/docs/evidence.md, domain.md):
    "realistic": {
        # Nyborg: 96.1% (May 2020) and 98.3% (February 2021) of dagpenge jobsamtaler digital; STAR: 85-98%
        # digital from 26 May 2020 into 2021. Every municipality high until it reopens, ...
        "reopen_allowed_logit": 3.6,
        "lockdown2_logit": 3.6,
        # ... its own level afterwards about 95% (logit 2.9), spread 0.5 on the logit scale ...
        "level_own_share": 0.95,
        "level_own_sd": 0.5,
        "return_shift": 0.3,
        # ... reopening spread from late May to the end of the year (20 weeks in easy), ...
        "reopen_max_weeks": 30,
        # ... and a fifth of municipalities near 100% throughout (STAR: near-total digital in places).
        "share_never_reopen": 0.2,
        "never_reopen_logit": 4.5,
        # Job-ready kontanthjaelp lower: 80-95% (issue 18's target; jobindsats shows lower digital shares
        # for kontanthjaelp than dagpenge) [I].
        "kh_digital_shift": -0.7,
        # Caseworkers chose who came in person: mild selection on observables and on the unobserved
        # disadvantage (domain.md: reasons the registers do not hold) [I].
        "selection_strength": 1.5,
        "selection_unobserved": 0.3,
        # Registrations had to be re-confirmed month by month: more poorly registering municipalities.
        "share_poor_registration": 0.4,
        # Municipalities' practice only mildly related to their labour market.
        "level_hazard_link": 0.5,
        # True effect as in easy: HR about 0.97 (evidence.md: 0.95-1.00).
    },
    # Strong selection on the unobserved disadvantage, which also matters more for the exit hazard: the
    # covariates no longer suffice (IRM/PLR biased), while the municipality's practice is independent of
    # its labour market (a valid instrument given municipality and month effects).
    "confounded": {
        "selection_unobserved": 2.0,
        "unobserved_hazard": 0.6,
        "level_hazard_link": 0.0,
    },
}


def world_params(name: str, **changes: Any) -> SynthParams:
    """The parameters of the world ``name`` (a key of :data:`WORLDS`), with ``changes`` applied on top.

    Raises ``ValueError`` naming the world and the known worlds when ``name`` is unknown.
    """
    if name not in WORLDS:
        raise ValueError(f"world must be one of {sorted(WORLDS)}; got {name!r}")
    return SynthParams(**{**WORLDS[name], "world": name, **changes})
