"""The procedural scene behind the synthetic videos: textured sprites over a panning background.

A ``Scene`` is a small plan drawn from a seed (textures, shapes, trajectory keypoints,
depth order, camera pan); ``render(t)`` draws frame ``t`` from it alone, so frames come
one at a time in constant memory however long the video, and any frame can be drawn
without the ones before it.

Objects are rigid sprites (colour and shape baked in their own coordinates) that move
along smooth curves, grow and shrink, spin, and are composited back to front: a mask
holds only what is visible. Occlusions are planned, not left to chance: each object
that is present from the start is steered through the path of another one mid-video
(when the video is long enough for them to part first).
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

from vosbench.errors import VosbenchError

SHAPES = ("ellipse", "blob", "polygon")
PATTERNS = ("stripes", "checks", "blotches")
SCALE_SWING = 0.3  # log-scale amplitude: sizes vary by exp(+-0.3), about 0.74x..1.35x
ROAM = 0.12  # keypoints stay this fraction of the frame away from its edges
MAX_PLACEMENT_TRIES = 100  # per object
MIN_PIXELS = 4  # an annotated object shows at least this many pixels


# --- textures -------------------------------------------------------------------


def _smoothstep_weights(n: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid cell index and interpolation weight of each of ``n`` samples over ``cells``."""
    pos = (np.arange(n, dtype=np.float32) + 0.5) * np.float32(cells / n)
    index = np.minimum(pos.astype(np.int64), cells - 1)
    f = pos - index
    # smoothstep rather than linear weights: no visible creases along the grid lines
    return index, f * f * (3 - 2 * f)


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: tuple[int, int], channels: int) -> np.ndarray:
    """Value noise: random values on a (cells_y + 1) x (cells_x + 1) grid, smoothly interpolated.

    Returns float32 [height, width, channels] in [-1, 1]. Element-wise arithmetic only
    (no BLAS), so the result is bit-identical from run to run.
    """
    grid = rng.uniform(-1.0, 1.0, size=(cells[0] + 1, cells[1] + 1, channels)).astype(np.float32)
    iy, wy = _smoothstep_weights(height, cells[0])
    ix, wx = _smoothstep_weights(width, cells[1])
    rows = grid[iy] * (1 - wy)[:, None, None] + grid[iy + 1] * wy[:, None, None]
    return rows[:, ix] * (1 - wx)[None, :, None] + rows[:, ix + 1] * wx[None, :, None]


def fractal_noise(
    rng: np.random.Generator, height: int, width: int, channels: int, octaves: int, base_cells: float
) -> np.ndarray:
    """Octaves of ``smooth_noise``, each twice as fine and half as strong; float32 in [-1, 1]."""
    total = np.zeros((height, width, channels), dtype=np.float32)
    weight = 0.0
    for octave in range(octaves):
        cells_y = max(1, round(base_cells * 2**octave))
        cells_x = max(1, round(base_cells * 2**octave * width / height))
        amplitude = 0.5**octave
        total += np.float32(amplitude) * smooth_noise(rng, height, width, (cells_y, cells_x), channels)
        weight += amplitude
    return total / np.float32(weight)


