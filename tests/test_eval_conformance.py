"""vosbench eval reproduces davis2017-evaluation on the shared DAVIS 2016 val predictions
(../shared/conformance/eval: per-frame values at full precision, CSVs at 3 decimals)."""

from __future__ import annotations

import functools
import json
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from conftest import shared_path
from vosbench.eval import EvalResult, evaluate

SETS = ("gt-shift", "osvos-union")


@pytest.fixture(scope="module")
def result() -> Callable[[str], EvalResult]:
    """Evaluates each prediction set once for the module (gt-shift with two workers,
    so the worker path is held to the same values)."""

    @functools.cache
    def evaluated(name: str) -> EvalResult:
        gt = shared_path("data", "davis2016-val", "Annotations", "480p")
        return evaluate(shared_path("data", "predictions", name), gt, workers=2 if name == "gt-shift" else 1)

    return evaluated


def three_decimals(values) -> list[str]:
    """As the reference writes its CSVs (float_format="%.3f")."""
    return [f"{v:.3f}" for v in values]


def test_per_frame_j_and_f_match_the_official_values_to_1e_12(result):
    official = json.loads(shared_path("conformance", "eval", "gt-shift-per-frame.json").read_text())["sequences"]
    per_frame = result("gt-shift").per_frame
    assert len(per_frame) == 1336
    assert set(per_frame.sequence + "_" + per_frame.object.astype(str)) == set(official)
    for key, values in official.items():
        sequence, object_id = key.rsplit("_", 1)
        rows = per_frame[(per_frame.sequence == sequence) & (per_frame.object == int(object_id))]
        assert rows.frame.tolist() == values["frames"]
        np.testing.assert_allclose(rows.J.to_numpy(), values["J_per_frame"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(rows.F.to_numpy(), values["F_per_frame"], rtol=0, atol=1e-12)


def test_per_object_statistics_match_the_official_values_to_1e_12(result):
    official = json.loads(shared_path("conformance", "eval", "gt-shift-per-frame.json").read_text())["sequences"]
    per_sequence = result("gt-shift").per_sequence.set_index(["sequence", "object"])
    for key, values in official.items():
        sequence, object_id = key.rsplit("_", 1)
        row = per_sequence.loc[(sequence, int(object_id))]
        for column in ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"):
            assert row[column] == pytest.approx(values[column], abs=1e-12), (key, column)


@pytest.mark.parametrize("name", SETS)
def test_per_sequence_csv_matches_at_3_decimals(result, name):
    official = pd.read_csv(shared_path("conformance", "eval", f"{name}-per-sequence.csv"), dtype=str)
    ours = result(name).per_sequence
    assert (ours.sequence + "_" + ours.object.astype(str)).tolist() == official.Sequence.tolist()
    for column in ("J-Mean", "F-Mean"):
        assert three_decimals(ours[column]) == official[column].tolist(), column


@pytest.mark.parametrize("name", SETS)
def test_global_csv_matches_at_3_decimals(result, name):
    official = pd.read_csv(shared_path("conformance", "eval", f"{name}-global.csv"), dtype=str)
    ours = result(name).global_
    assert ours.columns.tolist() == official.columns.tolist()
    assert three_decimals(ours.iloc[0]) == official.iloc[0].tolist()
    row = ours.iloc[0]
    assert row["J&F-Mean"] == (row["J-Mean"] + row["F-Mean"]) / 2
