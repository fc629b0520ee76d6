"""SWEM's memory: a few key/value bases per object and group, fitted by weighted EM.

Sequential Weighted EM (Lin et al., CVPR 2022; release ``lmm077/SWEM``). For every
object and each group g in (background, foreground) the memory holds ``num_bases``
bases: key bases kappa [Ck, B] (running means of raw keys, never normalised in
storage), value bases nu [Cv, B] and masses zeta [B] (the responsibility accumulated
so far). A memorised frame refines them with ``em_iters`` EM iterations:

- E-step: z_k(p) = softmax_k(x_p . kappa^_k / tau) * W_g(p), with the raw key x_p and
  unit-length bases (the near-hard assignment of the release);
- M-step: zeta = zeta0 + sum_p z, kappa = (zeta0 kappa0 + sum_p z x) / zeta, always
  from the state before the frame, so sums accumulate across frames;
- W-step (``adaptive``, not after the last iteration): W_g = w_g (1 - pi_g), with pi_g
  the share of a pixel's cosine affinity taken by its own group's bases, so pixels the
  bases explain badly weigh more;
- value bases once after the loop: nu = (zeta0 nu0 + sum_p z v) / zeta.

As in the release there are two banks: the *first* bank (result of the first written
frame, then frozen) and the *update* bank (each later frame starts from it, or from the
first bank while it does not exist, and replaces it). Reading matches unit queries
against the unit keys of both banks with one max-subtracted softmax over both groups
and all bases, and adds SWEM's permutation-invariant top-L feature.

Initial key bases are Gaussian N(0, 2/B), then unit columns, drawn from a private CPU
generator re-seeded with ``seed`` at every ``reset``: the draw for the objects of the
first written frame equals, bit for bit, the release's CPU draw after
``torch.manual_seed(seed)``, whatever device the memory lives on. Objects added later
(``add_objects``) get fresh bases from the same generator when they are first written;
that frame's result becomes their first bank and the update bank of every object, as
the release's YouTube-VOS path does.

Everything here runs in float32 with autocast off: the E-step at tau = 0.05 on raw keys
is near-hard and amplifies round-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from methods.memory.base import MemoryPolicy, Readout, argmax_masks
from vosbench.errors import VosbenchError

EPS = 1e-6  # added to norms before dividing, and the mass of a fresh base
GROUPS = ("background", "foreground")


def unit(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``x / (||x|| + 1e-6)`` along ``dim`` (the release's normalisation)."""
    return x / (torch.linalg.norm(x, dim=dim, keepdim=True) + EPS)


@dataclass(frozen=True)
class Bases:
    """Bases of O objects in G groups: keys [O, G, Ck, B], values [O, G, Cv, B], masses [O, G, B]."""

    keys: torch.Tensor  # kappa: running weighted means of raw keys
    values: torch.Tensor  # nu
    masses: torch.Tensor  # zeta

    @property
    def num_objects(self) -> int:
        return self.keys.shape[0]

    def objects(self, start: int, stop: int | None = None) -> Bases:
        return Bases(self.keys[start:stop], self.values[start:stop], self.masses[start:stop])

    def cat(self, other: Bases) -> Bases:
        """These objects followed by ``other``'s."""
        return Bases(*(torch.cat(pair) for pair in zip(self.tensors(), other.tensors())))

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (self.keys, self.values, self.masses)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors())


