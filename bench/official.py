"""The official STCN, SwiftNet, SWEM, XMem, Cutie and SAM 2 code timed on this machine, on the same frames and weights as ours.

Issue 8 asks for our methods to be faster than the official pipelines "compared at the
same time of day": this runs checkouts of hkchengrex/STCN and lmm077/SWEM (never
copied into the project) on the first frames of a DAVIS 2016 sequence at 480p, loaded with the
synthetic official-layout weights our benchmarks use, and reports its median s/frame
next to ours from the same process, with how far the two outputs agree.

STCN is driven as its ``eval_davis_2016.py`` drives it (``InferenceCore``: ``interact``
on frame 0, then ``do_pass``; top-20, memory every 5th frame). SWEM's network is called
in the order its ``SWEMEvaluator.evaluate_davis_seq`` calls it (frames /255, bicubic to
480x864; encode_key, match, segment, encode_value, memorize), with its eval.py
defaults (128 bases, 4 EM iterations, tau 0.05, top-64) and torch's seed 0 before the
video, as the conformance cases were made. Stand-ins, all outside their files:

- ``torchvision.models.resnet50``: torchvision cannot be imported here; the stand-in
  returns our ResNet-50 trunk (``methods.backbones.resnet``), which has torchvision's
  module names. ``pretrained`` is ignored: the checkpoint's weights replace it anyway.
- ImageNet initialisation: its own ResNet-18 downloads ImageNet weights before the
  checkpoint replaces them; the download returns an empty state dict instead (its
  loader then keeps the random initialisation, which the checkpoint overwrites).
- CUDA: its inference core moves tensors with ``.cuda()`` and allocates on
  ``device='cuda'``; inside ``on_cpu()`` those stay on the CPU.
- SWEM's key encoder loads ImageNet weights from local files named in ``model_dirs``,
  which its ``mod_resnet`` does not define (the release does not import as it is):
  files holding the stand-in trunks' own weights take their place.
- SWEM's package ``__init__`` files import its trainers and datasets (tqdm, cv2,
  easydict), which inference does not use: its packages are registered bare, so that
  only the network's files load. Its ``methods`` package shares our package's name;
  ours is set aside meanwhile.

A frame's time is the wall time between the starts of consecutive frames; frame 0 (the
given mask) is left out.

XMem is driven as its ``eval.py`` drives it (``InferenceCore.step`` with the given mask
on frame 0, then every frame, ``end`` at the last), with its eval.py memory defaults;
its trunks' ImageNet loading is skipped (the checkpoint replaces those weights).

Cutie is driven as its ``eval_vos.py`` drives it (``official_cutie``), the small model.

SAM 2.1 (Hiera-Tiny) is driven as its ``tools/vos_inference.py`` drives the video
predictor (``official_sam2``). Its ``init_state`` loads and resizes every frame before
the timing starts; ours resizes each frame inside its step, which counts against us. The
two run in lockstep (``LOCKSTEP``): each frame by the official code, then by ours, so
that another job's changing load on a shared machine falls on both alike. ``--objects K``
cuts the object into K (the official predictor runs each object on its own after the
shared image encoder; ours batches them). ``--flops`` counts each frame's FLOPs of both
(torch's counter) instead of timing: the speed-up that equal kernels would give.

    python bench/official.py [--stcn CHECKOUT] [--swem CHECKOUT] [--xmem CHECKOUT] [--cutie CHECKOUT] [--sam2 CHECKOUT] [--sequence blackswan] [--frames 8] [--threads 2] [--objects 1] [--flops]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.machinery
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


@contextlib.contextmanager
def bare_packages(checkout: Path, packages: list[str]):
    """The checkout's ``packages`` (dotted names) as package modules whose ``__init__``
    does not run; modules already loaded under those names (ours) are set aside and
    restored afterwards, with everything the checkout loaded forgotten."""
    top = {name.split(".")[0] for name in packages}
    ours = {name: module for name, module in sys.modules.items() if name.split(".")[0] in top}
    for name in ours:
        del sys.modules[name]
    try:
        with checkout_on_path(checkout):
            for name in packages:
                package = types.ModuleType(name)
                package.__path__ = [str(checkout.joinpath(*name.split(".")))]
                sys.modules[name] = package
            yield
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] in top]:
            del sys.modules[name]
        sys.modules.update(ours)


def official_swem(checkout: Path, frames: list[np.ndarray], mask: np.ndarray):
    """Seconds per frame and the official foreground probabilities [T, H, W] (frame 0:
    the given mask) of a one-object video."""
    if not (checkout / "methods" / "SWEM" / "swem.py").is_file():
        raise SystemExit(f"{checkout}: no methods/SWEM/swem.py; give --swem a checkout of lmm077/SWEM")
    packages = ["methods", "methods.SWEM", "methods.basic_modules"]
    with tempfile.TemporaryDirectory() as scratch, bare_packages(checkout, packages), on_cpu(), torch.inference_mode():
        import torch.nn.functional as F
        from conformance import write_checkpoint
        from methods.basic_modules import mod_resnet

        # The release imports ``model_dirs`` (paths of local ImageNet weights its key
        # encoder loads) from mod_resnet, which does not define it: stand-in files
        # holding the stand-in trunks' own weights (the checkpoint replaces them).
        mod_resnet.model_dirs = {}
        for arch in ("resnet50", "resnet18"):
            mod_resnet.model_dirs[arch] = Path(scratch) / f"{arch}.pth"
            torch.save(getattr(torchvision_stand_in().models, arch)().state_dict(), mod_resnet.model_dirs[arch])
        from methods.SWEM.swem import SWEM

        config = types.SimpleNamespace(KEYDIM=128, VALDIM=512, NUM_BASES=128, NUM_EM_ITERS=4, EM_TAU=0.05, TOPL=64,
                                       SINGLE_OBJ=False, BACKBONE="resnet50", IMAGE_PRETRAIN=False, DEVICE="cpu")
        network = SWEM(config).eval()
        network.load_state_dict(torch.load(write_checkpoint("swem", Path(scratch) / "swem.pth"), weights_only=True))
        out_size = mask.shape
        video = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
        video = F.interpolate(video, size=(480, 864), mode="bicubic", align_corners=False)[None]  # [1, T, 3, h, w]
        size = video.shape[-2:]
        one_hot = torch.from_numpy(np.stack([mask == 0, mask > 0]).astype(np.float32))[None]  # [1, 2, H, W]
        torch.manual_seed(0)
        starts = [time.perf_counter()]
        key, _, s16, _, _ = network("encode_key", video[:, 0])
        value = network("encode_value", video[:, 0], F.interpolate(one_hot, size=size, mode="nearest"), s16)
        network("init", key, value, one_hot)
        probs = [one_hot[0, 1].numpy()]
        count = video.shape[1]
        for i in range(1, count):
            starts.append(time.perf_counter())
            key, query_value, s16, s8, s4 = network("encode_key", video[:, i])
            context, n = network("match", key, query_value)
            _, prob = network("segment", n, context, s8, s4, None, out_size)
            probs.append(prob[0, 1].numpy())
            hard = (prob.argmax(dim=1, keepdim=True) == torch.arange(n + 1).view(1, -1, 1, 1)).float()
            if i < count - 1:
                prob = F.interpolate(prob, size=size, mode="bilinear", align_corners=False)
                value = network("encode_value", video[:, i], prob, s16)
                network("memorize", key, value, hard, prob)
        starts.append(time.perf_counter())
        return list(np.diff(starts)), np.stack(probs)


def official_swiftnet(checkout: Path, frames: list[np.ndarray], mask: np.ndarray, mem_every: int = 5):
    """Seconds per frame (frame 0: nothing happens there) and the official foreground
    probabilities [T, H, W] of a one-object video."""
    if not (checkout / "swiftnet.py").is_file():
        raise SystemExit(f"{checkout}: no swiftnet.py; give --swiftnet a checkout of haochenheheda/SwiftNet")
    # its helpers import cv2 for its data loading, which inference does not use
    with tempfile.TemporaryDirectory() as scratch, checkout_on_path(checkout), on_cpu(), torch.inference_mode():
        sys.modules.setdefault("cv2", types.ModuleType("cv2"))
        import torch.nn.functional as F
        from conformance import write_checkpoint
        from swiftnet import SwiftNet

        state = torch.load(write_checkpoint("swiftnet", Path(scratch) / "swiftnet.pth"), weights_only=True)
        network = SwiftNet().eval()
        network.load_state_dict({name.removeprefix("module."): value for name, value in state.items()})
        # as its DAVIS loader gives them: [1, 3, H, W] in [0, 1], one-hot over 11 slots
        video = [torch.from_numpy(np.array(f)).permute(2, 0, 1)[None].float() / 255 for f in frames]
        one_hot = torch.zeros(1, 11, *mask.shape)
        one_hot[0, 0], one_hot[0, 1] = torch.from_numpy(mask == 0), torch.from_numpy(mask > 0)
        objects = torch.tensor([1])
        probs, seconds = [one_hot[0, 1].numpy()], [0.0]
        previous, estimate, taps = video[0], one_hot, None
        keys = values = None  # the memorised frames: frame 0's from frame 1 on
        for t in range(1, len(video)):
            start = time.perf_counter()
            # the previous frame's key and value (every frame: SwiftNet's temporary memory)
            if taps is None:
                key, value = network(previous, estimate, None, None, None, None, objects, first_frame_flag=True)
            else:
                key, value = network(previous, estimate, *taps, objects, first_frame_flag=False)
            these = (key, value) if t == 1 else (torch.cat([keys, key], dim=2), torch.cat([values, value], dim=2))
            logit, *taps = network(video[t], *these, objects)
            estimate = F.softmax(logit, dim=1)
            if (t - 1) % mem_every == 0:
                keys, values = these if t == 1 else network.Memory_update(keys, values, key, value)
            previous = video[t]
            seconds.append(time.perf_counter() - start)
            probs.append(estimate[0, 1].numpy())
        return seconds, np.stack(probs)


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


def official_xmem(checkout: Path, frames: list[np.ndarray], mask: np.ndarray):
    """Seconds per frame (frame 0 included, as the first entry) and the official
    foreground probabilities [T, H, W] of a one-object video, with its eval.py defaults
    (top-30, memory every 5th frame, deep update on memorised frames, long-term memory
    10/5 frames, 128 prototypes, 10,000 entries), float32 (its ``--benchmark``) and its
    ``--size 480``: its reader's bilinear resize of the normalised frame to a 480-pixel
    short side, the mask's nearest, the probabilities' bilinear resize back (nothing to
    do for 480p frames)."""
    if not (checkout / "inference" / "inference_core.py").is_file():
        raise SystemExit(f"{checkout}: no inference/inference_core.py; give --xmem a checkout of hkchengrex/XMem")
    with tempfile.TemporaryDirectory() as scratch, checkout_on_path(checkout), on_cpu(), torch.inference_mode():
        from conformance import write_checkpoint
        from model import resnet

        # its trunks load ImageNet weights before the checkpoint replaces them: nothing to load
        resnet.load_weights_add_extra_dim = lambda *args, **kwargs: None
        from inference.inference_core import InferenceCore
        from model.network import XMem

        config = {"top_k": 30, "mem_every": 5, "deep_update_every": -1, "enable_long_term": True,
                  "max_mid_term_frames": 10, "min_mid_term_frames": 5, "num_prototypes": 128,
                  "max_long_term_elements": 10000}
        # as eval.py derives it per video
        config["enable_long_term_count_usage"] = len(frames) / 5 * 128 >= 10000
        with contextlib.redirect_stdout(None):  # it prints the dimensions it reads
            network = XMem(config, str(write_checkpoint("xmem", Path(scratch) / "XMem.pth")), map_location="cpu").eval()
        processor = InferenceCore(network, config=config)
        processor.set_all_labels([1])
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        import torch.nn.functional as F

        height, width = mask.shape
        size = (480, int(480 * width / height)) if height <= width else (int(480 * height / width), 480)
        given = F.interpolate(torch.from_numpy(mask[None, None].astype(np.float32)), size, mode="nearest")[0]  # [K=1, h, w]
        starts, probs = [], []
        for t, frame in enumerate(frames):
            starts.append(time.perf_counter())
            rgb = (torch.from_numpy(np.array(frame)).permute(2, 0, 1).float() / 255 - mean) / std
            if size != mask.shape:
                rgb = F.interpolate(rgb[None], size, mode="bilinear", align_corners=False)[0]
            prob = processor.step(rgb, given if t == 0 else None, [1] if t == 0 else None, end=t == len(frames) - 1)
            if size != mask.shape:
                prob = F.interpolate(prob[None], mask.shape, mode="bilinear", align_corners=False)[0]
            probs.append(prob[1].numpy())
        starts.append(time.perf_counter())
        return list(np.diff(starts)), np.stack(probs)


class Config(dict):
    """Attribute access to a nested dict, as the official Cutie reads its hydra config."""

    def __getattr__(self, name):
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(name) from None
        return Config(value) if isinstance(value, dict) else value


def cutie_config() -> Config:
    """The official small model (config/model/small.yaml over base.yaml) and the
    eval_config.yaml defaults that the network and the inference core read."""
    attention = {"add_pe_to_qkv": [True, True, False]}
    model = {
        "pixel_mean": list(IMAGENET_MEAN), "pixel_std": list(IMAGENET_STD), "pixel_dim": 256, "key_dim": 64,
        "value_dim": 256, "sensory_dim": 256, "embed_dim": 256,
        "pixel_encoder": {"type": "resnet18", "ms_dims": [256, 128, 64]},
        "mask_encoder": {"type": "resnet18", "final_dim": 256},
        "pixel_pe_scale": 32, "pixel_pe_temperature": 128,
        "object_transformer": {
            "embed_dim": 256, "ff_dim": 2048, "num_heads": 8, "num_blocks": 3, "num_queries": 16,
            "read_from_pixel": {**attention, "input_norm": False, "input_add_pe": False},
            "read_from_past": attention, "read_from_memory": attention,
            "read_from_query": {**attention, "output_norm": False},
            "query_self_attention": attention, "pixel_self_attention": attention,
        },
        "object_summarizer": {"embed_dim": 256, "num_summaries": 16, "add_pe": True},
        "aux_loss": {"sensory": {"enabled": True, "weight": 0.01}, "query": {"enabled": True, "weight": 0.01}},
        "mask_decoder": {"up_dims": [256, 128, 128]},
    }
    long_term = {"count_usage": True, "max_mem_frames": 10, "min_mem_frames": 5, "num_prototypes": 128,
                 "max_num_tokens": 10000, "buffer_tokens": 2000}
    return Config({"model": model, "top_k": 30, "mem_every": 5, "stagger_updates": 5, "max_mem_frames": 5,
                   "use_long_term": False, "long_term": long_term, "chunk_size": -1, "save_aux": False,
                   "flip_aug": False, "max_internal_size": -1, "amp": False})


def official_cutie(checkout: Path, frames: list[np.ndarray], mask: np.ndarray):
    """Seconds per frame (frame 0 included, as the first entry) and the official
    foreground probabilities [T, H, W] of a one-object video: the small model driven as
    its ``eval_vos.py`` drives it (``InferenceCore.step`` with the index mask and its id
    on frame 0, ``end`` at the last), float32, eval_config.yaml defaults (top-30, memory
    every 5th frame, 5 frames with the first permanent, 5 staggered sensory updates, no
    long-term memory). Its reader shrinks only frames whose short side exceeds 480
    (none here). ``omegaconf`` (imported for type hints only) is a stand-in; its trunks'
    ImageNet loading is skipped."""
    if not (checkout / "cutie" / "inference" / "inference_core.py").is_file():
        raise SystemExit(f"{checkout}: no cutie/inference/inference_core.py; give --cutie a checkout of hkchengrex/Cutie")
    omegaconf = types.ModuleType("omegaconf")
    omegaconf.DictConfig = dict
    with tempfile.TemporaryDirectory() as scratch, checkout_on_path(checkout), on_cpu(), torch.inference_mode():
        sys.modules.setdefault("omegaconf", omegaconf)
        from conformance import write_checkpoint
        from cutie.model.utils import resnet

        # its trunks load ImageNet weights before the checkpoint replaces them: nothing to load
        resnet.load_weights_add_extra_dim = lambda *args, **kwargs: None
        from cutie.inference.inference_core import InferenceCore
        from cutie.model.cutie import CUTIE

        config = cutie_config()
        network = CUTIE(config).eval()
        network.load_weights(torch.load(write_checkpoint("cutie", Path(scratch) / "cutie.pth"), weights_only=True))
        processor = InferenceCore(network, cfg=config)
        given = torch.from_numpy(mask.astype(np.int64))
        starts, probs = [], []
        for t, frame in enumerate(frames):
            starts.append(time.perf_counter())
            rgb = torch.from_numpy(np.array(frame)).permute(2, 0, 1).float() / 255
            prob = processor.step(rgb, given if t == 0 else None, [1] if t == 0 else None, end=t == len(frames) - 1)
            probs.append(prob[1].numpy())
        starts.append(time.perf_counter())
        return list(np.diff(starts)), np.stack(probs)


def official_sam2_predictor():
    """The official SAM 2.1 Hiera-Tiny video predictor built as ``build_sam2_video_predictor``
    builds it for ``tools/vos_inference.py`` (configs/sam2.1/sam2.1_hiera_t.yaml, no
    post-processing, non-overlapping masks), with the modules instantiated directly
    instead of through hydra, and the synthetic weights loaded as its ``_load_checkpoint``."""
    from conformance import synthetic_state_dict
    from sam2.modeling.backbones.hieradet import Hiera
    from sam2.modeling.backbones.image_encoder import FpnNeck, ImageEncoder
    from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer
    from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
    from sam2.modeling.position_encoding import PositionEmbeddingSine
    from sam2.modeling.sam.transformer import RoPEAttention
    from sam2.sam2_video_predictor import SAM2VideoPredictor

    trunk = Hiera(embed_dim=96, num_heads=1, stages=[1, 2, 7, 2], global_att_blocks=[5, 7, 9], window_pos_embed_bkg_spatial_size=[7, 7])
    neck = FpnNeck(PositionEmbeddingSine(256, normalize=True, temperature=10000), d_model=256,
                   backbone_channel_list=[768, 384, 192, 96], fpn_top_down_levels=[2, 3], fpn_interp_model="nearest")
    rope = {"rope_theta": 10000.0, "feat_sizes": [64, 64], "embedding_dim": 256, "num_heads": 1, "downsample_rate": 1, "dropout": 0.1}
    layer = MemoryAttentionLayer(
        activation="relu", dim_feedforward=2048, dropout=0.1, pos_enc_at_attn=False, d_model=256,
        pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=False,
        self_attention=RoPEAttention(**rope), cross_attention=RoPEAttention(**rope, rope_k_repeat=True, kv_in_dim=64),
    )
    model = SAM2VideoPredictor(
        image_encoder=ImageEncoder(trunk, neck, scalp=1),
        memory_attention=MemoryAttention(d_model=256, pos_enc_at_input=True, layer=layer, num_layers=4),
        memory_encoder=MemoryEncoder(
            64, MaskDownSampler(kernel_size=3, stride=2, padding=1),
            Fuser(CXBlock(256, kernel_size=7, padding=3, layer_scale_init_value=1e-6, use_dwconv=True), num_layers=2),
            PositionEmbeddingSine(64, normalize=True, temperature=10000),
        ),
        num_maskmem=7, image_size=1024, sigmoid_scale_for_mem_enc=20.0, sigmoid_bias_for_mem_enc=-10.0,
        use_mask_input_as_output_without_sam=True, directly_add_no_mem_embed=True, no_obj_embed_spatial=True,
        use_high_res_features_in_sam=True, multimask_output_in_sam=True, iou_prediction_use_sigmoid=True,
        use_obj_ptrs_in_encoder=True, add_tpos_enc_to_obj_ptrs=True, proj_tpos_enc_in_obj_ptrs=True,
        use_signed_tpos_enc_to_obj_ptrs=True, only_obj_ptrs_in_the_past_for_eval=True, pred_obj_scores=True,
        pred_obj_scores_mlp=True, fixed_no_obj_ptr=True, multimask_output_for_tracking=True,
        use_multimask_token_for_obj_ptr=True, multimask_min_pt_num=0, multimask_max_pt_num=1,
        use_mlp_for_obj_ptr_proj=True, compile_image_encoder=False, non_overlap_masks=True,
    )
    missing, unexpected = model.load_state_dict(synthetic_state_dict("sam2"))
    if missing or unexpected:
        raise SystemExit(f"the official SAM 2 does not take the synthetic weights: missing {missing}, unexpected {unexpected}")
    return model.eval()


def stand_in_module(name: str) -> types.ModuleType:
    """An empty module with a spec (torch._dynamo, which the FLOP counter imports, looks
    up the spec of every module it knows by name)."""
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    return module


def official_sam2(checkout: Path, frames: list[np.ndarray], mask: np.ndarray, alongside=None, around=contextlib.nullcontext):
    """Seconds per frame and the official probabilities [T, K, H, W] of each object (ids
    1..K in ``mask``), driven as ``tools/vos_inference.py`` drives the predictor: ``init_state`` on a
    frame folder (the frames as PNG data under the .jpg names its loader lists: it decodes
    by content; all frames are loaded and resized there, before the timing),
    ``add_new_mask`` on frame 0, ``propagate_in_video``. ``alongside(t)``, when given, runs
    after frame t outside the official clock; ``around()`` is entered for each frame's
    official computation (a FLOP counter). Stand-ins: ``tqdm`` (a pass-through) and
    ``iopath`` (imported, unused without trunk weights); its package ``__init__`` (hydra's
    config search) is not run."""
    if not (checkout / "sam2" / "sam2_video_predictor.py").is_file():
        raise SystemExit(f"{checkout}: no sam2/sam2_video_predictor.py; give --sam2 a checkout of facebookresearch/sam2")
    from PIL import Image

    stand_ins = {name: stand_in_module(name) for name in ("tqdm", "iopath", "iopath.common", "iopath.common.file_io")}
    stand_ins["tqdm"].tqdm = lambda iterable=None, *args, **kwargs: iterable
    stand_ins["iopath.common.file_io"].g_pathmgr = None
    packages = ["sam2", "sam2.modeling", "sam2.modeling.backbones", "sam2.modeling.sam", "sam2.utils"]
    with tempfile.TemporaryDirectory() as scratch, bare_packages(checkout, packages), torch.inference_mode():
        for name, module in stand_ins.items():
            sys.modules.setdefault(name, module)
        for t, frame in enumerate(frames):
            Image.fromarray(frame).save(Path(scratch) / f"{t:05d}.jpg", format="PNG")
        predictor = official_sam2_predictor()
        state = predictor.init_state(scratch)
        for obj_id in (int(i) for i in np.unique(mask) if i):  # as vos_inference.py adds each object's mask
            predictor.add_new_mask(state, frame_idx=0, obj_id=obj_id, mask=mask == obj_id)
        outputs, times, probs = predictor.propagate_in_video(state), [], []
        while True:
            start = time.perf_counter()
            with around():
                output = next(outputs, None)
            if output is None:
                break
            times.append(time.perf_counter() - start)
            t, _, logits = output
            probs.append(torch.sigmoid(logits[:, 0]).numpy())  # [K, H, W], objects in id order
            if alongside is not None:
                alongside(t)
        return times, np.stack(probs)


def ours(name: str, frames: list[np.ndarray], mask: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Our seconds per frame and foreground probabilities [T, H, W], from one timed pass."""
    foreground = []
    table = frame_time.time_frames(frame_time.build_method(name, []), frames, mask, foreground=foreground)
    return table.total_s.tolist(), np.stack(foreground)