def _colour(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32) * 255


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A muted, textured backdrop larger than the frame: two colours mixed by fractal
    noise, a colour tint, and noise-warped stripes that give the pan something to show."""
    hue = rng.random()
    low = _colour(hue, rng.uniform(0.15, 0.45), rng.uniform(0.25, 0.5))
    high = _colour(hue + rng.uniform(0.1, 0.4), rng.uniform(0.15, 0.45), rng.uniform(0.6, 0.9))
    mix = 0.5 + 0.5 * fractal_noise(rng, height, width, 1, octaves=5, base_cells=3)
    tint = 25 * fractal_noise(rng, height, width, 3, octaves=2, base_cells=2)
    angle = rng.uniform(0, math.pi)
    period = rng.uniform(0.03, 0.08) * min(height, width)
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    phase = (xs * math.cos(angle) + ys * math.sin(angle)) * np.float32(2 * math.pi / period)
    stripes = 10 * np.sin(phase + 6 * mix[..., 0])
    return (low * (1 - mix) + high * mix + tint + stripes[..., None]).astype(np.float32)


# --- sprites --------------------------------------------------------------------


def _shape_mask(rng: np.random.Generator, shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test of a shape that fits the unit disk, at sprite coordinates (u, v)."""
    radius = np.hypot(u, v)
    if shape == "ellipse":
        aspect = rng.uniform(0.45, 1.0)
        return u**2 + (v / aspect) ** 2 <= 1.0
    if shape == "blob":
        # a radius that wobbles with the angle; normalised so the blob fits the disk
        k = np.arange(2, 5)
        amplitude = rng.uniform(0.0, 0.18, size=3)
        phase = rng.uniform(0, 2 * math.pi, size=3)

        def boundary(angle: np.ndarray) -> np.ndarray:
            return 1.0 + (amplitude * np.cos(k * angle[..., None] + phase)).sum(axis=-1)

        peak = boundary(np.linspace(0, 2 * math.pi, 721)).max()
        return radius <= boundary(np.arctan2(v, u)) / peak
    if shape == "polygon":
        # a convex polygon inscribed in the circle; gaps under pi keep the centre inside
        sides = int(rng.integers(3, 8))
        gaps = rng.uniform(0.7, 1.3, size=sides)
        angles = rng.uniform(0, 2 * math.pi) + np.cumsum(gaps / gaps.sum() * 2 * math.pi)
        corners = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        inside = np.ones(radius.shape, dtype=bool)
        for (x0, y0), (x1, y1) in zip(corners, np.roll(corners, -1, axis=0)):
            inside &= (x1 - x0) * (v - y0) - (y1 - y0) * (u - x0) >= 0
        return inside
    raise ValueError(f"unknown shape {shape!r}")


