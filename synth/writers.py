"""Turn a simulated chunk into the delivery's register tables and stream them to Parquet, CSV or SAS.

File names and upper-case column names are exactly those of ``shared/docs/delivery_format.md``:
``bef{YYYY}{MM}``, ``udda{YYYY}``, ``ind{YYYY}``, ``akm{YYYY}``, ``akasse{YYYY}`` (2015-2022), ``dream``,
``samtaler{YYYY}`` (2019-2022), ``kontaktform_validering``, and the optional aggregate ``befolkning_kommune``.

``.sas7bdat`` files are written with the fixture writer in ``../shared/tools/`` (ReadStat's C writer
through ctypes; found at run time beside the repository, not vendored): each register is first streamed to
a Parquet file in a hidden sibling folder, then copied row group by row group into a ``.sas7bdat`` whose
row count is then known, so memory stays flat whatever the person count.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import importlib.util
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from itertools import repeat
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from synth.calendar import Calendar, DreamLayout
from synth.codes import KIND_OTHER_BENEFIT, KIND_TARGET, Codes
from synth.early import EarlyHistory
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
FORMATS = ("parquet", "csv", "sas7bdat")
# cells per DREAM row block: DREAM is written in row blocks so that ~1,800 columns of 50,000 persons are
# never one table in memory
DREAM_BLOCK_CELLS = 4_000_000

PNR_T = pa.string()
INT_T = pa.int32()


def register_schemas(layout: DreamLayout) -> dict[str, pa.Schema]:
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
        + [(c, pa.string()) for c in layout.y_columns]
        + [(c, pa.int16()) for c in layout.grad_columns]
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


SAS_TOOL = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "sas7bdat_writer.py"
SAS_EPOCH_OFFSET_DAYS = 3653  # 1960-01-01 to 1970-01-01
SAS_FILE_TIMESTAMP = 1_672_531_200  # 2023-01-01 00:00 UTC: fixed, so that the same seed gives the same bytes
SAS_BATCH_CELLS = 4_000_000


def load_sas_tool(path: Path = SAS_TOOL) -> ModuleType:
    """The fixture writer ``../shared/tools/sas7bdat_writer.py`` (beside the repository), imported by path.

    Raises
    ------
    ValueError
        When the file is not there: ``--format sas7bdat`` needs it (it is not part of the repository).
    """
    if not path.is_file():
        raise ValueError(
            f"synth: --format sas7bdat needs the fixture writer {path} (../shared/tools/sas7bdat_writer.py "
            "beside the repository, which calls the ReadStat writer inside pyreadstat on Linux); it is "
            "not there. Use --format parquet or csv, or put the shared tools folder beside the repository"
        )
    spec = importlib.util.spec_from_file_location("regdml_shared_sas7bdat_writer", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"synth: cannot import the fixture writer {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SasFileWriter:
    """Copy one Parquet file into a genuine ``.sas7bdat``, row batch by row batch (flat memory).

    Numbers become SAS numbers (doubles), ``date32`` columns SAS dates (days since 1960-01-01, format
    ``DATE9``), strings character columns of the longest value's byte width. A null number is a SAS
    missing value; a null string is an empty (unwritten) cell, which SAS readers return as an empty
    string. The header's time stamp is fixed, so the same data give the same bytes.
    """

    def __init__(self, tool: ModuleType) -> None:
        self.tool = tool
        self.lib = tool.load_lib()
        self.lib.readstat_writer_set_file_timestamp.argtypes = [ctypes.c_void_p, ctypes.c_long]

    def write(self, src: Path, dst: Path, widths: dict[str, int], table_name: str) -> int:
        """Write ``dst`` from the Parquet file ``src``; ``widths`` gives each string column's byte width."""
        lib, tool = self.lib, self.tool
        pf = pq.ParquetFile(src)
        schema = pf.schema_arrow
        n_rows = pf.metadata.num_rows
        fh = dst.open("wb")

        @tool.WRITER_CB
        def _sink(data: int, n: int, _ctx: int) -> int:
            fh.write(ctypes.string_at(data, n))
            return n

        w = lib.readstat_writer_init()
        try:
            tool._chk(lib, lib.readstat_set_data_writer(w, ctypes.cast(_sink, ctypes.c_void_p)))
            tool._chk(lib, lib.readstat_writer_set_table_name(w, table_name.upper().encode()))
            tool._chk(lib, lib.readstat_writer_set_file_timestamp(w, SAS_FILE_TIMESTAMP))
            str_cols, num_cols = [], []
            str_vars, num_vars = [], []
            for f in schema:
                if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
                    width = max(int(widths.get(f.name, 1)), 1)
                    var = lib.readstat_add_variable(w, f.name.encode(), tool.READSTAT_TYPE_STRING, width)
                    str_cols.append(f.name)
                    str_vars.append(var)
                else:
                    var = lib.readstat_add_variable(w, f.name.encode(), tool.READSTAT_TYPE_DOUBLE, 8)
                    if pa.types.is_date(f.type):
                        lib.readstat_variable_set_format(var, b"DATE9")
                    num_cols.append(f.name)
                    num_vars.append(var)
            tool._chk(lib, lib.readstat_begin_writing_sas7bdat(w, None, n_rows))
            s_vars = np.array(str_vars, dtype=object)
            n_vars = np.array(num_vars, dtype=object)
            batch = max(1, SAS_BATCH_CELLS // max(len(schema), 1))
            for rb in pf.iter_batches(batch_size=batch):
                self._rows(w, rb, str_cols, s_vars, num_cols, n_vars)
            tool._chk(lib, lib.readstat_end_writing(w))
        finally:
            lib.readstat_writer_free(w)
            fh.close()
        return n_rows

    def _rows(
        self,
        w: int,
        rb: pa.RecordBatch,
        str_cols: list[str],
        s_vars: np.ndarray,
        num_cols: list[str],
        n_vars: np.ndarray,
    ) -> None:
        # Build the batch's non-empty cells in row-major order with numpy, then hand each row's cells to
        # the C writer with map() (no Python frame per cell: about 0.3 microseconds a cell).
        lib = self.lib
        n = rb.num_rows
        s_rows = s_cols = np.empty(0, dtype=np.int64)
        s_vals: list[bytes] = []
        if str_cols:
            idx = np.full((n, len(str_cols)), -1, dtype=np.int64)
            words: list[bytes] = []
            for j, name in enumerate(str_cols):
                enc = rb.column(name).dictionary_encode()
                ind = enc.indices
                valid = np.asarray(ind.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
                codes = np.asarray(ind.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
                idx[:, j] = np.where(valid, codes + len(words), -1)
                words += [v.encode("utf-8") for v in enc.dictionary.to_pylist()]
            s_rows, s_cols = np.nonzero(idx >= 0)
            word_arr = np.array(words, dtype=object) if words else np.empty(0, dtype=object)
            s_vals = word_arr[idx[s_rows, s_cols]].tolist()
        d_rows = d_cols = m_rows = m_cols = np.empty(0, dtype=np.int64)
        d_vals: list[float] = []
        if num_cols:
            x = np.empty((n, len(num_cols)), dtype=np.float64)
            ok = np.empty((n, len(num_cols)), dtype=bool)
            for j, name in enumerate(num_cols):
                col = rb.column(name)
                ok[:, j] = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
                if pa.types.is_date(col.type):
                    days = pc.cast(col, pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
                    x[:, j] = days.astype(np.float64) + SAS_EPOCH_OFFSET_DAYS
                else:
                    x[:, j] = pc.cast(col, pa.float64()).fill_null(0).to_numpy(zero_copy_only=False)
            d_rows, d_cols = np.nonzero(ok)
            d_vals = x[d_rows, d_cols].tolist()
            m_rows, m_cols = np.nonzero(~ok)
        bounds = np.arange(n + 1)
        sb = np.searchsorted(s_rows, bounds).tolist()
        db = np.searchsorted(d_rows, bounds).tolist()
        mb = np.searchsorted(m_rows, bounds).tolist()
        sv = s_vars[s_cols].tolist()
        dv = n_vars[d_cols].tolist()
        mv = n_vars[m_cols].tolist()
        ins_s, ins_d, ins_m = (
            lib.readstat_insert_string_value,
            lib.readstat_insert_double_value,
            lib.readstat_insert_missing_value,
        )
        begin, end = lib.readstat_begin_row, lib.readstat_end_row
        for i in range(n):
            begin(w)
            a, b = sb[i], sb[i + 1]
            if b > a:
                deque(map(ins_s, repeat(w, b - a), sv[a:b], s_vals[a:b]), maxlen=0)
            a, b = db[i], db[i + 1]
            if b > a:
                deque(map(ins_d, repeat(w, b - a), dv[a:b], d_vals[a:b]), maxlen=0)
            a, b = mb[i], mb[i + 1]
            if b > a:
                deque(map(ins_m, repeat(w, b - a), mv[a:b]), maxlen=0)
            end(w)


class DeliveryWriter:
    """One streaming writer per file; every file exists (with its header/schema) even if empty.

    For ``sas7bdat`` the registers are streamed to Parquet in the hidden sibling folder
    ``.<folder>.parquet`` and converted by :meth:`close` (see :class:`SasFileWriter`); :meth:`abort`
    discards everything.
    """

    def __init__(
        self,
        folder: Path,
        fmt: str,
        layout: DreamLayout,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"synth: format must be one of {FORMATS}, got {fmt!r}")
        self._sas = SasFileWriter(load_sas_tool()) if fmt == "sas7bdat" else None
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=False)
        self.fmt = fmt
        self.say = progress or (lambda _msg: None)
        self.schemas = register_schemas(layout)
        self._writers: dict[str, pq.ParquetWriter | pacsv.CSVWriter] = {}
        self.rows: dict[str, int] = dict.fromkeys(self.schemas, 0)
        self.widths: dict[str, dict[str, int]] = {name: {} for name in self.schemas}
        self.stage = self.folder.parent / f".{self.folder.name}.parquet" if self._sas else self.folder
        if self._sas:
            if self.stage.exists():
                shutil.rmtree(self.stage)
            self.stage.mkdir(parents=True)
        for name, schema in self.schemas.items():
            if fmt == "csv":
                self._writers[name] = pacsv.CSVWriter(
                    self.folder / f"{name}.csv",
                    schema,
                    write_options=pacsv.WriteOptions(include_header=True, delimiter=","),
                )
            else:
                self._writers[name] = pq.ParquetWriter(
                    self.stage / f"{name}.parquet", schema, compression="zstd", compression_level=3
                )

    def write(self, name: str, table: pa.Table) -> None:
        table = table.select(self.schemas[name].names).cast(self.schemas[name])
        if table.num_rows == 0:
            return
        if self.fmt == "csv":
            self._writers[name].write_table(table)
        else:
            self._writers[name].write_table(table, row_group_size=max(table.num_rows, 1))
        if self._sas:
            widths = self.widths[name]
            for f in self.schemas[name]:
                if pa.types.is_string(f.type):
                    longest = pc.max(pc.binary_length(table.column(f.name))).as_py() or 0
                    widths[f.name] = max(widths.get(f.name, 1), int(longest))
        self.rows[name] += table.num_rows

    def _close_writers(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}

    def close(self) -> None:
        """Finish every file (for ``sas7bdat``: convert the staged Parquet files, then remove them)."""
        self._close_writers()
        if self._sas is None:
            return
        t0 = time.time()
        for name in self.schemas:
            src = self.stage / f"{name}.parquet"
            t1 = time.time()
            self._sas.write(src, self.folder / f"{name}.sas7bdat", self.widths[name], name)
            src.unlink()
            if name == "dream":
                self.say(
                    f"synth: wrote dream.sas7bdat ({self.rows[name]:,} rows) in {time.time() - t1:.1f} s"
                )
        shutil.rmtree(self.stage, ignore_errors=True)
        self.say(f"synth: wrote {len(self.schemas)} .sas7bdat files in {time.time() - t0:.1f} s")

    def abort(self) -> None:
        """Close the writers and remove the staged Parquet files (the caller removes ``folder``)."""
        self._close_writers()
        if self._sas is not None:
            shutil.rmtree(self.stage, ignore_errors=True)

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


def dream_blocks(res: ChunkResult, layout: DreamLayout, early: EarlyHistory | None) -> Iterator[pa.Table]:
    """The chunk's DREAM rows in row blocks of about :data:`DREAM_BLOCK_CELLS` cells.

    Columns: PNR, the early weeks (from ``early``), the simulated weeks, the early grad months, the
    simulated grad months up to the layout's last grad month (the lag drops the rest).
    """
    n = res.persons.pid.shape[0]
    y_cols, g_cols = layout.y_columns, layout.grad_columns
    n_cols = 1 + len(y_cols) + len(g_cols)
    step = max(1, DREAM_BLOCK_CELLS // n_cols)
    n_sim_g = layout.n_sim_grad_months
    pnr_all = pa.array(res.persons.pnr, type=pa.string())
    for a in range(0, n, step):
        b = min(a + step, n)
        sim_codes = res.codes[a:b]
        sim_grads = res.grads[a:b, :n_sim_g]
        if early is not None and (layout.n_early_weeks or layout.n_early_months):
            e_codes, e_grads = early.block(a, b)
            week_codes = np.concatenate([e_codes, sim_codes.astype(np.uint16)], axis=1)
            grads = np.concatenate([e_grads, sim_grads], axis=1)
        else:
            week_codes, grads = sim_codes, sim_grads
        uniq = np.unique(week_codes)
        uniq = uniq[uniq > 0]
        dictionary = pa.array([f"{int(c):03d}" for c in uniq], type=pa.string())
        cols: dict[str, pa.Array] = {"PNR": pnr_all.slice(a, b - a)}
        empty = pa.nulls(b - a, type=pa.string())
        any_code = (week_codes > 0).any(axis=0)
        for j, name in enumerate(y_cols):
            cols[name] = _code_strings(week_codes[:, j], uniq, dictionary) if any_code[j] else empty
        for k, name in enumerate(g_cols):
            g = grads[:, k]
            cols[name] = pa.array(g, type=pa.int16(), mask=g < 0)
        yield pa.table(cols)


def chunk_tables(res: ChunkResult, cal: Calendar, codes: Codes, world: World) -> dict[str, pa.Table]:
    """The chunk's rows of every register file but DREAM (name without extension -> table).

    DREAM comes in row blocks from :func:`dream_blocks`.
    """
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