# official drivers that take ``alongside``: ours computes each frame right after the
# official code, so a shared machine's changing load falls on both alike
LOCKSTEP = {"sam2"}


def lockstep(name: str, checkout: Path, frames: list[np.ndarray], mask: np.ndarray, around=contextlib.nullcontext):
    """The official and our seconds per frame and probabilities, frame by frame in turn;
    ``around()`` is entered for each frame's computation of either."""
    method = frame_time.build_method(name, [])
    method.start(frame_time.video_info("video", len(frames), mask))
    our_times, foreground = [], []

    def alongside(t: int) -> None:
        start = time.perf_counter()
        with around():
            probs = method.step(frames[t], mask if t == 0 else None, t == len(frames) - 1)
        our_times.append(time.perf_counter() - start)
        foreground.append(probs[1:].numpy())

    official_times, official_prob = OFFICIAL[name](checkout, frames, mask, alongside=alongside, around=around)
    return official_times, official_prob, our_times, np.stack(foreground)


def lockstep_flops(name: str, checkout: Path, frames: list[np.ndarray], mask: np.ndarray) -> tuple[list[int], list[int]]:
    """FLOPs of each frame (torch's count: 2 per multiply-add) of the official code and of
    ours, frame 0 (the given mask) included; the counter slows both, so no times."""
    from flops import FlopCounterMode  # bench/flops.py: the counter, with the CPU attention formula

    counts: list[int] = []

    @contextlib.contextmanager
    def counted():
        with FlopCounterMode(display=False) as counter:
            yield
        counts.append(counter.get_total_flops())

    lockstep(name, checkout, frames, mask, around=counted)
    # official, then ours, frame after frame; then the official generator's ending call
    return counts[0::2][: len(frames)], counts[1::2]