def _sprite(rng: np.random.Generator, shape: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Colour float32 [size, size, 3] and mask bool [size, size] of one object, covering
    [-1, 1]^2 in its own coordinates: a saturated two-colour pattern, lit from the middle."""
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    v, u = centres[:, None], centres[None, :]
    mask = _shape_mask(rng, shape, u, v)
    hue = rng.random()
    first = _colour(hue, rng.uniform(0.55, 0.95), rng.uniform(0.65, 1.0))
    second = _colour(hue + rng.uniform(0.25, 0.75), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.9))
    angle = rng.uniform(0, math.pi)
    frequency = 2 * math.pi * rng.uniform(1.5, 4.0)  # 1.5 to 4 periods across the object
    along = np.sin(frequency * (u * math.cos(angle) + v * math.sin(angle)) + rng.uniform(0, 2 * math.pi))
    across = np.sin(frequency * (v * math.cos(angle) - u * math.sin(angle)))
    pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
    blotches = fractal_noise(rng, size, size, 1, octaves=3, base_cells=2)[..., 0]
    motif = {"stripes": along, "checks": along * across, "blotches": np.tanh(3 * blotches)}[pattern]
    mix = np.clip(0.5 + 0.8 * (0.6 * motif + 0.6 * blotches), 0, 1)[..., None]
    shading = (1.0 - 0.35 * np.minimum(u**2 + v**2, 1.0))[..., None]
    colour = (first * (1 - mix) + second * mix) * shading
    return colour.astype(np.float32), mask


# --- motion ---------------------------------------------------------------------


@dataclass(frozen=True)
class Oscillation:
    """A sum of sinusoids of time in frames: smooth, bounded, and the same speed at any length."""

    amplitudes: tuple[float, ...]
    periods: tuple[float, ...]
    phases: tuple[float, ...]

    @classmethod
    def draw(cls, rng: np.random.Generator, amplitudes: Sequence[float], periods: tuple[float, float]) -> "Oscillation":
        n = len(amplitudes)
        return cls(
            tuple(float(a) for a in amplitudes),
            tuple(float(p) for p in rng.uniform(*periods, size=n)),
            tuple(float(p) for p in rng.uniform(0, 2 * math.pi, size=n)),
        )

    def __call__(self, t: float) -> float:
        return sum(a * math.sin(2 * math.pi * t / p + f) for a, p, f in zip(self.amplitudes, self.periods, self.phases))


@dataclass(frozen=True, eq=False)
class Track:
    """A smooth 2-D path through keypoints (Catmull-Rom, non-uniform times).

    The first and last keypoints only shape the tangents: the path is defined between
    ``times[1]`` and ``times[-2]``.
    """

    times: np.ndarray  # float64 [N], increasing
    points: np.ndarray  # float64 [N, 2], x and y in pixels

    def __call__(self, t: float) -> np.ndarray:
        times, points = self.times, self.points
        k = int(np.clip(np.searchsorted(times, t, side="right") - 1, 1, len(times) - 3))
        t0, t1 = times[k], times[k + 1]
        h = t1 - t0
        m0 = (points[k + 1] - points[k - 1]) / (times[k + 1] - times[k - 1])
        m1 = (points[k + 2] - points[k]) / (times[k + 2] - times[k])
        s = (t - t0) / h
        s2, s3 = s * s, s * s * s
        return (
            (2 * s3 - 3 * s2 + 1) * points[k]
            + (s3 - 2 * s2 + s) * h * m0
            + (-2 * s3 + 3 * s2) * points[k + 1]
            + (s3 - s2) * h * m1
        )


def _mirror(value: float, low: float, high: float) -> float:
    """Reflect ``value`` into [low, high], as a ball bouncing off walls."""
    span = high - low
    folded = (value - low) % (2 * span)
    return low + (folded if folded <= span else 2 * span - folded)


@dataclass(frozen=True)
class _Roam:
    """Where keypoints may lie, and how far apart consecutive ones are."""

    box: tuple[float, float, float, float]  # x0, x1, y0, y1
    step: float
    period: float

    def walk(self, rng: np.random.Generator, start: np.ndarray, count: int, heading: float | None = None) -> list[np.ndarray]:
        points, here = [], start
        for i in range(count):
            angle = heading + rng.uniform(-1.0, 1.0) if (heading is not None and i == 0) else rng.uniform(0, 2 * math.pi)
            x = _mirror(here[0] + self.step * math.cos(angle), *self.box[:2])
            y = _mirror(here[1] + self.step * math.sin(angle), *self.box[2:])
            here = np.array([x, y])
            points.append(here)
        return points


# --- the scene ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SceneObject:
    id: int  # the dataset object id written into masks
    shape: str  # one of SHAPES; also the category in YouTube-VOS metadata
    radius: float  # pixels at scale 1
    colour: np.ndarray  # sprite colour float32 [S, S, 3]
    mask: np.ndarray  # sprite shape bool [S, S]
    track: Track
    scale: Oscillation  # log-scale over time
    angle: float
    spin: float  # radians per frame
    start: int  # first frame it is drawn (an entering object is still out of view there)
    first: int  # first frame it is visible and annotated
    away: tuple[int, int] = (0, 0)  # frames [a, b) where it has left the scene (LVOS-like)

    def area(self, t: int) -> float:
        """Pixels the whole object covers at frame ``t``, seen or not."""
        radius = self.pose(t)[2]
        return float(self.mask.mean()) * (2 * radius) ** 2

    def pose(self, t: int) -> tuple[float, float, float, float]:
        """Centre x, centre y, radius in pixels and rotation at frame ``t``."""
        x, y = self.track(t)
        return float(x), float(y), self.radius * math.exp(self.scale(t)), self.angle + self.spin * t


@dataclass(frozen=True, eq=False)
class Scene:
    height: int
    width: int
    frames: int
    objects: tuple[SceneObject, ...]
    depth: tuple[int, ...]  # indices into ``objects``, back to front
    margin: int  # background pixels beyond each side of the frame, room to pan
    pan: tuple[Oscillation, Oscillation]  # x, y in [-margin, margin]
    light: Oscillation  # relative change of brightness
    background_seed: np.random.SeedSequence

    @cached_property
    def background(self) -> np.ndarray:
        """float32 [H + 2 margin + 1, W + 2 margin + 1, 3], built on first use."""
        m = self.margin
        return _background(np.random.default_rng(self.background_seed), self.height + 2 * m + 1, self.width + 2 * m + 1)

    def render(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``t``: RGB uint8 [H, W, 3] and object ids uint8 [H, W] of what is visible."""
        gain = np.float32(1.0 + self.light(t))
        image = self._camera(t, gain)
        labels = self._composite(t, image, gain)
        np.add(image, 0.5, out=image)  # round to nearest
        return np.clip(image, 0, 255, out=image).astype(np.uint8), labels

    def labels(self, t: int) -> np.ndarray:
        """Object ids uint8 [H, W] of frame ``t``, without drawing its colours."""
        return self._composite(t)

    def _composite(self, t: int, image: np.ndarray | None = None, gain: np.float32 = np.float32(1)) -> np.ndarray:
        """Object ids of frame ``t``, drawn back to front; paints the objects into ``image`` when given."""
        labels = np.zeros((self.height, self.width), dtype=np.uint8)
        for k in self.depth:
            hit = self._footprint(t, k)
            if hit is None:
                continue
            rows, cols, inside, texel = hit
            obj = self.objects[k]
            labels[rows, cols][inside] = obj.id
            if image is not None:
                image[rows, cols][inside] = obj.colour.reshape(-1, 3)[texel[inside]] * gain
        return labels

    def object_mask(self, t: int, k: int) -> np.ndarray:
        """bool [H, W]: where object ``k`` lies at frame ``t``, hidden parts included."""
        mask = np.zeros((self.height, self.width), dtype=bool)
        hit = self._footprint(t, k)
        if hit is not None:
            rows, cols, inside, _ = hit
            mask[rows, cols] = inside
        return mask

    def _camera(self, t: int, gain: np.float32) -> np.ndarray:
        """The background seen at frame ``t``, times ``gain``: float32 [H, W, 3]."""
        # sub-pixel pan: bilinear blend of four integer-shifted crops
        x = self.margin + self.pan[0](t)
        y = self.margin + self.pan[1](t)
        ix, iy = math.floor(x), math.floor(y)
        fx, fy = x - ix, y - iy
        h, w, bg = self.height, self.width, self.background
        image = bg[iy : iy + h, ix : ix + w] * np.float32((1 - fx) * (1 - fy) * gain)
        image += bg[iy : iy + h, ix + 1 : ix + 1 + w] * np.float32(fx * (1 - fy) * gain)
        image += bg[iy + 1 : iy + 1 + h, ix : ix + w] * np.float32((1 - fx) * fy * gain)
        image += bg[iy + 1 : iy + 1 + h, ix + 1 : ix + 1 + w] * np.float32(fx * fy * gain)
        return image

    def _footprint(self, t: int, k: int) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
        """The frame window around object ``k``, which of its pixels the object covers,
        and the sprite texel each pixel shows (nearest sampling)."""
        obj = self.objects[k]
        if t < obj.start or obj.away[0] <= t < obj.away[1]:
            return None
        cx, cy, radius, angle = obj.pose(t)
        reach = _reach(radius, obj.mask.shape[0])
        y0, y1 = max(0, math.floor(cy - reach)), min(self.height, math.ceil(cy + reach) + 1)
        x0, x1 = max(0, math.floor(cx - reach)), min(self.width, math.ceil(cx + reach) + 1)
        if y0 >= y1 or x0 >= x1:
            return None
        dy = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy)[:, None]
        dx = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx)[None, :]
        c, s = np.float32(math.cos(angle) / radius), np.float32(math.sin(angle) / radius)
        size = obj.mask.shape[0]
        half = np.float32(size / 2)
        col = np.floor((dx * c + dy * s + 1) * half).astype(np.int64)
        row = np.floor((dy * c - dx * s + 1) * half).astype(np.int64)
        valid = (col >= 0) & (col < size) & (row >= 0) & (row < size)
        texel = np.where(valid, row * size + col, 0)
        inside = valid & obj.mask.reshape(-1)[texel]
        return slice(y0, y1), slice(x0, x1), inside, texel


