"""Turn a simulated chunk into the delivery's register tables and stream them to Parquet or CSV.

File names and upper-case column names are exactly those of ``shared/docs/delivery_format.md``:
``bef{YYYY}{MM}``, ``udda{YYYY}``, ``ind{YYYY}``, ``akm{YYYY}``, ``akasse{YYYY}`` (2015-2022), ``dream``,
``samtaler{YYYY}`` (2019-2022), ``kontaktform_validering``, and the optional aggregate ``befolkning_kommune``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from synth.calendar import Calendar
from synth.codes import KIND_OTHER_BENEFIT, KIND_TARGET, Codes
from synth.simulate import (
    CENS,
    DP,
    EMP,
    FOC1,
    FOC2,
    GAP,
    KHJ,
    KHO,
    NONEMP,
    OEXIT,
    OTHB,
    ChunkResult,
    _age_at,
)
from synth.world import World

YEARS = tuple(range(2015, 2023))
SAMTALER_YEARS = tuple(range(2019, 2023))
QUARTER_MONTHS = (3, 6, 9, 12)
FORMATS = ("parquet", "csv")

PNR_T = pa.string()
INT_T = pa.int32()


def register_schemas(cal: Calendar) -> dict[str, pa.Schema]:
    """Every file of the delivery (name without extension) and its Arrow schema."""
    out: dict[str, pa.Schema] = {}
    bef = pa.schema(
        [
            ("PNR", PNR_T),
            ("KOEN", INT_T),
            ("FOED_DAG", pa.date32()),
            ("IE_TYPE", INT_T),
            ("OPR_LAND", INT_T),
            ("KOM", INT_T),
            ("CIVST", pa.string()),
        ]
    )
    for y in YEARS:
        for mo in QUARTER_MONTHS:
            out[f"bef{y}{mo:02d}"] = bef
    for y in YEARS:
        out[f"udda{y}"] = pa.schema([("PNR", PNR_T), ("HFAUDD", INT_T)])
        out[f"ind{y}"] = pa.schema(
            [("PNR", PNR_T), ("LOENMV_13", pa.float64()), ("PERINDKIALT_13", pa.float64())]
        )
        out[f"akm{y}"] = pa.schema([("PNR", PNR_T), ("SOCIO13", INT_T)])
        out[f"akasse{y}"] = pa.schema([("PNR", PNR_T), ("AKASSE_ID", INT_T)])
    out["dream"] = pa.schema(
        [("PNR", PNR_T)]
        + [(c, pa.string()) for c in cal.y_columns]
        + [(c, pa.int16()) for c in cal.grad_columns]
    )
    sam = pa.schema(
        [
            ("PNR", PNR_T),
            ("SAMTALE_DATO", pa.date32()),
            ("SAMTALETYPE", INT_T),
            ("KONTAKTFORM", pa.string()),
            ("AKTOER", pa.string()),
            ("KOMMUNE", INT_T),
        ]
    )
    for y in SAMTALER_YEARS:
        out[f"samtaler{y}"] = sam
    out["kontaktform_validering"] = pa.schema(
        [("KOMMUNE", INT_T), ("MAANED", pa.string()), ("BEKRAEFTET", INT_T)]
    )
    out["befolkning_kommune"] = pa.schema([("KOMMUNE", INT_T), ("AAR", INT_T), ("N_16_66", INT_T)])
    return out


class DeliveryWriter:
    """One streaming writer per file; every file exists (with its header/schema) even if empty."""

    def __init__(self, folder: Path, fmt: str, cal: Calendar) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"synth: format must be one of {FORMATS}, got {fmt!r}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=False)
        self.fmt = fmt
        self.schemas = register_schemas(cal)
        self._writers: dict[str, pq.ParquetWriter | pacsv.CSVWriter] = {}
        self.rows: dict[str, int] = dict.fromkeys(self.schemas, 0)
        for name, schema in self.schemas.items():
            path = self.folder / f"{name}.{fmt}"
            if fmt == "parquet":
                self._writers[name] = pq.ParquetWriter(path, schema, compression="zstd", compression_level=3)
            else:
                self._writers[name] = pacsv.CSVWriter(
                    path, schema, write_options=pacsv.WriteOptions(include_header=True, delimiter=",")
                )

    def write(self, name: str, table: pa.Table) -> None:
        table = table.select(self.schemas[name].names).cast(self.schemas[name])
        if table.num_rows == 0:
            return
        if self.fmt == "parquet":
            self._writers[name].write_table(table, row_group_size=max(table.num_rows, 1))
        else:
            self._writers[name].write_table(table)
        self.rows[name] += table.num_rows

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}

    def files(self) -> list[Path]:
        return [self.folder / f"{name}.{self.fmt}" for name in self.schemas]


def validation_table(world: World, cal: Calendar) -> pa.Table:
    return pa.table(world.validation_rows(cal))


def population_table(world: World, persons: int, coverage: float, cal: Calendar) -> pa.Table:
    years = range(cal.first_year, cal.first_year + (cal.n_months + 11) // 12)
    return pa.table(world.population_rows(persons, coverage, years))


def _str_col(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(object) if values.dtype != object else values, type=pa.string())


def _code_strings(col: np.ndarray, uniq: np.ndarray, dictionary: pa.Array) -> pa.Array:
    idx = np.searchsorted(uniq, col).astype(np.int32)
    ind = pa.array(idx, mask=col == 0)
    return pa.DictionaryArray.from_arrays(ind, dictionary).cast(pa.string())


def _rate_lookup(codes: Codes) -> np.ndarray:
    """Weekly benefit amount (DKK) by DREAM code, for the income register (synthetic levels)."""
    rate = np.zeros(1000, dtype=np.float32)
    rate[codes.kind_lookup == KIND_OTHER_BENEFIT] = 3_600.0
    rate[codes.kind_lookup == KIND_TARGET] = 2_800.0
    rate[list(codes.dagpenge)] = 4_600.0
    rate[list(codes.kh_other)] = 2_800.0
    return rate


def chunk_tables(res: ChunkResult, cal: Calendar, codes: Codes, world: World) -> dict[str, pa.Table]:
    """The chunk's rows of every register file (name without extension -> table)."""
    p = res.persons
    st = res.states
    n = p.pid.shape[0]
    rows_all = np.arange(n)
    pnr = pa.array(p.pnr, type=pa.string())
    out: dict[str, pa.Table] = {}
    gone = np.isin(st, (OEXIT, CENS))
    kom_codes = world.kom_codes
    # BEF
    birth = pa.array(p.birth.astype("datetime64[D]"), type=pa.date32())
    for y in YEARS:
        for mo in QUARTER_MONTHS:
            last = dt.date(y, 12, 31) if mo == 12 else dt.date(y, mo + 1, 1) - dt.timedelta(days=1)
            wq = min(cal.week_of_date(last), cal.n_weeks - 1)
            present = ~gone[:, wq]
            sel = np.flatnonzero(present)
            kom = kom_codes[p.kom_at(rows_all, np.full(n, wq))]
            out[f"bef{y}{mo:02d}"] = pa.table(
                {
                    "PNR": pnr.take(sel),
                    "KOEN": p.koen[sel],
                    "FOED_DAG": birth.take(sel),
                    "IE_TYPE": p.ie[sel],
                    "OPR_LAND": p.opr_land[sel],
                    "KOM": kom[sel],
                    "CIVST": _str_col(p.civst[sel]),
                }
            )
    # yearly registers
    rate = _rate_lookup(codes)
    week_year = cal.week_month // 12
    ystarts = np.searchsorted(week_year, np.arange(len(YEARS)))
    ben_dkk = np.add.reduceat(rate[res.codes], ystarts, axis=1, dtype=np.float64)  # (n, years)
    gr = res.grads.astype(np.float64)
    wage_m = np.where(gr > 0, gr / 100.0, 0.0) * p.wage_month[:, None]
    wage_y = wage_m.reshape(n, len(YEARS), 12).sum(axis=2)
    age_now = {y: _age_at(p.birth, np.full(n, np.datetime64(f"{y}-11-30", "D"))) for y in YEARS}
    for yi, y in enumerate(YEARS):
        w_sep = cal.week_of_date(dt.date(y, 9, 30))
        w_nov = cal.week_of_date(dt.date(y, 11, 30))
        w_dec = min(cal.week_of_date(dt.date(y, 12, 31)), cal.n_weeks - 1)
        sel = np.flatnonzero(~gone[:, w_sep] & p.in_udda)
        out[f"udda{y}"] = pa.table({"PNR": pnr.take(sel), "HFAUDD": p.hfaudd[sel]})
        sel = np.flatnonzero(~gone[:, w_dec])
        loen = np.round(wage_y[sel, yi], 0)
        tot = np.round(loen + ben_dkk[sel, yi] + p.other_income[sel], 0)
        out[f"ind{y}"] = pa.table({"PNR": pnr.take(sel), "LOENMV_13": loen, "PERINDKIALT_13": tot})
        s_nov = st[:, w_nov]
        sel = np.flatnonzero(~np.isin(s_nov, (OEXIT, CENS)))
        s = s_nov[sel]
        young = age_now[y][sel] < 30
        grp = np.full(sel.shape[0], 1, dtype=np.int8)  # outside labour force
        grp[s == EMP] = 0
        grp[np.isin(s, (DP, KHJ, FOC1, FOC2))] = 2
        grp[np.isin(s, (NONEMP, GAP)) & young] = 3
        grp[(s == EMP) & p.self_employed[sel]] = 4
        grp[np.isin(s, (KHO, OTHB))] = 1
        lists = [
            codes.socio_employee,
            codes.socio_outside,
            codes.socio_unemployed,
            codes.socio_student,
            codes.socio_self_employed,
        ]
        soc = np.zeros(sel.shape[0], dtype=np.int32)
        for gi, lst in enumerate(lists):
            m = grp == gi
            arr = np.array(lst, dtype=np.int32)
            soc[m] = arr[p.pid[sel][m] % len(arr)]
        out[f"akm{y}"] = pa.table({"PNR": pnr.take(sel), "SOCIO13": soc})
        sel = np.flatnonzero(~gone[:, w_dec] & p.member)
        out[f"akasse{y}"] = pa.table({"PNR": pnr.take(sel), "AKASSE_ID": p.akasse_id[sel]})
    # DREAM
    uniq = np.unique(res.codes)
    uniq = uniq[uniq > 0]
    dictionary = pa.array([f"{int(c):03d}" for c in uniq], type=pa.string())
    cols: dict[str, pa.Array] = {"PNR": pnr}
    for j, name in enumerate(cal.y_columns):
        cols[name] = _code_strings(res.codes[:, j], uniq, dictionary)
    for k, name in enumerate(cal.grad_columns):
        g = res.grads[:, k]
        cols[name] = pa.array(g, type=pa.int16(), mask=g < 0)
    out["dream"] = pa.table(cols)
    # samtaler
    mt = res.meetings
    yr = mt["date"].astype("datetime64[Y]").astype(np.int64) + 1970
    for y in SAMTALER_YEARS:
        sel = np.flatnonzero(yr == y)
        out[f"samtaler{y}"] = pa.table(
            {
                "PNR": pnr.take(mt["row"][sel]),
                "SAMTALE_DATO": pa.array(mt["date"][sel].astype("datetime64[D]"), type=pa.date32()),
                "SAMTALETYPE": mt["type"][sel].astype(np.int32),
                "KONTAKTFORM": _str_col(mt["form"][sel]),
                "AKTOER": _str_col(mt["actor"][sel]),
                "KOMMUNE": kom_codes[mt["kom"][sel]],
            }
        )
    return out
