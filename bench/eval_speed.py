"""CPU, wall time and peak memory of ``vosbench eval`` on DAVIS 2016 val (20 sequences).

Runs the command as a subprocess (interpreter start and imports included; the bytecode of
ours and the references' sources written first, as a first run or an install leaves it), the Python
function in this process, and PNG decoding alone of the same files (the floor under
both), and, when given checkouts, davis2017-evaluation and vos-benchmark on the same
data in the same session, in turns with our command (``--repeat`` rounds: a shared VM's
speed drifts by 10-20 % within minutes, and the references' system time, most of it page
faults, moves with it); with ``--writers``, the command again on the predictions as
each of those writers writes them (bench/png_writers.py: every PNG filter type on every
row, libpng's adaptive choice as OpenCV's writer makes it, Pillow's writers), rewritten
into a temporary folder; then prints a table (each of ours and the references by its
run of median CPU) and the ratios to the references, which read the predictions as they
are: of the medians, each round's, and the median of the rounds' (a round's two runs are
a minute apart, so the machine's drift moves them alike).
CPU is user + system time of the process and all its children (worker processes
included); peak memory is the largest resident set among them. Run from the project
root:

    python bench/eval_speed.py [--workers N] [--repeat R]
        [--davis2017-evaluation /tmp/davis2017-evaluation] [--vos-benchmark /tmp/vos-benchmark]
        [--reference-python /tmp/venv/bin/python] [--writers none,sub,up,average,paeth,adaptive,opencv,pillow]

The references need opencv, scikit-image, scipy, tqdm and pandas; pass an interpreter
that has them with ``--reference-python``. Both treat 255 in a mask as void or as an
object id of its own, so they get a copy of the ground truth rewritten as palette PNGs
with 255 -> 1 (see ../shared/conformance/eval/README.md), made in a temporary folder,
and their result files are written into a temporary folder of links to the predictions.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

import png_writers  # noqa: E402
from vosbench.eval import evaluate  # noqa: E402
from vosbench.masks import read_mask, write_mask  # noqa: E402

SHARED = Path(os.environ.get("VOSBENCH_SHARED", ROOT.parent / "shared"))


@dataclass
class Measure:
    name: str
    cpu_s: float
    wall_s: float
    peak_mib: float
    jf: float | None = None


def run_command(name: str, command: list[str], cwd: Path | None = None) -> Measure:
    """Run ``command`` to completion; its rusage covers it and its waited-for children."""
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{name} failed ({process.returncode}):\n{output.decode(errors='replace')[-2000:]}")
    return Measure(name, usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024)


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_mib() -> float:
    return max(resource.getrusage(r).ru_maxrss for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


def run_in_process(pred: Path, gt: Path, workers: int) -> Measure:
    cpu, began = _cpu(), time.perf_counter()
    result = evaluate(pred, gt, workers=workers)
    measure = Measure("vosbench.eval.evaluate() in process", _cpu() - cpu, time.perf_counter() - began, _peak_mib())
    measure.jf = float(result.columns["global"]["J&F-Mean"][0])
    return measure


def decode_only(pred: Path, gt: Path) -> Measure:
    """read_mask of exactly the files the davis protocol reads: the floor under evaluate()."""
    cpu, began = _cpu(), time.perf_counter()
    for sequence in sorted(p.name for p in gt.iterdir() if p.is_dir()):
        frames = sorted((gt / sequence).glob("*.png"))
        for path in frames[:-1]:
            read_mask(path)
        for path in frames[1:-1]:
            read_mask(pred / sequence / path.name)
    return Measure("PNG decoding alone (same files, 1 proc)", _cpu() - cpu, time.perf_counter() - began, _peak_mib())


def davis2017_layout(gt: Path, pred: Path, root: Path) -> tuple[Path, Path, Path]:
    """(davis_root, annotations with 255 -> 1, links to the prediction folders)."""
    sequences = sorted(p.name for p in gt.iterdir() if p.is_dir())
    davis = root / "davis"
    (davis / "ImageSets" / "2017").mkdir(parents=True)
    (davis / "ImageSets" / "2017" / "val.txt").write_text("\n".join(sequences) + "\n")
    (davis / "JPEGImages").mkdir()
    os.symlink(gt.parents[1] / "JPEGImages" / "480p", davis / "JPEGImages" / "480p")
    annotations = davis / "Annotations" / "480p"
    links = root / "predictions"
    links.mkdir()
    for sequence in sequences:
        for png in sorted((gt / sequence).glob("*.png")):
            mask = read_mask(png)
            write_mask(annotations / sequence / png.name, np.where(mask == 255, 1, mask).astype(np.uint8))
        os.symlink(pred / sequence, links / sequence)
    return davis, annotations, links


def read_jf(csv: Path) -> float:
    header, values = csv.read_text().splitlines()[:2]
    return float(values.split(",")[header.split(",").index("J&F-Mean")])


def rewrite(pred: Path, out: Path, writer: str) -> None:
    """The prediction folders as ``writer`` writes their masks, in the same layout under ``out``."""
    for path in sorted(pred.rglob("*.png")):
        target = out / path.relative_to(pred)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png_writers.write(read_mask(path), writer))


def compile_sources(*paths: Path) -> None:
    """Write the bytecode of the Python sources under ``paths`` (ours and the references'),
    as pip does on installing and the interpreter on a first run: where
    PYTHONDONTWRITEBYTECODE is set (this machine sets it) and nothing wrote it, every run
    compiles them again, 20 ms of our command's CPU."""
    for path in paths:
        if path.is_dir():
            compileall.compile_dir(path, quiet=1)
        else:
            compileall.compile_file(path, quiet=1)


def eval_command(pred: Path, gt: Path, workers: int, out: Path, name: str = "vosbench eval (command)") -> Measure:
    # the module, as the console script imports it: a script run as __main__ is compiled every time
    command = [sys.executable, "-m", "cli", "eval", str(pred), "--gt", str(gt), "--out", str(out)]
    m = run_command(name, command + ["--workers", str(workers)], cwd=ROOT)
    m.jf = read_jf(out / "global.csv")
    return m


def measure_writers(pred: Path, gt: Path, workers: int, writers: list[str], repeat: int = 1) -> list[Measure]:
    """Our command on the predictions as each writer writes them (fastest of ``repeat`` by CPU)."""
    measures = []
    with tempfile.TemporaryDirectory(prefix="eval_speed.") as folder:
        for writer in writers:
            rewritten = Path(folder) / writer
            rewrite(pred.resolve(), rewritten, writer)
            runs = [eval_command(rewritten, gt.resolve(), workers, Path(folder) / f"out-{writer}{i}",
                                 f"vosbench eval, {writer}-written") for i in range(repeat)]
            measures.append(min(runs, key=lambda m: m.cpu_s))
    return measures


def median(measures: list[Measure]) -> Measure:
    """The run of median CPU (the upper one of an even count)."""
    return sorted(measures, key=lambda m: m.cpu_s)[len(measures) // 2]


def measure_eval(pred: Path, gt: Path, workers: int, repeat: int = 1, davis2017_evaluation: Path | None = None,
                 vos_benchmark: Path | None = None, reference_python: str = sys.executable
                 ) -> tuple[list[Measure], dict[str, list[tuple[float, float]]]]:
    """Our command, our function in process, decoding alone, then each reference given;
    and for each reference (its CPU, ours) in each round.

    Our command and the references run in turns, ``repeat`` rounds, so that a machine
    whose speed drifts (a shared VM's does, by 10-20 % in minutes) moves both alike;
    each is shown by its run of median CPU. The in-process function and decoding alone
    run first, the fastest of ``repeat`` shown.
    """
    pred, gt = pred.resolve(), gt.resolve()
    compile_sources(ROOT / "cli.py", ROOT / "vosbench", *(p for p in (davis2017_evaluation, vos_benchmark) if p))
    frames = sum(max(len(list((gt / s.name).glob("*.png"))) - 2, 0) for s in gt.iterdir() if s.is_dir())
    print(f"{pred} vs {gt}: {frames} scored frames, {workers} worker(s), {repeat} round(s)")

    # in this process first, so its peak memory is not that of a child run before it
    in_process = min((run_in_process(pred, gt, workers) for _ in range(repeat)), key=lambda m: m.cpu_s)
    decoding = min((decode_only(pred, gt) for _ in range(repeat)), key=lambda m: m.cpu_s)
    with tempfile.TemporaryDirectory(prefix="eval_speed.") as folder:
        folder = Path(folder)
        references = {}
        if davis2017_evaluation or vos_benchmark:
            davis, annotations, links = davis2017_layout(gt, pred, folder / "reference")
        if davis2017_evaluation:
            def davis2017() -> Measure:
                command = [reference_python, "evaluation_method.py", "--task", "semi-supervised", "--set", "val",
                           "--davis_path", str(davis), "--results_path", str(links)]
                m = run_command("davis2017-evaluation", command, cwd=davis2017_evaluation)
                m.jf = read_jf(links / "global_results-val.csv")
                (links / "global_results-val.csv").unlink()  # else the next round only reads it back
                (links / "per-sequence_results-val.csv").unlink()
                return m
            references["davis2017-evaluation"] = davis2017
        if vos_benchmark:
            def vos() -> Measure:
                command = [reference_python, "benchmark.py", "-g", str(annotations), "-m", str(links), "-n", str(workers)]
                m = run_command("vos-benchmark", command, cwd=vos_benchmark)
                # its results.csv: "Global score,   , J&F, J, F" in percent with one decimal
                m.jf = float((links / "results.csv").read_text().splitlines()[1].split(",")[2]) / 100
                return m
            references["vos-benchmark"] = vos
        ours, theirs = [], {name: [] for name in references}
        for i in range(repeat):
            ours.append(eval_command(pred, gt, workers, folder / f"ours{i}"))
            for name, run in references.items():
                theirs[name].append(run())
    ratios = {name: [(t.cpu_s, o.cpu_s) for t, o in zip(runs, ours)] for name, runs in theirs.items()}
    return [median(ours), in_process, decoding, *(median(runs) for runs in theirs.values())], ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pred", type=Path, default=SHARED / "data" / "predictions" / "osvos-union")
    parser.add_argument("--gt", type=Path, default=SHARED / "data" / "davis2016-val" / "Annotations" / "480p")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds: our command and each reference in turn, each shown by its median run")
    parser.add_argument("--davis2017-evaluation", type=Path, help="checkout of davisvideochallenge/davis2017-evaluation")
    parser.add_argument("--vos-benchmark", type=Path, help="checkout of hkchengrex/vos-benchmark")
    parser.add_argument("--reference-python", default=sys.executable, help="interpreter for the references")
    parser.add_argument("--writers", default="", help=f"comma-separated, of {', '.join(png_writers.WRITERS)}")
    args = parser.parse_args()
    measures, ratios = measure_eval(args.pred, args.gt, args.workers, args.repeat, args.davis2017_evaluation,
                                    args.vos_benchmark, args.reference_python)
    written = measure_writers(args.pred, args.gt, args.workers, [w for w in args.writers.split(",") if w], args.repeat)
    print(f"\n{'':38s} {'CPU s':>8s} {'wall s':>8s} {'peak MiB':>9s} {'J&F-Mean':>9s}")
    for m in [*measures, *written]:
        jf = f"{m.jf:9.6f}" if m.jf is not None else f"{'-':>9s}"
        print(f"{m.name:38s} {m.cpu_s:8.2f} {m.wall_s:8.2f} {m.peak_mib:9.0f} {jf}")
    ours_command, ours_in_process = measures[0], measures[1]
    for m in measures[3:]:
        rounds = ", ".join(f"{t:.2f}/{o:.2f} s = {t / o:.1f}x" for t, o in ratios[m.name])
        paired = statistics.median(t / o for t, o in ratios[m.name])
        print(f"{m.name}: {m.cpu_s / ours_command.cpu_s:.1f}x the CPU of vosbench eval (command), medians; "
              f"{paired:.1f}x the median of the rounds' ratios (each round: {rounds}); "
              f"{m.cpu_s / ours_in_process.cpu_s:.1f}x that of evaluate() in process")
        for w in written:
            print(f"  {m.cpu_s / w.cpu_s:.1f}x that of {w.name}")


if __name__ == "__main__":
    main()