def _reach(radius: float, sprite_size: int) -> float:
    """Pixels from an object's centre beyond which none of it is drawn: nearest-texel
    sampling can show up to half a texel past the shape's disk."""
    return radius * (1 + 1.5 / sprite_size) + 1


def plan_scene(
    seed: np.random.SeedSequence,
    height: int,
    width: int,
    frames: int,
    ids: Sequence[int],
    firsts: Sequence[int],
    approach: int,
    aways: Sequence[tuple[int, int]] | None = None,
) -> Scene:
    """Draw a scene whose object ``k`` has dataset id ``ids[k]`` and is first visible at
    frame ``firsts[k]``, and has left the scene over the frames ``aways[k]`` (a, b: from
    a to b - 1; none by default).

    An object with ``firsts[k] > 0`` enters across a frame edge: it is wholly out of view
    at frame ``firsts[k] - approach`` (and not drawn before) and visible at ``firsts[k]``.
    Every object is clearly visible at its first frame (``all_clearly_visible``); motion is redrawn until that holds.
    """
    background_seed, sprite_seed, motion_seed = seed.spawn(3)
    rng = np.random.default_rng(sprite_seed)
    count = len(ids)
    side = min(height, width)
    shrink = min(1.0, math.sqrt(3 / count))  # crowded scenes get smaller objects
    looks = []
    for _ in range(count):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        radius = side * rng.uniform(0.09, 0.16) * shrink
        size = int(np.clip(math.ceil(2 * radius * math.exp(SCALE_SWING)), 8, 1024))
        looks.append((shape, radius, *_sprite(rng, shape, size)))

    rng = np.random.default_rng(motion_seed)
    margin = math.ceil(0.08 * max(height, width)) + 1
    pan = (
        Oscillation.draw(rng, (0.5 * margin, 0.3 * margin), (80, 240)),
        Oscillation.draw(rng, (0.5 * margin, 0.3 * margin), (80, 240)),
    )
    light = Oscillation.draw(rng, (0.05,), (60, 200))
    rank = rng.permutation(count)  # depth: higher is nearer the camera

    def scene_of(placed: dict[int, SceneObject]) -> Scene:
        keys = list(placed)
        depth = tuple(sorted(range(len(keys)), key=lambda i: rank[keys[i]]))
        return Scene(height, width, frames, tuple(placed.values()), depth, margin, pan, light, background_seed)

    # Entering objects first, then those present from frame 0, each steered through the
    # path of the one placed before it. Each object's motion is redrawn until it and
    # every object placed so far are clearly visible at their first frames; in a crowded
    # frame, after half the tries, without the meeting.
    placed: dict[int, SceneObject] = {}
    partner: SceneObject | None = None
    for k in sorted(range(count), key=lambda k: (firsts[k] == 0, k)):
        for attempt in range(MAX_PLACEMENT_TRIES):
            meets = partner if attempt < MAX_PLACEMENT_TRIES // 2 else None
            candidate = _move(rng, height, width, frames, ids[k], int(firsts[k]), approach, looks[k], meets)
            scene = scene_of({**placed, k: candidate})
            if all_clearly_visible(scene):
                break
        else:
            raise VosbenchError(
                f"cannot place {count} visible objects in a {height}x{width} frame "
                f"({MAX_PLACEMENT_TRIES} tries for object {len(placed) + 1}); use fewer --objects or a larger --size"
            )
        placed[k] = partner = candidate
    if aways is not None:
        placed = {k: dataclasses.replace(obj, away=tuple(aways[k])) for k, obj in placed.items()}
    return scene_of({k: placed[k] for k in range(count)})


