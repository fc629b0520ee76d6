"""Executors: task planning, option checks, and a sweep on a local Ray with 2 workers, one
SIGKILLed inside a task and another task failing, resumed to equal the same sweep in
process (masks byte for byte, J&F).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import ROOT
from tools import require_module
from vosbench import load_run
from vosbench.data import open_dataset
from vosbench.errors import VosbenchError
from vosbench.executors import InProcess, Task, make_executor, plan_tasks
from vosbench.sweep import plan_sweep, run_sweep

LABELS = ["stcn@mem_every=2", "stcn@mem_every=4"]
VIDEOS = ["synth-000", "synth-001", "synth-002"]
# what two runs of the same work give alike (timings and process memory differ)
STABLE = ["method", "sequence", "frame", "frame_name", "warmup", "objects", "stored_features", "stored_min",
          "stored_max", "matched_features", "memory_bytes", "J", "F"]
SCORES = ["J&F-Mean", "J-Mean", "F-Mean"]


def test_tasks_group_a_labels_sequences_in_run_order():
    pairs = [(label, video) for label in ("a", "b") for video in ("s1", "s2", "s3")]
    assert plan_tasks(pairs, None) == [Task("a", ("s1", "s2", "s3")), Task("b", ("s1", "s2", "s3"))]
    assert plan_tasks(pairs, 2) == [Task("a", ("s1", "s2")), Task("a", ("s3",)), Task("b", ("s1", "s2")), Task("b", ("s3",))]
    assert plan_tasks(pairs[1:2], 1) == [Task("a", ("s2",))]
    assert plan_tasks([], 1) == []


def test_engine_options_are_checked_before_any_work():
    assert isinstance(make_executor("inprocess"), InProcess)
    for options, message in [
        ({"address": "auto"}, "--address applies to a distributed executor"),
        ({"retries": 2}, "--retries applies to a distributed executor"),
    ]:
        with pytest.raises(VosbenchError, match=message):
            make_executor("inprocess", **options)
    with pytest.raises(VosbenchError, match="known executors are inprocess, ray"):
        make_executor("slurm")
    with pytest.raises(VosbenchError, match="write --device cuda"):
        make_executor("ray", device="cuda:1")
    with pytest.raises(VosbenchError, match="would see no GPU"):
        make_executor("ray", device="cuda", gpus_per_task=0)


def test_cli_refuses_engine_options_without_an_engine_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "run", "-m", "stcn", "-d", "synthetic", "--root",
                             str(tmp_path / "data"), "-o", str(tmp_path / "run"), "--gpus-per-task", "1"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "--gpus-per-task applies to a distributed executor" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()


def test_ray_options_and_their_defaults():
    require_module("ray", "ray")
    executor = make_executor("ray", device="cuda", workers=2)
    assert (executor.address, executor.workers, executor.gpus_per_task, executor.cpus_per_task) == ("local", 2, 1, 1)
    assert (executor.sequences_per_task, executor.retries) == (1, 3)
    assert executor.describe()["ray"] == __import__("ray").__version__
    with pytest.raises(VosbenchError, match="--workers sizes a local Ray"):
        make_executor("ray", address="ray://head:10001", workers=2)
    for options in ({"sequences_per_task": 0}, {"retries": -1}, {"cpus_per_task": 0}):
        with pytest.raises(VosbenchError):
            make_executor("ray", **options)


def test_in_process_runs_never_import_ray(tmp_path):
    code = (
        "import sys; from vosbench.data import open_dataset; from vosbench.run import RunConfig, choose_methods, run; "
        f"data = open_dataset('synthetic', {str(tmp_path / 'data')!r}, layout='davis', videos=1, frames=2, size='32x48'); "
        f"run(RunConfig(choose_methods(['stcn'])), data, {str(tmp_path / 'run')!r}); import cli; "
        "print('ray' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def kill_inside(out: Path, sequence: str, process: subprocess.Popen, timeout: float = 180) -> tuple[dict, tuple]:
    """SIGKILL the worker that is segmenting ``sequence`` (``worker.json`` of its staged
    folder names it) once the sequence before it in the same task is committed; return
    that worker and the committed part's (inode, mtime)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        for path in (out / ".staging").glob("*/worker.json"):
            try:
                worker = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):  # committed and removed meanwhile
                continue
            before, itself = (out / "parts" / worker["label"] / name / "frames.parquet" for name in ("synth-000", sequence))
            if worker["sequence"] == sequence and before.is_file() and not itself.exists():
                stamp = (before.stat().st_ino, before.stat().st_mtime_ns)
                os.kill(worker["pid"], signal.SIGKILL)
                return worker, stamp
        time.sleep(0.002)
    pytest.fail(f"no worker was seen segmenting {sequence} (exit code {process.poll()})")


