"""Synthetic VOS videos written in the layouts of the datasets read here (``vosbench data synth``).

DAVIS layout (every frame annotated, all objects at frame 0, ids 1..K)::

    DIR/JPEGImages/480p/<seq>/00000.jpg ...   (folder named 480p whatever the size)
    DIR/Annotations/480p/<seq>/00000.png ...  (palette PNG, DAVIS palette)
    DIR/ImageSets/2017/val.txt

YouTube-VOS layout (ids drawn from 1..9 or more, not 1..K; objects may enter late)::

    DIR/valid/JPEGImages/<video>/00000.jpg 00005.jpg ...  (every 5th frame)
    DIR/valid_all_frames/JPEGImages/<video>/00000.jpg ...  (every frame)
    DIR/valid/Annotations/<video>/<frame>.png  (where objects first appear; only those)
    DIR/valid/meta.json
    DIR/valid_gt/Annotations/<video>/<frame>.png  (full ground truth, every 5th frame)

LVOS layout (long videos: objects enter late, leave the scene and come back)::

    DIR/valid/JPEGImages/<video>/00000001.jpg ...  (every frame, numbered from 1)
    DIR/valid/Annotations/<video>/00000001.png ... (every 5th frame: 1, 6, 11, ...)
    DIR/valid/valid_meta.json  (each object's frame range, from its entry to the last annotated frame)

MOSE layout (objects all given at frame 0; they leave and come back, which MOSE v2
scores as disappearance and reappearance)::

    DIR/valid/JPEGImages/<video>/00000.jpg ...
    DIR/valid/Annotations/<video>/00000.png ...  (every frame: the ground truth a v2 scorer reads)
    DIR/valid/meta.json  (MOSE v2's: length and objects per video)

Long-Time Video layout (XMem's long_video_set: sparse ground truth, no split file)::

    DIR/JPEGImages/<video>/00000.jpg ...
    DIR/Annotations/<video>/00000.png ...  (frame 0 and every 20th after it)

SA-V layout (objects enter late; one folder of binary masks per object at 6 fps)::

    DIR/sav_val/JPEGImages_24fps/<video>/00000.jpg ...
    DIR/sav_val/Annotations_6fps/<video>/<id - 1 as 000>/00000.png ...  (every 4th frame,
        from the object's first)
    DIR/sav_val/sav_val.txt

All write ``DIR/synth.json`` (the parameters) first and the index file (val.txt,
meta.json...; Long-Time Video has none) last. Each video is written into temporary folders that are moved into place
when complete, its images folder last, so an interrupted run never leaves a video or a
dataset that looks finished; a rerun with the same parameters resumes.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import re
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image

from vosbench.atomic import atomic_dir, atomic_file
from vosbench.data.synth_scene import Scene, plan_scene
from vosbench.errors import VosbenchError
from vosbench.masks import write_mask

LAYOUTS = ("davis", "youtube", "lvos", "mose", "ltv", "sav")
STRIDE = 5  # YouTube-VOS validation annotates and releases every 5th frame
# frames between annotations, where not every frame is annotated: SA-V's 6 of 24 fps;
# Long-Time Video's sparse ground truth (about 20 frames of a few thousand)
ANNOTATION_STRIDE = {"youtube": STRIDE, "lvos": STRIDE, "sav": 4, "ltv": 20}
RECORD = "synth.json"

# The folders of one video, relative to DIR, in the order they are moved into place:
# the images folder, which readers list first, comes last.
FOLDERS = {
    "davis": {"annotations": "Annotations/480p", "images": "JPEGImages/480p"},
    "youtube": {
        "ground_truth": "valid_gt/Annotations",
        "annotations": "valid/Annotations",
        "all_frames": "valid_all_frames/JPEGImages",
        "images": "valid/JPEGImages",
    },
    "lvos": {"annotations": "valid/Annotations", "images": "valid/JPEGImages"},
    "mose": {"annotations": "valid/Annotations", "images": "valid/JPEGImages"},
    "ltv": {"annotations": "Annotations", "images": "JPEGImages"},
    "sav": {"annotations": "sav_val/Annotations_6fps", "images": "sav_val/JPEGImages_24fps"},
}
INDEX = {
    "davis": "ImageSets/2017/val.txt", "youtube": "valid/meta.json", "lvos": "valid/valid_meta.json",
    "mose": "valid/meta.json", "ltv": None, "sav": "sav_val/sav_val.txt",
}
LATE = ("youtube", "lvos", "sav")  # layouts whose objects may enter after frame 0
AWAY = ("lvos", "mose")  # layouts whose objects leave the scene and come back


@dataclass(frozen=True)
class SynthParams:
    """Everything that determines the output: the same values give byte-identical files."""

    layout: str = "davis"
    videos: int = 3
    frames: int = 30
    height: int = 240
    width: int = 432
    objects: int = 2
    seed: int = 0
    quality: int = 90  # JPEG quality

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise VosbenchError(f"unknown layout {self.layout!r}; choose one of {', '.join(LAYOUTS)}")
        for name, low, high in (
            ("videos", 1, None),
            ("frames", 1, None),
            ("height", 16, None),
            ("width", 16, None),
            ("objects", 1, 255),
            ("seed", 0, None),
            ("quality", 1, 100),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
                bound = f"{low}..{high}" if high is not None else f">= {low}"
                raise VosbenchError(f"synth: {name} must be an integer {bound}, got {value!r}")
        stride = ANNOTATION_STRIDE.get(self.layout, 1)
        if self.layout in LATE and self.objects > 1 and self.frames <= stride:
            raise VosbenchError(
                f"synth: the {self.layout} layout needs --frames above {stride} so that an object can "
                f"enter at a later annotated frame; got {self.frames}"
            )
        if self.layout == "lvos" and self.frames < 4 * STRIDE:
            raise VosbenchError(f"synth: the lvos layout needs --frames of at least {4 * STRIDE}; got {self.frames}")

    @property
    def sequences(self) -> tuple[str, ...]:
        digits = max(3, len(str(self.videos - 1)))
        return tuple(f"synth-{i:0{digits}d}" for i in range(self.videos))


@dataclass(frozen=True)
class SynthOutput:
    """Where a generated dataset lies."""

    root: Path
    params: SynthParams
    skipped: tuple[str, ...]  # videos that were already complete and left as they were

    @property
    def sequences(self) -> tuple[str, ...]:
        return self.params.sequences

    def _folder(self, key: str, fallback: str) -> Path:
        folders = FOLDERS[self.params.layout]
        return self.root / folders.get(key, folders[fallback])

    @property
    def images(self) -> Path:
        """Frames given to a method (YouTube-VOS: every 5th)."""
        return self._folder("images", "images")

    @property
    def all_frames(self) -> Path:
        return self._folder("all_frames", "images")

    @property
    def annotations(self) -> Path:
        """Masks given to a method (YouTube-VOS: only where objects first appear)."""
        return self._folder("annotations", "annotations")

    @property
    def ground_truth(self) -> Path:
        """Masks to score against."""
        return self._folder("ground_truth", "annotations")

    @property
    def index(self) -> Path | None:
        """val.txt (DAVIS), meta.json (YouTube-VOS, MOSE)...; None for Long-Time Video."""
        index = INDEX[self.params.layout]
        return None if index is None else self.root / index


def parse_size(text: str) -> tuple[int, int]:
    """``"240x432"`` -> (240, 432): height by width."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise VosbenchError(f"--size {text!r}: expected HEIGHTxWIDTH in pixels, e.g. 240x432")
    return int(match[1]), int(match[2])