def all_clearly_visible(scene: Scene) -> bool:
    """Whether every object shows enough at its first frame to be annotated there: at
    least 30% of its whole area, half of its part inside the frame, and MIN_PIXELS."""
    labels = {t: scene.labels(t) for t in {obj.first for obj in scene.objects}}
    for k, obj in enumerate(scene.objects):
        visible = int((labels[obj.first] == obj.id).sum())
        if visible < max(MIN_PIXELS, 0.3 * obj.area(obj.first), 0.5 * scene.object_mask(obj.first, k).sum()):
            return False
    return True


def _move(rng, height, width, frames, object_id, first, approach, look, partner) -> SceneObject:
    """Draw one object's motion: in through an edge when ``first > 0``, else a walk
    present from frame 0 that meets ``partner``."""
    shape, radius, colour, mask = look
    side = min(height, width)
    box = (ROAM * width, (1 - ROAM) * width, ROAM * height, (1 - ROAM) * height)
    period = float(rng.uniform(15, 35))
    roam = _Roam(box, step=float(rng.uniform(0.006, 0.015) * side * period), period=period)
    scale = Oscillation.draw(rng, (SCALE_SWING,), (40, 120))
    angle, spin = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(-0.03, 0.03))
    if first > 0:
        reach = _reach(radius * math.exp(SCALE_SWING), mask.shape[0])
        track = _entering_track(rng, roam, height, width, frames, first, approach, radius * math.exp(scale(first)), reach)
        start = first - approach
    else:
        track = _anchored_track(rng, roam, frames, partner, radius)
        start = 0
    return SceneObject(object_id, shape, radius, colour, mask, track, scale, angle, spin, start, first)


