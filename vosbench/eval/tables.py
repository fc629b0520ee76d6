"""The evaluator's tables as plain columns, written as CSV and Parquet without pandas.

A table is a dict of column name -> 1-D numpy array, in column order: int64, float64,
bool, or object holding str (None or NaN for a missing value). ``vosbench eval`` writes
them here so that the command never imports pandas (a quarter of a second of its CPU);
``to_frame`` and ``from_frame`` turn them into DataFrames and back for the callers
that want pandas.

The files are what ``DataFrame.to_csv(path, index=False)`` and ``to_parquet(path,
index=False)`` write for the same table: CSV through the csv module with pandas'
settings (floats as ``repr``, a missing value as an empty field, ``\\n`` line ends,
minimal quoting); Parquet from Arrow arrays built on the columns' buffers, because
``pyarrow.array`` and ``pyarrow.table`` ask pyarrow's pandas shim about their input,
which imports pandas. As pandas does, a NaN is stored as a null, and str columns as
``large_string``.
"""

from __future__ import annotations

import csv
import math
import os
from typing import TYPE_CHECKING, Iterable

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

Columns = dict[str, np.ndarray]


def strings(values: Iterable[str]) -> np.ndarray:
    """A str column (numpy's own str dtype would pad every value to the longest)."""
    values = list(values)
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def check(columns: Columns, where: str) -> None:
    """Every column is a 1-D array of a kind this module writes, all of one length."""
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{where}: columns of different lengths {lengths}")
    for name, values in columns.items():
        if not isinstance(values, np.ndarray) or values.ndim != 1 or values.dtype.kind not in "ifbO":
            raise ValueError(f"{where}: column {name!r} is not a 1-D int, float, bool or str array")


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value: object) -> str:
    """One CSV field as pandas writes it: repr for floats (Python's str is the same)."""
    return "" if _is_missing(value) else str(value)


def write_csv(columns: Columns, path: str | os.PathLike) -> None:
    fields = [[_text(v) for v in values.tolist()] for values in columns.values()]
    with open(path, "w", newline="", encoding="utf-8") as file:
        # pandas' writer: the csv module's excel dialect with '\n' line ends
        writer = csv.writer(file, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(list(columns))
        writer.writerows(zip(*fields))


def _arrow_array(values: np.ndarray) -> "pa.Array":
    import pyarrow as pa

    kind, n = values.dtype.kind, len(values)
    if kind == "b":
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(np.packbits(values, bitorder="little"))])
    if kind == "i":
        return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(values.astype(np.int64))])
    if kind == "f":
        values = values.astype(np.float64)
        present = ~np.isnan(values)
        return pa.Array.from_buffers(pa.float64(), n, [_validity(present), pa.py_buffer(values)])
    items = values.tolist()
    present = np.array([not _is_missing(v) for v in items], dtype=bool)
    if not all(isinstance(v, str) for v, ok in zip(items, present) if ok):
        raise ValueError("an object column holds a value that is not a str")
    encoded = [v.encode("utf-8") if ok else b"" for v, ok in zip(items, present)]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.large_string(), n, [_validity(present), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )


def _validity(present: np.ndarray) -> "pa.Buffer | None":
    import pyarrow as pa

    return None if present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))


def write_parquet(columns: Columns, path: str | os.PathLike) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([_arrow_array(v) for v in columns.values()], names=list(columns))
    pq.write_table(table, path)


def to_frame(columns: Columns) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame(columns)


def from_frame(frame: "pd.DataFrame") -> Columns:
    return {str(name): frame[name].to_numpy() for name in frame.columns}