def plan_video(params: SynthParams, index: int) -> Scene:
    """The scene of video ``index``; it depends only on the parameters and the index."""
    layout_seed, scene_seed = np.random.SeedSequence([params.seed, index]).spawn(2)
    rng = np.random.default_rng(layout_seed)
    count = params.objects
    stride = ANNOTATION_STRIDE.get(params.layout, STRIDE)
    ids = _youtube_ids(rng, count) if params.layout == "youtube" else list(range(1, count + 1))
    firsts = _youtube_firsts(rng, count, params.frames, stride) if params.layout in LATE else [0] * count
    aways = [_away(rng, first, params.frames) for first in firsts] if params.layout in AWAY else None
    return plan_scene(scene_seed, params.height, params.width, params.frames, ids, firsts, stride, aways)


def _away(rng: np.random.Generator, first: int, frames: int) -> tuple[int, int]:
    """Frames an object spends out of the scene: 2-4 strides of 5 frames within the
    middle of its time in view, starting and ending on annotated frames, so that its
    ground truth empties and fills again (none when it is in view for under 8 strides)."""
    strides = (frames - 1 - first) // STRIDE
    if strides < 8:
        return (0, 0)
    length = int(rng.integers(2, 5))
    start = first + STRIDE * int(rng.integers(2, strides - length - 1))
    return (start, start + STRIDE * length)


