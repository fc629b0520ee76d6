"""Milliseconds per frame of the synthetic video generator at 480x854 with 3 objects.

Prints the rendering alone (scene -> arrays) and the whole generation (render, JPEG
and PNG encoding, writing both layouts' files). Run from the project root:

    python bench/synth_speed.py [--frames 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vosbench.data.synth import SynthParams, generate, plan_video  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    for layout in ("davis", "youtube"):
        params = SynthParams(layout=layout, videos=1, frames=args.frames, height=480, width=854, objects=3)
        began = time.perf_counter()
        scene = plan_video(params, 0)
        scene.background  # built once per video
        planned = time.perf_counter()
        for t in range(params.frames):
            scene.render(t)
        rendered = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            generate(Path(folder) / "out", params)
            written = time.perf_counter()
        per_frame = 1000 / params.frames
        print(
            f"{layout:8s} 480x854, 3 objects, {params.frames} frames: "
            f"plan + background {1000 * (planned - began):.0f} ms once, "
            f"render {(rendered - planned) * per_frame:.1f} ms/frame, "
            f"full generation {(written - rendered) * per_frame:.1f} ms/frame"
        )


if __name__ == "__main__":
    main()