def _anchored_track(rng, roam: _Roam, frames: int, partner: SceneObject | None, radius: float) -> Track:
    """A random walk present from frame 0; when the video is long enough, it passes
    within a third of a radius of ``partner`` at a random mid-video frame."""
    # meet after the first 30% of the video, and not before the partner has been seen a while
    meet_from = frames if partner is None else max(partner.first + 8, math.ceil(0.3 * (frames - 1)))
    if meet_from <= frames - 1:
        when = int(rng.integers(meet_from, frames))
        direction = rng.uniform(0, 2 * math.pi)
        offset = rng.uniform(0, 0.3 * radius) * np.array([math.cos(direction), math.sin(direction)])
        anchor = partner.track(when) + offset
    else:
        when = 0
        anchor = np.array([rng.uniform(*roam.box[:2]), rng.uniform(*roam.box[2:])])
    # keypoints to before frame 0 and past the last frame, plus one each way for the tangents
    before = math.ceil(when / roam.period) + 1
    after = math.ceil((frames - 1 - when) / roam.period) + 2
    back = roam.walk(rng, anchor, before)[::-1]
    ahead = roam.walk(rng, anchor, after)
    times = [when + roam.period * i for i in range(-before, after + 1)]
    return Track(np.array(times, dtype=np.float64), np.array([*back, anchor, *ahead], dtype=np.float64))


def _entering_track(rng, roam: _Roam, height, width, frames, first, approach, radius_then, reach) -> Track:
    """Out of view ``approach`` frames before ``first``, in through an edge so that its
    centre is 10-60% of its radius inside at ``first``, then a random walk."""
    edge = int(rng.integers(4))  # left, right, top, bottom
    depth = rng.uniform(0.1, 0.6) * radius_then
    along = rng.uniform(0.25, 0.75)
    if edge < 2:
        y = along * height
        inside = np.array([depth if edge == 0 else width - depth, y])
        outside = np.array([-reach if edge == 0 else width + reach, y])
    else:
        x = along * width
        inside = np.array([x, depth if edge == 2 else height - depth])
        outside = np.array([x, -reach if edge == 2 else height + reach])
    heading = math.atan2(inside[1] - outside[1], inside[0] - outside[0])
    after = math.ceil((frames - 1 - first) / roam.period) + 1
    ahead = roam.walk(rng, inside, after, heading=heading)
    times = [first - 2 * approach, first - approach, first] + [first + roam.period * (i + 1) for i in range(after)]
    points = [2 * outside - inside, outside, inside, *ahead]
    return Track(np.array(times, dtype=np.float64), np.array(points, dtype=np.float64))
