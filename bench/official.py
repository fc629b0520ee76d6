"""The official STCN code timed on this machine, on the same frames and weights as ours.

Issue 8 asks for our methods to be faster than the official pipelines "compared at the
same time of day": this runs a checkout of hkchengrex/STCN (never copied into the
project) on the first frames of a DAVIS 2016 sequence at 480p, loaded with the
synthetic official-layout weights our benchmarks use, and reports its median s/frame
next to ours from the same process, with how far the two outputs agree.

The official code is driven as its ``eval_davis_2016.py`` drives it (``InferenceCore``:
``interact`` on frame 0, then ``do_pass``; top-20, memory every 5th frame), with two
stand-ins, both outside its files:

- ``torchvision.models.resnet50``: torchvision cannot be imported here; the stand-in
  returns our ResNet-50 trunk (``methods.backbones.resnet``), which has torchvision's
  module names. ``pretrained`` is ignored: the checkpoint's weights replace it anyway.
- ImageNet initialisation: its own ResNet-18 downloads ImageNet weights before the
  checkpoint replaces them; the download returns an empty state dict instead (its
  loader then keeps the random initialisation, which the checkpoint overwrites).
- CUDA: its inference core moves tensors with ``.cuda()`` and allocates on
  ``device='cuda'``; inside ``on_cpu()`` those stay on the CPU.

A frame's time is the wall time between the starts of consecutive frames (the official
core starts every frame with ``encode_key``); frame 0 (the given mask) is left out.

    python bench/official.py --stcn CHECKOUT [--sequence blackswan] [--frames 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH), str(ROOT / "tests")]

import vosbench  # noqa: E402,F401 - before torch: it sets OpenMP's wait policy
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.utils.model_zoo  # noqa: E402

import frame_time  # noqa: E402
from methods.backbones.resnet import ResNet  # noqa: E402
from methods.frames import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402


def torchvision_stand_in() -> types.ModuleType:
    """A ``torchvision`` module whose ``models.resnet50/resnet18`` build our trunks
    (torchvision's names, stem and layer1..layer3; the official networks use no more)."""
    models = types.ModuleType("torchvision.models")
    models.resnet50 = lambda pretrained=False, **_: ResNet("resnet50", ("layer1", "layer2", "layer3"))
    models.resnet18 = lambda pretrained=False, **_: ResNet("resnet18", ("layer1", "layer2", "layer3"))
    torchvision = types.ModuleType("torchvision")
    torchvision.models = models
    return torchvision


@contextlib.contextmanager
def on_cpu():
    """``.cuda()`` is the identity, ``device='cuda'`` allocations land on the CPU, and
    pretrained-weight downloads return nothing."""
    patched = {}

    def cpu_device(factory):
        def make(*args, **kwargs):
            if str(kwargs.get("device", "")).startswith("cuda"):
                kwargs["device"] = "cpu"
            return factory(*args, **kwargs)

        return make

    patched[(torch.hub, "load_state_dict_from_url")] = torch.hub.load_state_dict_from_url
    patched[(torch.utils.model_zoo, "load_url")] = torch.utils.model_zoo.load_url
    patched[(torch.Tensor, "cuda")] = torch.Tensor.cuda
    patched[(torch.nn.Module, "cuda")] = torch.nn.Module.cuda
    for name in ("zeros", "ones", "empty", "tensor", "zeros_like"):
        patched[(torch, name)] = getattr(torch, name)
    try:
        torch.hub.load_state_dict_from_url = torch.utils.model_zoo.load_url = lambda *a, **k: {}
        torch.Tensor.cuda = lambda self, *a, **k: self
        torch.nn.Module.cuda = lambda self, *a, **k: self
        for name in ("zeros", "ones", "empty", "tensor", "zeros_like"):
            setattr(torch, name, cpu_device(patched[(torch, name)]))
        yield
    finally:
        for (owner, name), original in patched.items():
            setattr(owner, name, original)


@contextlib.contextmanager
def checkout_on_path(checkout: Path):
    """The checkout's top-level modules importable (and forgotten afterwards, so a second
    official checkout with the same module names can follow)."""
    before = set(sys.modules)
    sys.path.insert(0, str(checkout))
    sys.modules.setdefault("torchvision", torchvision_stand_in())
    try:
        yield
    finally:
        sys.path.remove(str(checkout))
        for name in set(sys.modules) - before:
            del sys.modules[name]


def official_stcn(checkout: Path, frames: list[np.ndarray], mask: np.ndarray, top_k: int = 20, mem_every: int = 5):
    """Seconds per frame (frame 0 included, as the first entry) and the official
    foreground probabilities [T, H, W] of a one-object video."""
    if not (checkout / "inference_core.py").is_file():
        raise SystemExit(f"{checkout}: no inference_core.py; give --stcn a checkout of hkchengrex/STCN")
    with tempfile.TemporaryDirectory() as scratch, checkout_on_path(checkout), on_cpu(), torch.inference_mode():
        from conformance import write_checkpoint
        from inference_core import InferenceCore
        from model.eval_network import STCN

        state = torch.load(write_checkpoint("stcn", Path(scratch) / "stcn.pth"), weights_only=True)
        network = STCN().eval()
        network.load_state_dict(state)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
        rgb = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)[None].float() / 255
        rgb = (rgb - mean) / std  # [1, T, 3, H, W], as its DAVIS loader gives it
        given = torch.from_numpy(mask[None, None].astype(np.float32))  # [K=1, 1, H, W]

        starts = []
        encode_key = InferenceCore.encode_key

        def timed_encode_key(core, index):
            starts.append(time.perf_counter())
            return encode_key(core, index)

        InferenceCore.encode_key = timed_encode_key
        try:
            processor = InferenceCore(network, rgb, 1, top_k=top_k, mem_every=mem_every)
            processor.interact(given, 0, rgb.shape[1])
            starts.append(time.perf_counter())
        finally:
            InferenceCore.encode_key = encode_key
        prob = processor.prob[1, :, 0]
        top, left = processor.pad[2], processor.pad[0]
        prob = prob[:, top : top + mask.shape[0], left : left + mask.shape[1]]
        return list(np.diff(starts)), prob.numpy()