def draw_keys(generator: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """Fresh key bases [..., Ck, B]: one N(0, 2/B) draw, then unit columns."""
    keys = torch.zeros(shape, dtype=torch.float32).normal_(0.0, math.sqrt(2.0 / shape[-1]), generator=generator)
    return unit(keys, dim=-2)


def fresh_bases(keys: torch.Tensor, value_dim: int) -> Bases:
    """Bases starting at unit ``keys`` [O, G, Ck, B] with zero values and mass 1e-6."""
    o, g, _, b = keys.shape
    return Bases(
        keys,
        torch.zeros(o, g, value_dim, b, dtype=keys.dtype, device=keys.device),
        torch.full((o, g, b), EPS, dtype=keys.dtype, device=keys.device),
    )


def key_grid_masks(prob: torch.Tensor, soft: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """SWEM's hard and soft object masks on the key grid, each [K, h16 * w16].

    prob: [K+1, H, W] probabilities at the output size (background first); the hard
    mask is the one-hot of their argmax (first index on ties), nearest-resized.
    soft: [K+1, h, w] the probabilities the value encoder saw (at the network input
    size), bilinearly resized (align_corners=False, no antialias). At the first frame
    both are the given one-hot mask at the output size.
    """
    labels = prob.argmax(dim=0)
    objects = torch.arange(1, prob.shape[0], device=prob.device).view(-1, 1, 1)
    hard = (labels.unsqueeze(0) == objects).float()
    hard = F.interpolate(hard.unsqueeze(0), size=grid, mode="nearest")[0]
    soft = F.interpolate(soft[1:].unsqueeze(0).float(), size=grid, mode="bilinear", align_corners=False)[0]
    return hard.flatten(1), soft.flatten(1)


def memorisation_weights(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """Per-object group weights [K, 2, N] from hard and soft masks [K, N].

    Foreground needs both masks (hard * soft); background is (1 - hard)(1 - soft), so
    the other objects count as background for each object.
    """
    return torch.stack(((1 - hard) * (1 - soft), hard * soft), dim=1)


def _e_step(x_t: torch.Tensor, keys: torch.Tensor, weights: torch.Tensor, tau: float) -> torch.Tensor:
    # Raw frame keys against unit bases: the release's near-hard responsibilities.
    logits = torch.matmul(x_t, unit(keys, dim=-2))  # O, G, N, B
    logits = logits - logits.amax(dim=-1, keepdim=True)
    return F.softmax(logits / tau, dim=-1) * weights


def _w_step(x_t: torch.Tensor, keys: torch.Tensor, masks: torch.Tensor, tau: float) -> torch.Tensor:
    # True cosines against the bases of every group; one max over groups and bases.
    cos = torch.matmul(unit(x_t, dim=-1), unit(keys, dim=-2))  # O, G, N, B
    top = cos.amax(dim=-1, keepdim=True).amax(dim=1, keepdim=True)
    mass = torch.exp((cos - top) / tau).sum(dim=-1, keepdim=True)  # O, G, N, 1
    own = mass / mass.sum(dim=1, keepdim=True)
    return masks * (1 - own)


def weighted_em(
    keys: torch.Tensor,
    weights: torch.Tensor,
    start: Bases,
    values: torch.Tensor | None = None,
    iters: int = 4,
    tau: float = 0.05,
    adaptive: bool = True,
) -> tuple[Bases, torch.Tensor]:
    """Refine ``start`` with one frame; returns the new bases and the final responsibilities.

    keys: raw frame keys [O, Ck, N] (or [1, Ck, N] shared by the objects); weights:
    [O, G, N] per-group pixel weights; start: bases [O, G, ., B] before the frame;
    values: [O, Cv, N] (or [1, Cv, N]), or None to leave the value bases as they are.
    Responsibilities are [O, G, N, B]; each pixel's sum over B is its last weight.
    """
    if iters < 1:
        raise VosbenchError(f"em_iters must be at least 1 (got {iters})")
    x = keys.unsqueeze(1)  # O, 1, Ck, N
    x_t = x.transpose(-2, -1)
    masks = weights.unsqueeze(-1)  # O, G, N, 1
    prior_mass = start.masses.unsqueeze(-2)  # O, G, 1, B
    prior_sum = prior_mass * start.keys
    current, w = start.keys, masks
    for r in range(iters):
        z = _e_step(x_t, current, w, tau)
        mass = prior_mass + z.sum(dim=-2, keepdim=True)
        current = (prior_sum + torch.matmul(x, z)) / mass
        if adaptive and r < iters - 1:
            w = _w_step(x_t, current, masks, tau)
    new_values = start.values
    if values is not None:
        new_values = (prior_mass * start.values + torch.matmul(values.unsqueeze(1), z)) / mass
    return Bases(current, new_values, mass.squeeze(-2)), z


def match(
    query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, tau: float = 0.05, top_l: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """SWEM's read: readout [O, Cv, N] and permutation-invariant feature [O, 2 top_l, N].

    query: raw keys [O or 1, Ck, N]; keys: bank keys [O, 2, Ck, L] (both banks
    concatenated along L); values: [O, 2, Cv, L]. One max-subtracted softmax over both
    groups and all L bases weights the value bases. The feature sorts each group's
    exponentials, accumulates the top ``top_l`` and gives f_i = C_bg(i) / (C_bg(i) +
    C_fg(i)) as [f_1..f_l, 1 - f_1..1 - f_l].
    """
    q = unit(query, dim=-2).unsqueeze(1)  # O, 1, Ck, N
    affinity = torch.matmul(unit(keys, dim=-2).transpose(-2, -1), q)  # O, 2, L, N
    top = affinity.amax(dim=1, keepdim=True).amax(dim=2, keepdim=True)
    energy = torch.exp((affinity - top) / tau)
    share = energy / energy.sum(dim=(1, 2), keepdim=True)
    readout = torch.matmul(values.transpose(1, 2).flatten(2), share.flatten(1, 2))  # O, Cv, N
    best = torch.topk(energy, k=min(top_l, energy.shape[2]), dim=2).values.cumsum(dim=2)
    ratio = best[:, 0] / (best[:, 0] + best[:, 1])  # O, l, N
    return readout, torch.cat((ratio, 1 - ratio), dim=1)


def entry_feature(
    query: torch.Tensor, keys: torch.Tensor, foreground: torch.Tensor, tau: float = 0.05, top_l: int = 64, block: int = 512
) -> torch.Tensor:
    """SWEM's permutation-invariant feature [K, 2 top_l, N] over any memory's entries.

    query: raw keys [Ck, N]; keys: stored keys [Ck, M]; foreground: [K, M], how much
    each entry belongs to each object. An entry's exponential counts to an object's
    foreground group with that share and to its background group with the rest, so
    0/1 entries fall into one group as SWEM's bases do. Where a group has fewer than
    ``top_l`` entries the sums stop growing, as they would with zeros. Computed
    ``block`` query positions at a time (the exponentials are [M, block]).
    """
    memory = unit(keys.float(), dim=0).T  # M, Ck
    foreground = foreground.float()
    l = min(top_l, memory.shape[0])
    parts = []
    for start in range(0, query.shape[1], block):
        q = unit(query[:, start : start + block].float(), dim=0)
        affinity = memory @ q  # M, n
        energy = torch.exp((affinity - affinity.amax(dim=0, keepdim=True)) / tau)
        groups = torch.stack((1 - foreground, foreground), dim=1).unsqueeze(-1) * energy  # K, 2, M, n
        best = torch.topk(groups, k=l, dim=2).values.cumsum(dim=2)
        if l < top_l:  # fewer entries than top_l: the sums stay where they are
            best = torch.cat((best, best[:, :, -1:].expand(-1, -1, top_l - l, -1)), dim=2)
        parts.append(best[:, 0] / (best[:, 0] + best[:, 1]))
    ratio = torch.cat(parts, dim=-1)
    return torch.cat((ratio, 1 - ratio), dim=1)


def compress(
    features: torch.Tensor,
    num_bases: int,
    weights: torch.Tensor | None = None,
    values: torch.Tensor | None = None,
    iters: int = 4,
    tau: float = 0.05,
    adaptive: bool = False,
    seed: int = 0,
    initial_keys: torch.Tensor | None = None,
) -> Bases:
    """Compress one frame's features [N, C] to ``num_bases`` bases per group by weighted EM.

    weights: [G, N] pixel weights per group (None: one group, every pixel weight 1);
    values: optional [N, Cv] features summarised with the same responsibilities.
    Adaptive weights compare the groups with each other, so they need G >= 2. The
    initial keys [G, C, B] are drawn from ``seed`` unless given. Returns Bases with
    one object: keys [1, G, C, B], values [1, G, Cv, B], masses [1, G, B]; the masses
    of a group add up to its weight total plus 1e-6 per base.
    """
    if features.dim() != 2:
        raise ValueError(f"features must be [N, C], got shape {tuple(features.shape)}")
    if num_bases < 1:
        raise VosbenchError(f"num_bases must be at least 1 (got {num_bases})")
    if tau <= 0:
        raise VosbenchError(f"tau must be positive (got {tau})")
    n, c = features.shape
    features = features.float()
    weights = features.new_ones(1, n) if weights is None else weights.float().to(features.device)
    if weights.dim() != 2 or weights.shape[1] != n:
        raise ValueError(f"weights must be [G, {n}], got shape {tuple(weights.shape)}")
    if adaptive and weights.shape[0] < 2:
        raise VosbenchError("adaptive weights compare groups: give weights for at least two groups")
    g = weights.shape[0]
    if initial_keys is None:
        initial_keys = draw_keys(torch.Generator().manual_seed(seed), (1, g, c, num_bases))
    if initial_keys.numel() != g * c * num_bases:
        raise ValueError(f"initial_keys must be [{g}, {c}, {num_bases}], got shape {tuple(initial_keys.shape)}")
    initial_keys = initial_keys.float().to(features.device).reshape(1, g, c, num_bases)
    value_dim = 0 if values is None else values.shape[1]
    start = fresh_bases(initial_keys, value_dim)
    v = None if values is None else values.float().to(features.device).T.unsqueeze(0)
    bases, _ = weighted_em(features.T.unsqueeze(0), weights.unsqueeze(0), start, v, iters, tau, adaptive)
    return bases


class EMBases(MemoryPolicy):
    """SWEM's two-bank memory of EM bases, for any network that gives keys and values.

    ``write`` needs hard and soft object masks on the key grid (``key_grid_masks``
    builds SWEM's); ``read`` returns the value readout and, in ``extras["pi_feature"]``,
    the top-L feature. Objects not written yet read as zeros.
    """

    def __init__(
        self,
        num_bases: int = 128,
        em_iters: int = 4,
        tau: float = 0.05,
        top_l: int = 64,
        adaptive: bool = True,
        seed: int = 0,
    ):
        if num_bases < 1 or em_iters < 1 or top_l < 1:
            raise VosbenchError(
                f"num_bases, em_iters and top_l must be at least 1 (got {num_bases}, {em_iters}, {top_l})"
            )
        if tau <= 0:
            raise VosbenchError(f"tau must be positive (got {tau})")
        self.num_bases = num_bases
        self.em_iters = em_iters
        self.tau = tau
        self.top_l = min(top_l, num_bases)  # the release clamps L to the bases per bank
        self.adaptive = adaptive
        self.seed = seed
        self._generator = torch.Generator()
        self.reset(0)

    # -- state ---------------------------------------------------------------------
    def reset(self, num_objects: int, initial_keys: torch.Tensor | None = None) -> None:
        """Empty the memory; ``initial_keys`` [M, 2, Ck, B] replaces the draw for objects 0..M-1."""
        self.num_objects = num_objects
        self.first: Bases | None = None
        self.update: Bases | None = None
        self._injected = initial_keys
        self._drawn: list[torch.Tensor] = []
        self._generator.manual_seed(self.seed)

    def add_objects(self, num_new: int) -> None:
        """Objects ``num_objects..`` get fresh bases at the first frame written with them."""
        self.num_objects += num_new

    @property
    def written_objects(self) -> int:
        """Objects that have bases (the first ones; later objects wait for a write)."""
        return 0 if self.first is None else self.first.num_objects

    @property
    def initial_keys(self) -> torch.Tensor | None:
        """The unit key bases every written object started from [O, 2, Ck, B]."""
        return torch.cat(self._drawn) if self._drawn else None

    def bases_per_group(self) -> int:
        """Bases of each group that a read matches against: B after one write, 2B afterwards."""
        return self.num_bases * sum(bank is not None for bank in (self.first, self.update))

    def stored_features(self) -> list[int]:
        per_object = 2 * self.bases_per_group()
        return [per_object if i < self.written_objects else 0 for i in range(self.num_objects)]

    def nbytes(self) -> int:
        return sum(bank.nbytes() for bank in (self.first, self.update) if bank is not None)

    def wants(self, index: int, is_last: bool) -> bool:
        return not is_last

    # -- write ---------------------------------------------------------------------
    def write(
        self,
        index: int,
        keys: torch.Tensor,
        values: torch.Tensor,
        masks: torch.Tensor,
        hard_masks: torch.Tensor | None = None,
        shrinkage: torch.Tensor | None = None,
        selection: torch.Tensor | None = None,
    ) -> None:
        """Fit frame ``index`` into the bases: keys [K, Ck, N] raw, values [K, Cv, N],
        masks [K, N] soft, hard_masks [K, N] 0/1 (default: argmax of background and masks)."""
        k = self.num_objects
        if keys.dim() == 2:
            keys = keys.unsqueeze(0)
        n = keys.shape[-1]
        if values.shape[0] != k or values.shape[-1] != n or masks.shape != (k, n) or keys.shape[0] not in (1, k):
            raise ValueError(
                f"write expects keys [{k}, Ck, N], values [{k}, Cv, N] and masks [{k}, N] with one N; got "
                f"{tuple(keys.shape)}, {tuple(values.shape)}, {tuple(masks.shape)}"
            )
        if hard_masks is None:
            hard_masks = argmax_masks(masks)
        with torch.autocast(keys.device.type, enabled=False):
            keys, values, soft, hard = (t.float() for t in (keys, values, masks, hard_masks))
            start = self.update if self.update is not None else self.first
            old = 0 if start is None else start.num_objects
            if k > old:
                fresh = fresh_bases(self._fresh_keys(old, k, keys.shape[1]).to(keys.device), values.shape[1])
                start = fresh if start is None else start.cat(fresh)
            weights = memorisation_weights(hard, soft)
            result, _ = weighted_em(keys, weights, start, values, self.em_iters, self.tau, self.adaptive)
        if self.first is None:
            self.first = result
            return
        if k > self.first.num_objects:
            # The first bank stays frozen; objects new in this frame join it with this result.
            self.first = self.first.cat(result.objects(self.first.num_objects))
        self.update = result

    def _fresh_keys(self, start: int, stop: int, key_dim: int) -> torch.Tensor:
        shape = (self.num_bases,)
        count = stop - start
        injected = self._injected
        taken = 0 if injected is None else max(0, min(stop, injected.shape[0]) - start)
        parts = []
        if taken:
            block = injected[start : start + taken].float().cpu()
            if block.shape[1:] != (2, key_dim, self.num_bases):
                raise VosbenchError(
                    f"initial key bases have shape {tuple(injected.shape)}; expected [objects, 2, {key_dim}, "
                    f"{self.num_bases}] for num_bases={self.num_bases}"
                )
            parts.append(block)
        if count - taken:
            parts.append(draw_keys(self._generator, (count - taken, 2, key_dim) + shape))
        drawn = torch.cat(parts)
        self._drawn.append(drawn)
        return drawn

    # -- read ----------------------------------------------------------------------
    def read(self, query: torch.Tensor, selection: torch.Tensor | None = None) -> Readout:
        """Readout [K, Cv, N] and ``extras["pi_feature"]`` [K, 2 top_l, N] for raw query keys."""
        if self.first is None:
            raise RuntimeError("EMBases.read before any write: memorise the first frame first")
        if query.dim() == 2:
            query = query.unsqueeze(0)
        banks = [bank for bank in (self.first, self.update) if bank is not None]
        written = self.written_objects
        with torch.autocast(query.device.type, enabled=False):
            if query.shape[0] != 1:
                query = query[:written]
            keys = torch.cat([bank.keys for bank in banks], dim=-1)
            values = torch.cat([bank.values for bank in banks], dim=-1)
            readout, feature = match(query.float(), keys, values, self.tau, self.top_l)
        missing = self.num_objects - written
        if missing:
            readout = torch.cat((readout, readout.new_zeros(missing, *readout.shape[1:])))
            feature = torch.cat((feature, feature.new_zeros(missing, *feature.shape[1:])))
        return Readout(values=readout, extras={"pi_feature": feature})