def mask_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of pixels where two probability maps give the same mask."""
    return float(((a > 0.5) == (b > 0.5)).mean())


OFFICIAL = {
    "stcn": official_stcn, "swiftnet": official_swiftnet, "swem": official_swem, "xmem": official_xmem, "cutie": official_cutie,
    "sam2": official_sam2,
}


def compare(name: str, checkout: Path, frames: list[np.ndarray], mask: np.ndarray) -> dict:
    """The official and our s/frame (medians over frames 1..), the speed-up, and how far
    the outputs agree."""
    if name in LOCKSTEP:
        official_times, official_prob, our_times, our_prob = lockstep(name, checkout, frames, mask)
    else:
        official_times, official_prob = OFFICIAL[name](checkout, frames, mask)
        our_times, our_prob = ours(name, frames, mask)
    return {
        "method": name,
        "official_s": statistics.median(official_times[1:]),
        "ours_s": statistics.median(our_times[1:]),
        "speedup": statistics.median(official_times[1:]) / statistics.median(our_times[1:]),
        "mask_agreement": mask_agreement(official_prob, our_prob),
        "max_prob_diff": float(np.abs(official_prob - our_prob).max()),
        "official_frames_s": " ".join(f"{t:.2f}" for t in official_times),
        "our_frames_s": " ".join(f"{t:.2f}" for t in our_times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stcn", type=Path, help="a checkout of hkchengrex/STCN")
    parser.add_argument("--swiftnet", type=Path, help="a checkout of haochenheheda/SwiftNet")
    parser.add_argument("--swem", type=Path, help="a checkout of lmm077/SWEM")
    parser.add_argument("--xmem", type=Path, help="a checkout of hkchengrex/XMem")
    parser.add_argument("--cutie", type=Path, help="a checkout of hkchengrex/Cutie")
    parser.add_argument("--sam2", type=Path, help="a checkout of facebookresearch/sam2")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "davis2016-val")
    parser.add_argument("--sequence", default="blackswan")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--objects", type=int, default=1, help="lockstep methods (sam2): cut the object into this many (bench/frame_time.py)")
    parser.add_argument("--flops", action="store_true", help="lockstep methods (sam2): count each frame's FLOPs instead of timing")
    args = parser.parse_args()
    checkouts = {name: getattr(args, name) for name in OFFICIAL if getattr(args, name)}
    if not checkouts:
        parser.error("give at least one checkout: --stcn, --swiftnet, --swem, --xmem, --cutie, --sam2")
    torch.set_num_threads(args.threads)
    frames, mask = frame_time.load_sequence(args.data, args.sequence, args.frames)
    if args.flops and set(checkouts) - LOCKSTEP:
        parser.error(f"--flops counts the lockstep methods ({', '.join(sorted(LOCKSTEP))}), not {', '.join(sorted(set(checkouts) - LOCKSTEP))}")
    if args.objects != 1:
        if args.objects < 1 or set(checkouts) - LOCKSTEP:
            parser.error(f"--objects {args.objects}: give 1, or 2 and more with only the lockstep methods ({', '.join(sorted(LOCKSTEP))})")
        mask = frame_time.split_objects(mask, args.objects)
    print(f"{args.sequence} {mask.shape[0]}x{mask.shape[1]}, {args.threads} threads, median over frames 1..{args.frames - 1}")
    for name, checkout in checkouts.items():
        if args.flops:
            official, ours_ = lockstep_flops(name, checkout, frames, mask)
            print(f"{name}: GFLOP per frame, official / ours / ratio")
            for t, (a, b) in enumerate(zip(official, ours_)):
                print(f"  frame {t}: {a / 1e9:8.1f} {b / 1e9:8.1f} {a / b:6.3f}")
            continue
        row = compare(name, checkout, frames, mask)
        print(f"{name}: official {row['official_s']:.3f} s/frame, ours {row['ours_s']:.3f}: {row['speedup']:.2f}x; "
              f"masks agree on {100 * row['mask_agreement']:.3f} % of pixels, max |prob difference| {row['max_prob_diff']:.1e}")
        print(f"  official {row['official_frames_s']}\n  ours     {row['our_frames_s']}")


if __name__ == "__main__":
    main()
