"""The sweep's grid: parsing, the product per method, labels, and checks before anything runs."""

from __future__ import annotations

import pytest

from vosbench.errors import VosbenchError
from vosbench.run.config import LABEL
from vosbench.sweep.grid import Axis, label_of, plan_sweep, value_text


def test_axis_parsing():
    assert Axis.parse("num_bases=64, 128,256") == Axis("num_bases", ("64", "128", "256"))
    assert Axis.parse(" em_iters = 2") == Axis("em_iters", ("2",))
    for text, message in [("num_bases", "name=value1"), ("=1,2", "name=value1"), ("k=", "name=value1"), ("k=1,,2", "empty value")]:
        with pytest.raises(VosbenchError, match=message):
            Axis.parse(text)


def test_product_in_grid_order_with_fixed_settings_and_stable_labels():
    sweep = plan_sweep(["swem"], ["num_bases=8,16", "em_iters=1,2,4"], ["top_l=4", "tau=0.1"])
    labels = [c.label for c in sweep.choices]
    assert labels == [f"swem@num_bases={k},em_iters={r}" for k in (8, 16) for r in (1, 2, 4)]
    first = sweep.choices[0]
    assert (first.settings["num_bases"], first.settings["em_iters"], first.settings["top_l"], first.settings["tau"]) == (8, 1, 4, 0.1)
    assert sweep.point(sweep.choices[-1]) == {"num_bases": 16, "em_iters": 4}
    # labels come from parsed values: the same grid written otherwise is the same sweep
    again = plan_sweep(["swem"], ["num_bases=008,16", "em_iters=1,2,4"], ["top_l=4", "tau=0.10"])
    assert [c.label for c in again.choices] == labels and again.describe() == sweep.describe()
    described = sweep.describe()
    assert described["axes"] == [{"name": "num_bases", "values": ["8", "16"]}, {"name": "em_iters", "values": ["1", "2", "4"]}]
    assert described["settings"][1] == {"label": labels[1], "method": "swem", "values": {"num_bases": 8, "em_iters": 2}}


def test_each_method_takes_the_axes_it_has():
    sweep = plan_sweep(["stcn", "swiftnet"], ["mem_every=3,6", "beta=0.1,0.3"], ["swiftnet:th_f=0.2"])
    assert [c.label for c in sweep.choices] == [
        "stcn@mem_every=3", "stcn@mem_every=6",
        "swiftnet@mem_every=3,beta=0.1", "swiftnet@mem_every=3,beta=0.3",
        "swiftnet@mem_every=6,beta=0.1", "swiftnet@mem_every=6,beta=0.3",
    ]
    assert sweep.choices[2].settings["th_f"] == 0.2 and "th_f" not in sweep.choices[0].settings
    # a method with none of the axes runs once, under its own name
    assert [c.label for c in plan_sweep(["swiftnet", "stcn"], ["beta=0.1,0.2"]).choices][-1] == "stcn"


def test_labels_are_valid_run_labels_for_every_kind_of_value():
    assert value_text(True) == "true" and value_text(None) == "none" and value_text(1e-3) == "0.001"
    assert value_text((240, 432)) == value_text([240, 432]) == "240x432" and value_text("a b/c") == "a_b_c"
    label = label_of("swem", {"input_size": (240, 432), "adaptive": False, "tau": 0.05})
    assert label == "swem@input_size=240x432,adaptive=false,tau=0.05" and LABEL.match(label)
    assert label_of("stcn", {}) == "stcn"
    sweep = plan_sweep(["swem"], ["input_size=240x432,none", "adaptive=yes,no"], ["top_l=4", "num_bases=8"])
    assert all(LABEL.match(c.label) for c in sweep.choices) and len(sweep.choices) == 4


@pytest.mark.parametrize(
    "methods, grid, settings, checkpoints, message",
    [
        ([], ["num_bases=8"], [], [], "no method given"),
        (["swem"], [], [], [], "no --grid given"),
        (["swem@k8"], ["num_bases=8"], [], [], "labels its settings itself"),
        (["swem", "swem"], ["num_bases=8"], [], [], "given twice"),
        (["nosuch"], ["num_bases=8"], [], [], "unknown method 'nosuch'"),
        (["stcn"], ["num_bases=8,16"], [], [], "--grid num_bases: no chosen method has this parameter"),
        (["swem"], ["num_bases=8", "num_bases=16"], [], [], "given twice"),
        (["swem"], ["num_bases=8,eight"], [], [], "cannot read 'eight' as int"),
        (["swem"], ["num_bases=8,08"], ["top_l=4"], [], "'08' is given twice"),
        (["swem"], ["adaptive=yes,maybe"], [], [], "cannot read 'maybe'"),
        (["swem"], ["num_bases=8,16"], ["num_bases=32"], [], "also a --grid axis"),
        (["swem"], ["num_bases=8,16"], ["stcn:top_k=3"], [], "'stcn' is not a chosen method"),
        (["swem", "stcn"], ["num_bases=8"], ["max_frames=3"], [], "swem has no parameter 'max_frames'"),
        (["swem", "stcn"], ["num_bases=8"], [], ["/a.pth"], "METHOD:PATH"),
        # the method's own check, found by building the setting: top_l 64 > 16 bases
        (["swem"], ["num_bases=16,128"], [], [], "sweep setting swem@num_bases=16: swem: top_l \\(64\\) cannot exceed"),
        (["swem"], ["tau=0.05,-1"], ["top_l=4", "num_bases=8"], [], "tau must be a positive number"),
    ],
)
def test_bad_grids_fail_with_one_line_before_anything_runs(methods, grid, settings, checkpoints, message):
    with pytest.raises(VosbenchError, match=message) as caught:
        plan_sweep(methods, grid, settings, checkpoints)
    assert "\n" not in str(caught.value)


def test_checkpoint_goes_to_its_method():
    sweep = plan_sweep(["swem", "stcn"], ["num_bases=8", "max_frames=2"], ["swem:top_l=4"], ["stcn:/w/stcn.pth"])
    assert [(c.label, c.checkpoint) for c in sweep.choices] == [("swem@num_bases=8", None), ("stcn@max_frames=2", "/w/stcn.pth")]