def ours(frames: list[np.ndarray], mask: np.ndarray) -> tuple[list[float], np.ndarray]:
    method = frame_time.build_method("stcn", [])
    table = frame_time.time_frames(method, frames, mask)
    method.start(frame_time.video_info("again", len(frames), mask))
    prob = [method.step(f, mask if t == 0 else None, t == len(frames) - 1)[1].numpy() for t, f in enumerate(frames)]
    return table.total_s.tolist(), np.stack(prob)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stcn", type=Path, required=True, help="a checkout of hkchengrex/STCN")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "davis2016-val")
    parser.add_argument("--sequence", default="blackswan")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frames, mask = frame_time.load_sequence(args.data, args.sequence, args.frames)

    official_times, official_prob = official_stcn(args.stcn, frames, mask)
    our_times, our_prob = ours(frames, mask)
    official_s, our_s = statistics.median(official_times[1:]), statistics.median(our_times[1:])
    agree = ((official_prob > 0.5) == (our_prob > 0.5)).mean()
    print(f"stcn {args.sequence} {mask.shape[0]}x{mask.shape[1]}, {args.threads} threads, frames 1..{args.frames - 1}:")
    print(f"  official {official_s:.3f} s/frame  {' '.join(f'{t:.2f}' for t in official_times)}")
    print(f"  ours     {our_s:.3f} s/frame  {' '.join(f'{t:.2f}' for t in our_times)}")
    print(f"  speed-up {official_s / our_s:.2f}x; masks agree on {100 * agree:.3f} % of pixels, "
          f"max |prob difference| {np.abs(official_prob - our_prob).max():.2e}")


if __name__ == "__main__":
    main()
