"""The evaluator's tables without pandas (vosbench.eval.tables): the CSV and Parquet files
equal what pandas writes for the same tables, the DataFrames built on demand keep the
dtypes pandas gave them, and ``vosbench eval`` never imports pandas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import ROOT
from test_eval_folders import binary_folders, youtube_folders
from test_eval_protocols import write_lvos, write_mose
from vosbench.eval import EvalResult, evaluate
from vosbench.eval import tables
from vosbench.eval.lvos import evaluate_lvos
from vosbench.eval.mose import evaluate_mose2


def assert_written_as_pandas_writes(columns: tables.Columns, folder: Path) -> None:
    """CSV bytes equal; Parquet equal once read back, and stored with the same Arrow types."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(columns)
    frame.to_csv(folder / "pandas.csv", index=False)
    frame.to_parquet(folder / "pandas.parquet", index=False)
    tables.write_csv(columns, folder / "ours.csv")
    tables.write_parquet(columns, folder / "ours.parquet")
    assert (folder / "ours.csv").read_bytes() == (folder / "pandas.csv").read_bytes()
    ours, theirs = pd.read_parquet(folder / "ours.parquet"), pd.read_parquet(folder / "pandas.parquet")
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert pq.read_schema(folder / "ours.parquet").types == pq.read_schema(folder / "pandas.parquet").types
    nulls = [pq.read_table(folder / f).column(c).null_count for f in ("ours.parquet", "pandas.parquet") for c in columns]
    assert nulls[: len(columns)] == nulls[len(columns) :]  # a NaN is a null in both


def test_awkward_values_are_written_as_pandas_writes_them(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    floats = rng.standard_normal(n) * 10.0 ** rng.integers(-320, 300, n)
    floats[:10] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, 1e16, 1e-5, 0.1, 123456789.0]
    words = ["plain", "with,comma", 'with "quotes"', "two\nlines", "naïve", "", None, np.nan, " lead", "00012"]
    columns = {
        "sequence": tables.strings(words[i % len(words)] for i in range(n)),
        "object": rng.integers(-(2**62), 2**62, n),
        "J": floats,
        "seen": rng.random(n) < 0.5,
        "J&F-Mean": rng.random(n),
    }
    assert_written_as_pandas_writes(columns, tmp_path)


def test_a_single_empty_field_is_quoted_as_pandas_does(tmp_path):
    assert_written_as_pandas_writes({"frame": tables.strings(["", "a"])}, tmp_path)


def results(root: Path) -> dict[str, EvalResult]:
    """One result of each protocol family: davis, youtube with an unscored object,
    LVOS with its bool column and (no unseen videos) NaN headlines, MOSE v2 with NaN."""
    split, lvos_pred, meta = write_lvos(root / "lvos")
    mose_gt, mose_pred, mose_meta = write_mose(root / "mose")
    return {
        "davis": evaluate(*reversed(binary_folders(root / "davis")), workers=1),
        "youtube": evaluate(*reversed(youtube_folders(root / "youtube")), mode="youtube", workers=1),
        "lvos": evaluate_lvos(lvos_pred, split / "Annotations", meta),
        "mose2": evaluate_mose2(mose_pred, mose_gt, mose_meta),
    }


def test_every_protocol_writes_what_pandas_writes(tmp_path):
    found = results(tmp_path / "data")
    assert found["youtube"].unscored == (("v", 9),)
    assert np.isnan(found["lvos"].columns["global"]["J&F-Mean"][0])
    assert np.isnan(found["mose2"].columns["per_sequence"]["disappear_J"]).any()
    for protocol, result in found.items():
        out = result.write(tmp_path / protocol / "out")
        for name, frame in result.tables().items():
            frame.to_csv(tmp_path / protocol / f"{name}.csv", index=False)
            frame.to_parquet(tmp_path / protocol / f"{name}.parquet", index=False)
            assert (out / f"{name}.csv").read_bytes() == (tmp_path / protocol / f"{name}.csv").read_bytes(), (protocol, name)
            pd.testing.assert_frame_equal(
                pd.read_parquet(out / f"{name}.parquet"), pd.read_parquet(tmp_path / protocol / f"{name}.parquet"),
                check_exact=True,
            )


def test_frames_keep_their_dtypes_and_are_built_once(tmp_path):
    result = evaluate(*reversed(youtube_folders(tmp_path)), mode="youtube", workers=1)
    text = pd.DataFrame({"s": ["a"]})["s"].dtype  # what pandas makes of a list of str
    assert result.per_frame.dtypes.to_dict() == {
        "sequence": text, "object": np.dtype("int64"), "frame": text, "J": np.dtype("float64"), "F": np.dtype("float64"),
    }
    assert result.per_sequence.dtypes.iloc[2:].eq(np.dtype("float64")).all()
    assert result.per_sequence.dtypes["object"] == np.dtype("int64")
    assert result.global_.dtypes.eq(np.dtype("float64")).all()
    assert result.per_frame is result.per_frame and result.tables()["global"] is result.global_
    # the protocols that build with pandas go through the same columns and back
    again = EvalResult.from_frames(*result.tables().values(), result.unscored)
    for name, frame in again.tables().items():
        pd.testing.assert_frame_equal(frame, result.tables()[name], check_exact=True)
    lvos = results(tmp_path / "data")["lvos"]
    assert lvos.per_sequence.dtypes["seen"] == np.dtype("bool")


def test_columns_must_be_arrays_of_one_length():
    good = {"per_frame": {"J": np.zeros(2)}, "per_sequence": {"J": np.zeros(1)}, "global": {"J": np.zeros(1)}}
    EvalResult(good)
    with pytest.raises(ValueError, match="needs the tables"):
        EvalResult({"per_frame": good["per_frame"]})
    with pytest.raises(ValueError, match="columns of different lengths"):
        EvalResult({**good, "per_frame": {"J": np.zeros(2), "F": np.zeros(3)}})
    with pytest.raises(ValueError, match="not a 1-D int, float, bool or str array"):
        EvalResult({**good, "global": {"J": [0.5]}})


@pytest.mark.parametrize("mode", ["davis", "youtube"])
def test_eval_command_imports_no_pandas_and_starts_no_blas_threads(tmp_path, mode):
    """The command's fixed cost: pandas and numpy's OpenBLAS thread pool (a thread per core
    beyond the first, started as numpy loads) are a tenth of a second of CPU each, rich
    (with no terminal for a progress bar) a thirtieth."""
    gt, pred = binary_folders(tmp_path) if mode == "davis" else youtube_folders(tmp_path)
    argv = ["vosbench", "eval", str(pred), "--gt", str(gt), "--out", str(tmp_path / "out"), "--mode", mode, "--workers", "1"]
    script = (
        "import sys\n"
        "import cli\n"
        f"sys.argv = {argv!r}\n"
        "try:\n"
        "    cli.main()\n"
        "except SystemExit as end:\n"
        "    assert not end.code, end.code\n"
        "import os\n"
        "tasks = os.listdir('/proc/self/task') if os.path.isdir('/proc/self/task') else ['self']\n"
        "names = [open(f'/proc/self/task/{t}/comm').read().strip() if t != 'self' else 'main' for t in tasks]\n"
        "print(len([n for n in names if n != 'jemalloc_bg_thd']))  # pyarrow's allocator keeps one\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'rich')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    *_, threads, modules = done.stdout.splitlines()
    assert modules == "[]", done.stdout
    assert threads == "1", f"{threads} threads at the end of a one-worker eval: numpy's BLAS started a pool"
    assert (tmp_path / "out" / "per_frame.parquet").is_file()
