"""Read delivered register files chunk by chunk (no Dagster import).

* ``.sas7bdat``: ``pyreadstat.read_file_in_chunks`` (never the whole file in memory); columns with a SAS
  date or datetime format arrive as dates; unformatted numbers in date columns are converted by the
  contract's type in :mod:`data_contracts.validation` (SAS dates or datetimes by magnitude).
* ``.parquet``: ``pyarrow.parquet.ParquetFile.iter_batches`` (streamed by row group and batch).
* ``.csv``: header row, ``;`` or ``,`` separator (sniffed from the header line), UTF-8 or Latin-1 (sniffed
  by decoding the file), read with ``pyarrow.csv.open_csv`` as strings only, so PNRs keep leading zeros.

Every reader yields Polars frames with the delivered column names; a file that cannot be read raises
:class:`FileReadError` with a message that contains no data values.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

DEFAULT_CHUNK_SIZE = 250_000
_CSV_BLOCK = 1 << 20


class FileReadError(Exception):
    """A delivered file that cannot be read (truncated, corrupt, wrong format)."""

    def __init__(self, file: str, message: str):
        self.file = file
        self.message = message
        super().__init__(f"{file}: {message}")


def _scrub(msg: str, limit: int = 200) -> str:
    """An exception message without anything that could be a per-person value (long digit runs)."""
    text = str(msg).splitlines()[0] if str(msg) else ""
    # pyarrow's CSV parse errors quote the offending row: keep only "Expected n columns, got m"
    m = re.search(r"Expected \d+ columns?, got \d+", text)
    if m:
        text = f"CSV parse error: {m.group(0)}"
    text = re.sub(r"\d{6,}", "<number>", text)
    return text[:limit]


def _fail(path: Path, what: str, err: BaseException) -> FileReadError:
    return FileReadError(path.name, f"cannot be read as {what} ({type(err).__name__}: {_scrub(str(err))})")


def file_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    fmt = {".sas7bdat": "sas7bdat", ".parquet": "parquet", ".csv": "csv"}.get(suffix)
    if fmt is None:
        raise FileReadError(Path(path).name, f"unknown extension {suffix!r}")
    return fmt


# ---------------------------------------------------------------------------------------------------
# SAS


def _sas_meta(path: Path):
    import pyreadstat

    try:
        _, meta = pyreadstat.read_sas7bdat(str(path), metadataonly=True)
    except Exception as e:  # pyreadstat raises ReadstatError / PyreadstatError
        raise _fail(path, "sas7bdat", e) from None
    return meta


def _iter_sas(path: Path, chunk_size: int, columns: Sequence[str] | None) -> Iterator[pl.DataFrame]:
    import pyreadstat

    meta = _sas_meta(path)
    names = list(meta.column_names)
    wanted = set(columns) if columns is not None else None
    usecols = [c for c in names if wanted is None or c in wanted]
    empty = True
    try:
        # output_format="polars": pyreadstat builds the Polars frame itself (no pandas object columns);
        # columns with a SAS date / datetime format arrive as Date / Datetime
        reader = pyreadstat.read_file_in_chunks(
            pyreadstat.read_sas7bdat,
            str(path),
            chunksize=chunk_size,
            usecols=usecols,
            output_format="polars",
        )
        for frame, _ in reader:
            if frame.height:
                empty = False
                yield frame
    except FileReadError:
        raise
    except Exception as e:
        raise _fail(path, "sas7bdat", e) from None
    if empty:
        yield _empty_frame(usecols)


def _is_sas_date_format(fmt: str | None) -> bool:
    if not fmt:
        return False
    f = fmt.upper().rstrip(".0123456789")
    return f.startswith(
        ("DATE", "DATETIME", "YYMMDD", "DDMMYY", "MMDDYY", "E8601DA", "E8601DT", "IS8601", "B8601")
    )


def _empty_frame(names: Sequence[str]) -> pl.DataFrame:
    return pl.DataFrame({n: pl.Series(n, [], dtype=pl.String) for n in names})


# ---------------------------------------------------------------------------------------------------
# Parquet


def _iter_parquet(path: Path, chunk_size: int, columns: Sequence[str] | None) -> Iterator[pl.DataFrame]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(str(path))
        names = pf.schema_arrow.names
        wanted = None if columns is None else set(columns)  # once: DREAM has ~2,000 columns
        use = [c for c in names if wanted is None or c in wanted]
        n = 0
        for batch in pf.iter_batches(batch_size=chunk_size, columns=use):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            n += frame.height
            if frame.height:
                yield frame
        if n == 0:
            yield pl.from_arrow(pf.schema_arrow.empty_table().select(use))  # type: ignore[misc]
    except FileReadError:
        raise
    except Exception as e:
        raise _fail(path, "parquet", e) from None


# ---------------------------------------------------------------------------------------------------
# CSV


def sniff_encoding(path: Path) -> str:
    """``utf-8`` if the whole file decodes as UTF-8 (streamed), else ``latin-1``."""
    dec = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while block := fh.read(_CSV_BLOCK):
                dec.decode(block)
            dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _csv_header(path: Path, encoding: str) -> tuple[list[str], str]:
    with path.open("r", encoding=encoding, newline="") as fh:
        line = fh.readline()
    line = line.lstrip("\ufeff").rstrip("\r\n")
    if not line.strip():
        raise FileReadError(path.name, "cannot be read as csv (no header row)")
    sep = ";" if line.count(";") >= line.count(",") and line.count(";") > 0 else ","
    header = next(csv.reader(io.StringIO(line), delimiter=sep))
    return [h.strip() for h in header], sep


def _iter_csv(path: Path, chunk_size: int, columns: Sequence[str] | None) -> Iterator[pl.DataFrame]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    encoding = sniff_encoding(path)
    header, sep = _csv_header(path, encoding)
    wanted = None if columns is None else set(columns)
    use = [c for c in header if wanted is None or c in wanted]
    try:
        reader = pcsv.open_csv(
            str(path),
            read_options=pcsv.ReadOptions(
                encoding="utf8" if encoding == "utf-8" else "latin1",
                column_names=header,
                skip_rows=1,
                block_size=_CSV_BLOCK * 4,
            ),
            parse_options=pcsv.ParseOptions(delimiter=sep),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                include_columns=use,
                strings_can_be_null=False,
            ),
        )
        n = 0
        buf: list[pl.DataFrame] = []
        buffered = 0
        for batch in reader:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            buf.append(frame)
            buffered += frame.height
            while buffered >= chunk_size:
                whole = pl.concat(buf)
                yield whole.head(chunk_size)
                rest = whole.slice(chunk_size)
                buf, buffered = ([rest] if rest.height else []), rest.height
                n += chunk_size
        if buffered:
            n += buffered
            yield pl.concat(buf)
        if n == 0:
            yield _empty_frame(use)
    except FileReadError:
        raise
    except Exception as e:
        raise _fail(path, "csv", e) from None


# ---------------------------------------------------------------------------------------------------
# Public


def read_columns(path: str | Path) -> list[str]:
    """The delivered column names of a file (its header), without reading its rows."""
    p = Path(path)
    fmt = file_format(p)
    if fmt == "sas7bdat":
        return list(_sas_meta(p).column_names)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(str(p)).names)
        except Exception as e:
            raise _fail(p, "parquet", e) from None
    if p.stat().st_size == 0:
        raise FileReadError(p.name, "cannot be read as csv (the file is empty, 0 bytes)")
    return _csv_header(p, sniff_encoding(p))[0]


def iter_chunks(
    path: str | Path, chunk_size: int = DEFAULT_CHUNK_SIZE, columns: Sequence[str] | None = None
) -> Iterator[pl.DataFrame]:
    """Yield a delivered file in chunks of at most ``chunk_size`` rows (at least one, possibly empty, frame).

    Parameters
    ----------
    path : a ``.sas7bdat``, ``.parquet`` or ``.csv`` file
    chunk_size : rows per chunk (for CSV the chunks are cut from pyarrow's blocks)
    columns : delivered column names to read (default all)

    Raises
    ------
    FileReadError
        The file is truncated, corrupt or not in its extension's format.
    """
    p = Path(path)
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    fmt = file_format(p)
    if p.stat().st_size == 0:
        raise FileReadError(p.name, f"cannot be read as {fmt} (the file is empty, 0 bytes)")
    if fmt == "sas7bdat":
        yield from _iter_sas(p, chunk_size, columns)
    elif fmt == "parquet":
        yield from _iter_parquet(p, chunk_size, columns)
    else:
        yield from _iter_csv(p, chunk_size, columns)


def lowercase_columns(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.rename({c: c.strip().lower() for c in frame.columns})
