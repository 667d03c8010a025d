"""Hand-built staged registers for the register-logic tests (shapes of docs/design.md)."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from assets import weeks as W
from data_contracts.codebook import load_codebook
from data_contracts.config import load_config


def wk(label: str) -> int:
    """Week index of an ISO label 'YYYY-Www'."""
    return W.label_to_week_index(label)


class World:
    """A tiny staged delivery. DREAM covers ``first``..``last`` (ISO labels)."""

    def __init__(self, first: str = "2019-W01", last: str = "2021-W40"):
        self.first, self.last = wk(first), wk(last)
        self.bef: list[dict] = []
        self.codes: dict[str, dict[int, str]] = {}
        self.grad: dict[str, dict[tuple[int, int], int]] = {}
        self.meetings: list[dict] = []
        self.validation: list[dict] = []
        self.udda: list[dict] = []
        self.ind: list[dict] = []
        self.akm: list[dict] = []
        self.akasse: list[dict] = []
        self.population: list[dict] = []
        self.dream_persons: set[str] = set()
        # DREAM's grad_ months: None = every month of the weeks; else ('YYYY-MM', 'YYYY-MM'), as delivered
        self.grad_months: tuple[str, str] | None = None

    def copy(self) -> World:
        return copy.deepcopy(self)

    # -- builders -------------------------------------------------------------------------------
    def person(
        self,
        pnr,
        foed_dag=dt.date(1980, 6, 15),
        koen=1,
        ie_type=1,
        kom=101,
        civst="U",
        snapshots=None,
        in_dream=True,
    ):
        """BEF rows for quarterly snapshots (default 2019-03 .. 2021-06)."""
        if snapshots is None:
            snapshots = [(y, m) for y in (2019, 2020, 2021) for m in (3, 6, 9, 12) if (y, m) <= (2021, 6)]
        for y, m in snapshots:
            last_day = dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)
            self.bef.append(
                {
                    "pnr": pnr,
                    "koen": koen,
                    "foed_dag": foed_dag,
                    "ie_type": ie_type,
                    "opr_land": 5100,
                    "kom": kom,
                    "civst": civst,
                    "year": y,
                    "month": m,
                    "reference_date": last_day,
                    "source_file": f"bef{y}{m:02d}.parquet",
                }
            )
        if in_dream:
            self.dream_persons.add(pnr)
        return self

    def code(self, pnr, frm: str, to: str, code: str):
        self.dream_persons.add(pnr)
        d = self.codes.setdefault(pnr, {})
        for i in range(wk(frm), wk(to) + 1):
            d[i] = code
        return self

    def set_grad(self, pnr, frm: str, to: str, value: int):
        """grad for every month from 'YYYY-MM' to 'YYYY-MM'."""
        self.dream_persons.add(pnr)
        y, m = map(int, frm.split("-"))
        y2, m2 = map(int, to.split("-"))
        while (y, m) <= (y2, m2):
            self.grad.setdefault(pnr, {})[(y, m)] = value
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return self

    def meeting(self, pnr, date, kontaktform="P", samtaletype=7, aktoer="JC", kommune=101):
        self.meetings.append(
            {
                "pnr": pnr,
                "samtale_dato": date,
                "samtaletype": samtaletype,
                "kontaktform": kontaktform,
                "aktoer": aktoer,
                "kommune": kommune,
                "year": date.year,
                "source_file": f"samtaler{date.year}.parquet",
            }
        )
        return self

    def confirm(self, kommune, months, value=1):
        for mk in months:
            self.validation.append(
                {
                    "kommune": kommune,
                    "maaned": mk,
                    "bekraeftet": value,
                    "source_file": "kontaktform_validering.parquet",
                }
            )
        return self

    def add_udda(self, pnr, year, hfaudd):
        self.udda.append(
            {
                "pnr": pnr,
                "hfaudd": hfaudd,
                "year": year,
                "reference_date": dt.date(year, 9, 30),
                "source_file": f"udda{year}.parquet",
            }
        )
        return self

    def add_ind(self, pnr, year, wage, total):
        self.ind.append(
            {
                "pnr": pnr,
                "loenmv_13": float(wage),
                "perindkialt_13": float(total),
                "year": year,
                "reference_date": dt.date(year, 12, 31),
                "source_file": f"ind{year}.parquet",
            }
        )
        return self

    def add_akm(self, pnr, year, socio13):
        self.akm.append(
            {
                "pnr": pnr,
                "socio13": socio13,
                "year": year,
                "reference_date": dt.date(year, 11, 30),
                "source_file": f"akm{year}.parquet",
            }
        )
        return self

    def add_akasse(self, pnr, year, akasse_id):
        self.akasse.append(
            {
                "pnr": pnr,
                "akasse_id": akasse_id,
                "year": year,
                "reference_date": dt.date(year, 12, 31),
                "source_file": f"akasse{year}.parquet",
            }
        )
        return self

    def add_population(self, kommune: int, n_16_66: int, aar: int | None = None, maaned: str | None = None):
        """A row of the optional aggregate register befolkning_kommune."""
        self.population.append(
            {
                "kommune": kommune,
                "aar": aar,
                "maaned": maaned,
                "n_16_66": n_16_66,
                "source_file": "befolkning_kommune.parquet",
            }
        )
        return self

    # -- output ---------------------------------------------------------------------------------
    def dream_frame(self) -> pl.DataFrame:
        weeks = range(self.first, self.last + 1)
        months = sorted({W.week_month(i) for i in weeks})
        if self.grad_months is not None:
            lo, hi = (tuple(int(x) for x in m.split("-")) for m in self.grad_months)
            months = [(y, m) for y in range(lo[0], hi[0] + 1) for m in range(1, 13) if lo <= (y, m) <= hi]
        pnrs = sorted(self.dream_persons)
        data: dict[str, object] = {"pnr": pnrs}
        schema: dict[str, object] = {"pnr": pl.String}
        for i in weeks:
            y, w, _ = W.week_monday(i).isocalendar()
            col = f"y_{y % 100:02d}{w:02d}"
            data[col] = [self.codes.get(p, {}).get(i) for p in pnrs]
            schema[col] = pl.String
        for y, m in months:
            col = f"grad_{y}_{m:02d}"
            data[col] = [self.grad.get(p, {}).get((y, m)) for p in pnrs]
            schema[col] = pl.Int16
        data["source_file"] = ["dream.parquet"] * len(pnrs)
        schema["source_file"] = pl.String
        return pl.DataFrame(data, schema=schema)

    def write(self, work_dir: Path) -> Path:
        st = Path(work_dir) / "staging"
        st.mkdir(parents=True, exist_ok=True)
        I32, D, S, F = pl.Int32, pl.Date, pl.String, pl.Float64
        specs = {
            "bef": (
                self.bef,
                {
                    "pnr": S,
                    "koen": I32,
                    "foed_dag": D,
                    "ie_type": I32,
                    "opr_land": I32,
                    "kom": I32,
                    "civst": S,
                    "year": I32,
                    "month": I32,
                    "reference_date": D,
                    "source_file": S,
                },
            ),
            "udda": (
                self.udda,
                {"pnr": S, "hfaudd": I32, "year": I32, "reference_date": D, "source_file": S},
            ),
            "ind": (
                self.ind,
                {
                    "pnr": S,
                    "loenmv_13": F,
                    "perindkialt_13": F,
                    "year": I32,
                    "reference_date": D,
                    "source_file": S,
                },
            ),
            "akm": (self.akm, {"pnr": S, "socio13": I32, "year": I32, "reference_date": D, "source_file": S}),
            "akasse": (
                self.akasse,
                {"pnr": S, "akasse_id": I32, "year": I32, "reference_date": D, "source_file": S},
            ),
            "samtaler": (
                self.meetings,
                {
                    "pnr": S,
                    "samtale_dato": D,
                    "samtaletype": I32,
                    "kontaktform": S,
                    "aktoer": S,
                    "kommune": I32,
                    "year": I32,
                    "source_file": S,
                },
            ),
            "kontaktform_validering": (
                self.validation,
                {"kommune": I32, "maaned": S, "bekraeftet": I32, "source_file": S},
            ),
        }
        if self.population:
            specs["befolkning_kommune"] = (
                self.population,
                {"kommune": I32, "aar": I32, "maaned": S, "n_16_66": I32, "source_file": S},
            )
        for name, (rows, schema) in specs.items():
            pl.DataFrame(rows, schema=schema).write_parquet(st / f"{name}.parquet")
        self.dream_frame().write_parquet(st / "dream.parquet")
        return Path(work_dir)


@pytest.fixture(scope="session")
def codebook():
    return load_codebook()


@pytest.fixture(scope="session")
def cfg():
    return load_config()


@pytest.fixture
def world_cls():
    return World


@pytest.fixture
def duck(tmp_path):
    return {"memory_limit": "512MB", "threads": 1, "temp_directory": str(tmp_path / "spill")}


# ---- the main hand-built world ----------------------------------------------------------------
CONFIRMED_101 = [f"2020-{m:02d}" for m in range(5, 13)] + ["2021-01", "2021-02"]


def main_world() -> World:
    """Persons (PNRs with leading zeros) and meetings whose right answers are worked out in the tests.

    DREAM covers 2019-W01 .. 2021-W40. Everybody lives in kommune 101 unless said otherwise; kommune 101
    confirmed its meeting form for every month 2020-05 .. 2021-02.
    """
    w = World("2019-W01", "2021-W40")
    w.confirm(101, CONFIRMED_101)
    w.confirm(147, ["2020-10"], value=0)  # 147: October 2020 explicitly NOT confirmed; 151: no row at all
    # A: dagpenge 2020-W40 .. 2021-W05 (across 2020-W53), telephone meeting Wed 2020-12-30 (= 2020-W53).
    #    Employed from 2021-W06 (grad 50 from Feb 2021); grad 100 in Jan-Mar 2020 (placebo window).
    #    BEF: civst U until the 2020-12 snapshot, which says G (dated 31 Dec 2020, after the meeting week).
    w.person(
        "0000001",
        foed_dag=dt.date(1980, 6, 15),
        snapshots=[(y, m) for y in (2019, 2020) for m in (3, 6, 9)] + [(2019, 12)],
    )
    w.person(
        "0000001", foed_dag=dt.date(1980, 6, 15), civst="G", snapshots=[(2020, 12), (2021, 3), (2021, 6)]
    )
    w.code("0000001", "2020-W40", "2021-W05", "111").set_grad("0000001", "2021-02", "2021-09", 50)
    w.set_grad("0000001", "2020-01", "2020-03", 100)
    w.meeting("0000001", dt.date(2020, 12, 30), "T")
    w.add_udda("0000001", 2018, 1010).add_udda("0000001", 2019, 3020).add_udda("0000001", 2020, 6510)
    w.add_ind("0000001", 2019, 300000, 350000).add_ind("0000001", 2020, 999, 999)
    w.add_akm("0000001", 2019, 210).add_akm("0000001", 2020, 131)
    w.add_akasse("0000001", 2019, 5)
    # B: job-ready kontanthjaelp 130 in 2019-W10..W19 and 2020-W20..W30, 3 free weeks W31..W33, 131 in W34..W36,
    #    free from W37; grad 80 from 2020-07. In-person meeting Wed 2020-06-03 (W23). Born 1990-06-03.
    w.person("0012345", foed_dag=dt.date(1990, 6, 3), koen=2, ie_type=2, civst="G")
    w.code("0012345", "2019-W10", "2019-W19", "130").code("0012345", "2020-W20", "2020-W30", "130")
    w.code("0012345", "2020-W34", "2020-W36", "131").set_grad("0012345", "2020-07", "2021-12", 80)
    w.meeting("0012345", dt.date(2020, 6, 3), "P")
    # C: dagpenge 2020-W30..W35, video meeting Wed 2020-08-05 (W32); free from W36; grad 0 Aug-Sep 2020,
    #    60 from Oct 2020. Born 1985-08-06 (birthday the day after the meeting).
    w.person("0000300", foed_dag=dt.date(1985, 8, 6))
    w.code("0000300", "2020-W30", "2020-W35", "111").set_grad("0000300", "2020-08", "2020-09", 0)
    w.set_grad("0000300", "2020-10", "2021-09", 60)
    w.meeting("0000300", dt.date(2020, 8, 5), "V")
    # D: dagpenge from 2019-W20 to the end of DREAM (2021-W40); in-person meeting Wed 2021-02-24 (2021-W08).
    w.person("0000400").code("0000400", "2019-W20", "2021-W40", "112")
    w.meeting("0000400", dt.date(2021, 2, 24), "P")
    # E: dagpenge 2020-W45..2020-W53, censoring code 999 in 2021-W01, nothing after. Digital meeting 2020-11-11 (W46).
    w.person("0000500").code("0000500", "2020-W45", "2020-W53", "111").code(
        "0000500", "2021-W01", "2021-W01", "999"
    )
    w.meeting("0000500", dt.date(2020, 11, 11), "D")
    # F: 999 in 2019-W30 (in its placebo window), dagpenge 2020-W10..W20, other exit 651 from W21 to the end.
    #    In-person meeting Wed 2020-05-13 (W20).
    w.person("0000600").code("0000600", "2019-W30", "2019-W30", "999").code(
        "0000600", "2020-W10", "2020-W20", "113"
    )
    w.code("0000600", "2020-W21", "2021-W40", "651")
    w.meeting("0000600", dt.date(2020, 5, 13), "P")
    # G: dagpenge 2020-W37..W45. Meetings: Tue 2020-09-08 (W37, spell's first week), a letter Tue 2020-09-15
    #    (W38), and two in W39: Mon 2020-09-21 telephone, Thu 2020-09-24 in person.
    w.person("0000700").code("0000700", "2020-W37", "2020-W45", "111")
    w.meeting("0000700", dt.date(2020, 9, 8), "P").meeting("0000700", dt.date(2020, 9, 15), "B")
    w.meeting("0000700", dt.date(2020, 9, 21), "T").meeting("0000700", dt.date(2020, 9, 24), "P")
    # H: dagpenge 2020-W40..W50; meetings in kommune 147 (Oct 2020: BEKRAEFTET 0) and 151 (no validation row).
    w.person("0000800").code("0000800", "2020-W40", "2020-W50", "111")
    w.meeting("0000800", dt.date(2020, 10, 7), "P", kommune=147).meeting(
        "0000800", dt.date(2020, 11, 4), "T", kommune=151
    )
    # I: dagpenge 2020-W01..2021-W10; four meetings each failing one rule: type 4 (and a letter: counted
    #    under the first rule only), a-kasse actor, before the window, after the window.
    w.person("0000900").code("0000900", "2020-W01", "2021-W10", "111")
    w.meeting("0000900", dt.date(2020, 6, 3), "B", samtaletype=4).meeting(
        "0000900", dt.date(2020, 6, 10), "P", aktoer="AK"
    )
    w.meeting("0000900", dt.date(2020, 4, 29), "P").meeting("0000900", dt.date(2021, 3, 1), "P")
    # J: other kontanthjaelp (135) 2020-W20..W30, meeting 2020-06-10: not a target group.
    w.person("0001000").code("0001000", "2020-W20", "2020-W30", "135")
    w.meeting("0001000", dt.date(2020, 6, 10), "P")
    # K: in BEF, not in DREAM; meeting 2020-06-10: no code in the meeting week.
    w.person("0001100", in_dream=False)
    w.meeting("0001100", dt.date(2020, 6, 10), "P")
    # L: dagpenge, not in BEF; meeting 2020-06-10: unknown in BEF.
    w.code("0001200", "2020-W20", "2020-W30", "111")
    w.meeting("0001200", dt.date(2020, 6, 10), "P")
    # Outside the 16-66 population of kommune 101: aged 70 on benefit, aged 10.
    w.person("0009998", foed_dag=dt.date(1950, 1, 1)).code("0009998", "2019-W01", "2021-W40", "111")
    w.person("0009997", foed_dag=dt.date(2010, 1, 1), in_dream=False)
    # The whole municipality 101 (aggregate, FOLK1A-like): 30 residents aged 16-66 counted for 2019, 20 for
    # 2020 and 99 for 2021 (the 2021 count must not reach a meeting of 2020).
    w.add_population(101, 30, aar=2019).add_population(101, 20, aar=2020).add_population(101, 99, aar=2021)
    return w


@pytest.fixture(scope="session")
def main_run(tmp_path_factory):
    """The main world run once through the register-logic assets (tests/register_logic/stages.py); returns
    (work_dir, the run: metadata and check verdicts)."""
    from tests.register_logic.stages import run_stages

    work = tmp_path_factory.mktemp("rl_main")
    main_world().write(work)
    return work, run_stages(work, checks=True)


@pytest.fixture(scope="session")
def analysis(main_run):
    work, _ = main_run
    return pl.read_parquet(work / "analysis" / "analysis_table.parquet")


@pytest.fixture
def rl():
    """The builder helpers: rl.World, rl.wk, rl.main_world."""
    import types

    return types.SimpleNamespace(World=World, wk=wk, main_world=main_world)