def _youtube_ids(rng: np.random.Generator, count: int) -> list[int]:
    """Sorted distinct ids that are not simply 1..K, as in YouTube-VOS."""
    pool = np.arange(1, min(255, max(9, 2 * count)) + 1)
    while True:
        ids = sorted(int(i) for i in rng.choice(pool, size=count, replace=False))
        if ids != list(range(1, count + 1)) or len(pool) == count:
            return ids


def _youtube_firsts(rng: np.random.Generator, count: int, frames: int, stride: int = STRIDE) -> list[int]:
    """First annotated frame of each object: object 0 is there from frame 0; each other
    object enters later with even odds, and at least one does."""
    late = [False] + [bool(rng.random() < 0.5) for _ in range(count - 1)]
    if count > 1 and not any(late):
        late[-1] = True
    # entries fall on annotated frames within the first 60% of the video
    last = max(stride, int(0.6 * (frames - 1)) // stride * stride)
    return [int(rng.integers(1, last // stride + 1)) * stride if is_late else 0 for is_late in late]


def video_folders(root: Path, layout: str, name: str) -> dict[str, Path]:
    """The folders of video ``name``, in the order they are moved into place."""
    return {key: root / relative / name for key, relative in FOLDERS[layout].items()}


def generate(out: str | Path, params: SynthParams = SynthParams()) -> SynthOutput:
    """Write ``params.videos`` synthetic videos under ``out``; complete ones are kept.

    Raises VosbenchError when ``out`` holds something else, or synthetic videos made
    with other parameters.
    """
    root = Path(out)
    scenes = (plan_video(params, index) for index in range(params.videos))
    first = next(scenes)  # objects that cannot be placed fail here, before anything is written
    _claim(root, params)
    _sweep_temporaries(root, params.layout)
    skipped, objects = [], {}
    for name, scene in zip(params.sequences, itertools.chain([first], scenes)):
        folders = video_folders(root, params.layout, name)
        if all(folder.is_dir() for folder in folders.values()):
            skipped.append(name)
        else:
            _write_video(scene, folders, params)
        objects[name] = [(obj.id, obj.shape, obj.first) for obj in scene.objects]
    if INDEX[params.layout] is not None:
        with atomic_file(root / INDEX[params.layout]) as tmp:
            tmp.write_text(_index_text(params, objects))
    return SynthOutput(root, params, tuple(skipped))


def _claim(root: Path, params: SynthParams) -> None:
    """Record the parameters in a new folder, or check them against an earlier run's."""
    record = root / RECORD
    if record.is_file():
        try:
            found = json.loads(record.read_text())["params"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise VosbenchError(f"{record}: unreadable ({error}); delete {root} and generate again") from None
        wanted = asdict(params)
        if found != wanted:
            changes = ", ".join(
                f"{f.name} {found.get(f.name)!r} (now {wanted[f.name]!r})"
                for f in fields(params)
                if found.get(f.name) != wanted[f.name]
            )
            raise VosbenchError(
                f"{root}: holds synthetic videos made with other parameters: {changes or found}; "
                "choose another --out or delete that folder"
            )
        return
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise VosbenchError(f"{root}: exists and is not a synthetic dataset (no {RECORD}); choose a new or empty --out folder")
    record_text = json.dumps(
        {"generator": "vosbench data synth", "params": asdict(params), "sequences": list(params.sequences)}, indent=2
    )
    with atomic_file(record) as tmp:
        tmp.write_text(record_text + "\n")


def _sweep_temporaries(root: Path, layout: str) -> None:
    # Temporary folders that a killed run left beside the videos (atomic_dir's naming).
    for relative in FOLDERS[layout].values():
        parent = root / relative
        if parent.is_dir():
            for child in parent.iterdir():
                if child.name.startswith(".") and child.name.endswith(".tmp") and child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)


def _write_video(scene: Scene, folders: dict[str, Path], params: SynthParams) -> None:
    with contextlib.ExitStack() as stack:
        # Entered in reverse, so that leaving the stack moves them in the listed order.
        tmp = {key: stack.enter_context(atomic_dir(path)) for key, path in reversed(folders.items())}
        starts = {obj.id: obj.first for obj in scene.objects}
        for t in range(scene.frames):
            image, labels = scene.render(t)
            name = f"{t:05d}"
            jpeg = _jpeg(image, params.quality)
            if params.layout in ("davis", "mose", "ltv"):
                (tmp["images"] / f"{name}.jpg").write_bytes(jpeg)
                if params.layout != "ltv" or t % ANNOTATION_STRIDE["ltv"] == 0:
                    write_mask(tmp["annotations"] / f"{name}.png", labels)
                continue
            if params.layout == "sav":
                (tmp["images"] / f"{name}.jpg").write_bytes(jpeg)
                if t % ANNOTATION_STRIDE["sav"] == 0:
                    for object_id, first in starts.items():
                        if t >= first:  # binary 0/255 masks, one folder per object
                            folder = tmp["annotations"] / f"{object_id - 1:03d}"
                            folder.mkdir(exist_ok=True)
                            Image.fromarray(((labels == object_id) * 255).astype(np.uint8)).save(folder / f"{name}.png")
                continue
            if params.layout == "lvos":
                (tmp["images"] / f"{t + 1:08d}.jpg").write_bytes(jpeg)
                if t % STRIDE == 0:
                    write_mask(tmp["annotations"] / f"{t + 1:08d}.png", labels)
                continue
            (tmp["all_frames"] / f"{name}.jpg").write_bytes(jpeg)
            if t % STRIDE:
                continue
            (tmp["images"] / f"{name}.jpg").write_bytes(jpeg)
            write_mask(tmp["ground_truth"] / f"{name}.png", labels)
            new = [object_id for object_id, first in starts.items() if first == t]
            if new:
                write_mask(tmp["annotations"] / f"{name}.png", np.where(np.isin(labels, new), labels, 0).astype(np.uint8))


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _index_text(params: SynthParams, objects: dict[str, list[tuple[int, str, int]]]) -> str:
    """val.txt or meta.json, from each video's (id, category, first frame) per object."""
    if params.layout in ("davis", "sav"):
        return "".join(f"{name}\n" for name in objects)
    if params.layout == "mose":
        videos = {name: {"length": params.frames, "objects": {str(i): {} for i, _, _ in sorted(video)}} for name, video in objects.items()}
        return json.dumps({"videos": videos}, indent=2) + "\n"
    if params.layout == "lvos":
        end = 1 + (params.frames - 1) // STRIDE * STRIDE  # the last annotated frame's number
        ranges = {
            name: {
                "objects": {
                    str(object_id): {"frame_range": {"start": first + 1, "end": end, "frame_nums": (end - first - 1) // STRIDE + 1}}
                    for object_id, _, first in sorted(video)
                }
            }
            for name, video in objects.items()
        }
        return json.dumps({"videos": ranges}, indent=2) + "\n"
    videos = {
        name: {
            "objects": {
                str(object_id): {"category": category, "frames": [f"{t:05d}" for t in range(first, params.frames, STRIDE)]}
                for object_id, category, first in sorted(video)
            }
        }
        for name, video in objects.items()
    }
    return json.dumps({"videos": videos}, indent=2) + "\n"