@pytest.fixture
def one_thread():
    """torch on one thread in this process, as in each Ray worker (--cpus-per-task 1): two
    threads on a loaded 2-core machine made the in-process sweep 15x slower. (Masks do not
    depend on it: README "Scale-out" compares a 2-thread run with 1-thread workers.)"""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_ray_sweep_with_a_killed_worker_and_a_failing_task_resumes_to_the_in_process_sweep(tmp_path, one_thread):
    """One local Ray (2 workers), 2 settings x 3 videos in tasks of 2 sequences:
    (setting, synth-000 + synth-001) and (setting, synth-002). The worker inside synth-001
    is SIGKILLed: Ray reruns that task, which keeps the synth-000 its dead attempt
    committed. A corrupt frame fails both synth-002 tasks for good: the others finish,
    the command ends in one line. Repaired and rerun (in process), only synth-002 runs,
    and the run equals the in-process sweep: masks byte for byte, J, F, ablation scores."""
    require_module("ray", "ray")
    data = tmp_path / "data"
    # ~0.1 s of STCN per sequence on an idle core: ample time to land a kill inside one
    open_dataset("synthetic", data, layout="davis", videos=3, frames=16, objects=2, size="96x160")
    frame = data / "JPEGImages" / "480p" / "synth-002" / "00008.jpg"
    original = frame.read_bytes()
    frame.write_bytes(b"not a jpeg")

    out = tmp_path / "ray"
    args = ["sweep", "-m", "stcn", "--grid", "mem_every=2,4", "-d", "davis2017", "--root", str(data), "-o", str(out),
            "--executor", "ray", "--workers", "2", "--sequences-per-task", "2", "--retries", "2"]
    began = time.monotonic()
    # files, not pipes: Ray's own messages must never block the driver on a full pipe
    with open(tmp_path / "stderr", "w") as stderr:
        process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=stderr, env={**os.environ, "RAY_ADDRESS": ""})
        try:
            killed, stamp = kill_inside(out, "synth-001", process)
            process.wait(timeout=300)
        finally:
            process.kill()
    print(f"ray sweep with a kill and a failing task: {time.monotonic() - began:.1f} s")
    errors = [line for line in (tmp_path / "stderr").read_text().splitlines() if "vosbench: error:" in line]
    assert process.returncode == 2 and len(errors) == 1, (tmp_path / "stderr").read_text()[-3000:]
    assert f"2 of 4 task(s) failed, the first {LABELS[0]} on synth-002: {frame}: cannot read image" in errors[0]
    assert errors[0].endswith("finished sequences are kept, rerun the same command to redo the rest")

    # the killed task ran again on another worker and kept synth-000, its dead attempt's commit
    session = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert session["executor"]["name"] == "ray" and session["executor"]["workers"] == 2
    assert sorted((t["label"], t["sequences"]) for t in session["tasks"]) == [(label, VIDEOS[:2]) for label in LABELS]
    task = next(t for t in session["tasks"] if t["label"] == killed["label"])
    assert task["segmented"] == ["synth-001"] and task["worker"].split(":")[1] != str(killed["pid"])
    part = out / "parts" / killed["label"] / "synth-000" / "frames.parquet"
    assert (part.stat().st_ino, part.stat().st_mtime_ns) == stamp
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    done = sorted((p.parent.parent.name, p.parent.name) for p in out.glob("parts/*/*/frames.parquet"))
    assert done == [(label, video) for label in LABELS for video in VIDEOS[:2]]
    assert not (out / ".staging").exists()

    # repaired, the same sweep in this process does only what failed
    frame.write_bytes(original)
    plan = plan_sweep(["stcn"], ["mem_every=2,4"])
    resumed = run_sweep(plan, plan.config(), open_dataset("davis2017", data), out)
    assert resumed.report.segmented == [(label, "synth-002") for label in LABELS]

    reference = tmp_path / "inprocess"
    run_sweep(plan, plan.config(), open_dataset("davis2017", data), reference)
    theirs, ours = load_run(reference), load_run(out)
    assert ours.manifest["config"] == theirs.manifest["config"]
    for label in LABELS:
        for video in VIDEOS:
            expected = sorted(theirs.masks_dir(label, video).iterdir())
            assert [p.name for p in sorted(ours.masks_dir(label, video).iterdir())] == [p.name for p in expected]
            for png in expected:
                assert (ours.masks_dir(label, video) / png.name).read_bytes() == png.read_bytes(), png
    pd.testing.assert_frame_equal(ours.frames[STABLE], theirs.frames[STABLE])
    pd.testing.assert_frame_equal(ours.objects, theirs.objects)
    pd.testing.assert_frame_equal(ours.summary[["method", "sequences", "frames", *SCORES]],
                                  theirs.summary[["method", "sequences", "frames", *SCORES]])
    ablation, expected = (pd.read_csv(folder / "sweep" / "ablation.csv") for folder in (out, reference))
    assert ablation["label"].tolist() == LABELS
    pd.testing.assert_frame_equal(ablation[["label", "mem_every", *SCORES]], expected[["label", "mem_every", *SCORES]])
