"""One NUTS chain, written to be compiled small and run fast inside a batched program.

The algorithm is NumPyro's and Stan's: the No-U-Turn sampler with multinomial sampling of
the proposal (biased towards the new half at each doubling, uniform within a half;
Betancourt 2017), the generalised U-turn criterion checked on every sub-tree by
checkpoints (the iterative form of NumPyro's ``_iterative_build_subtree``), divergence
when the energy error exceeds 1000, and Stan's windowed warm-up: dual averaging of the
step size towards ``target_accept`` (t0 = 10, kappa = 0.75, gamma = 0.05), and the
inverse mass matrix re-estimated at the end of each slow window from a Welford
covariance, shrunk towards the identity as Stan does.

What differs from NumPyro's kernel is only how it is written: one flat vector, the
potential and its gradient evaluated at a single place (the leapfrog; the start's in an
iteration -1 of one step of size 0, so a program compiles the model's gradient once), the
checkpoint U-turn checks done as one vectorised test instead of a loop, velocities cached
with the checkpoints, and every random number Threefry of a counter under the chain's one key
(the iteration, then the number's place in it), with the cipher written out
(:func:`threefry2x32`) and each leaf's uniform drawn one step ahead. The
compiled program is a few times smaller and each leapfrog step a few times cheaper on a
CPU; the draws are those of the same Markov chain, not the same numbers as NumPyro's.

The iteration is cut into parts (:class:`_Parts`, :class:`_Adaptation`) that two drivers
share. :func:`nuts_chain` runs one chain's trees in nested loops: on a CPU, one chain after
another, it is the cheaper. :func:`nuts_chains` advances a whole batch of
chains one leapfrog step at a time, each chain starting its next iteration as soon as its
trajectory ends: vectorised over thousands of chains, an iteration then costs the average
trajectory, not the longest in the batch.

A block-diagonal mass matrix is a dense one times a 0/1 mask of the blocks
(:func:`block_mask`); ``mask=None`` is a diagonal one.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.export  # a submodule JAX before 0.8 does not import with jax
import jax.numpy as jnp
import numpy as np

from .linalg import cho_solve, cholesky, solve_triangular

#: An energy error above this ends the trajectory as a divergence (NumPyro's and Stan's).
MAX_DELTA_ENERGY = 1000.0


class Draw(NamedTuple):
    """What one iteration records."""

    z: jax.Array
    diverging: jax.Array
    num_steps: jax.Array
    energy: jax.Array
    potential_energy: jax.Array
    accept_prob: jax.Array
    step_size: jax.Array


# The sampler's programs are exported to the persistent cache (.program.exported_program).
if hasattr(jax.export, "register_namedtuple_serialization"):
    jax.export.register_namedtuple_serialization(Draw,
                                                 serialized_name="scalinglaws.sampler.Draw")


def adaptation_windows(warmup: int) -> np.ndarray:
    """Stan's warm-up schedule as ``(start, end)`` rows (NumPyro's
    ``build_adaptation_schedule``): a fast initial buffer, slow windows doubling in
    length, a fast terminal buffer. The mass matrix is estimated in the slow windows.

    >>> adaptation_windows(500).tolist()
    [[0, 74], [75, 99], [100, 149], [150, 249], [250, 449], [450, 499]]
    """
    if warmup < 20:
        return np.array([[0, max(warmup - 1, 0)]])
    init_buffer, term_buffer, base_window = 75, 50, 25
    if warmup < init_buffer + term_buffer + base_window:
        init_buffer, term_buffer = int(0.15 * warmup), int(0.1 * warmup)
        base_window = warmup - init_buffer - term_buffer
    windows = [(0, init_buffer - 1)]
    end_start, size, start = warmup - term_buffer, base_window, init_buffer
    while start < end_start:
        current, current_size = start, size
        if 3 * current_size <= end_start - current:
            size = 2 * current_size
        else:
            current_size = end_start - current
        start = current + current_size
        windows.append((current, start - 1))
    windows.append((end_start, warmup - 1))
    return np.array(windows)


#: Rows of a padded warm-up schedule (:func:`warmup_schedule`). Stan's slow windows
#: double in length, so a warm-up of 2^31 iterations, more than a chain may run, has 28.
MAX_WINDOWS = 32


def warmup_schedule(warmup: int) -> np.ndarray:
    """:func:`adaptation_windows` padded to :data:`MAX_WINDOWS` rows with ``(-1, -1)``:
    the form the samplers take it in, so that one compiled program serves every warm-up
    length.

    >>> warmup_schedule(500)[:7].tolist()
    [[0, 74], [75, 99], [100, 149], [150, 249], [250, 449], [450, 499], [-1, -1]]
    """
    windows = adaptation_windows(warmup)
    if len(windows) > MAX_WINDOWS:
        raise ValueError(f"a warm-up of {warmup} iterations has {len(windows)} adaptation "
                         f"windows, more than the {MAX_WINDOWS} a sampler takes")
    schedule = np.full((MAX_WINDOWS, 2), -1, dtype=np.int64)
    schedule[:len(windows)] = windows
    return schedule


def block_mask(dim: int, blocks: list[np.ndarray] | None) -> np.ndarray | None:
    """The 0/1 mask that makes a dense mass matrix block-diagonal: ones within each block
    of flat indices and on the diagonal. ``blocks=None``: dense (all ones).

    >>> block_mask(3, [np.array([0, 2])]).astype(int).tolist()
    [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    """
    if blocks is None:
        return np.ones((dim, dim))
    mask = np.eye(dim)
    for block in blocks:
        mask[np.ix_(block, block)] = 1.0
    return mask


def masked_matvec(mask: np.ndarray | None):
    """``m @ r`` for matrices ``m`` that are zero where ``mask`` (:func:`block_mask`'s) is
    0, at the cost of the blocks: a block-diagonal mass matrix over a few hundred
    dimensions with one small dense block costs O(dim) per leapfrog step instead of
    O(dim^2). Where the mask's non-zeros are not disjoint dense blocks (or it is all
    ones), the plain product. ``mask=None`` (a diagonal mass matrix held as a vector):
    ``m * r``.

    >>> mask = block_mask(3, [np.array([0, 2])])
    >>> m = jnp.array([[2.0, 0.0, 1.0], [0.0, 3.0, 0.0], [1.0, 0.0, 4.0]])
    >>> [float(v) for v in masked_matvec(mask)(m, jnp.array([1.0, 1.0, 1.0]))]
    [3.0, 3.0, 5.0]
    """
    if mask is None:
        return lambda m, r: m * r
    dim = mask.shape[0]
    linked = mask != 0
    seen, blocks = np.zeros(dim, bool), []
    for i in range(dim):
        if not seen[i]:
            block = np.flatnonzero(linked[i])
            seen[block] = True
            blocks.append(block)
    cover = np.zeros_like(linked)
    for block in blocks:
        cover[np.ix_(block, block)] = True
    dense = [b for b in blocks if len(b) > 1]
    if (cover != linked).any() or sum(len(b) ** 2 for b in dense) * 4 > dim * dim:
        return lambda m, r: m @ r

    def matvec(m, r):
        out = jnp.diagonal(m) * r
        for block in dense:
            out = out.at[block].set(m[np.ix_(block, block)] @ r[block])
        return out

    return matvec


def _u_turn(v_left, v_right, r_left, r_right, r_sum) -> jax.Array:
    """The generalised U-turn criterion of a trajectory from ``r_left`` to ``r_right``
    (velocities ``v_left``, ``v_right``) whose momenta sum to ``r_sum`` (NumPyro's
    ``_is_turning``); leading axes broadcast, so checkpoints are tested at once."""
    span = r_sum - 0.5 * (r_left + r_right)
    return (jnp.sum(v_left * span, axis=-1) <= 0) | (jnp.sum(v_right * span, axis=-1) <= 0)


#: Threefry-2x32's rotations (Salmon et al. 2011, as JAX's).
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(k0, k1, x0, x1) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32 with 20 rounds of the counters ``(x0, x1)`` under the key ``(k0,
    k1)`` (uint32 arrays that broadcast): the cipher behind JAX's default random numbers,
    written out in elementwise operations. JAX's CPU lowering rolls the rounds into a
    loop of five, which XLA runs as about a hundred small operations per call; written
    out they fuse into one. Every random number of the sampler's iterations is drawn with
    it (:func:`_words`): each leaf's uniform, which made the demo model's warm fits sample
    3-12% faster per leapfrog step on a 2-core CPU than with ``jax.random`` (three
    alternating runs of four fits, 4 x (500 + 3,000) each), and the momentum and each
    doubling's direction and merge, which took seven of the sampler program's twelve loops
    out of it: its compilation took 0.92 times as long, and a cold demo fit 0.94 times
    (``benchmarks/compile_modes.py``'s measure, four fresh processes each, alternating;
    ``docs/modeling.md``). The numbers are others of the same distribution.

    >>> from jax.extend.random import threefry_2x32
    >>> key, count = jnp.array([7, 42], jnp.uint32), jnp.arange(4, dtype=jnp.uint32)
    >>> ours = jnp.concatenate(threefry2x32(key[0], key[1], count[:2], count[2:]))
    >>> bool(jnp.all(ours == threefry_2x32(key, count)))
    True
    """
    k0, k1, x0, x1 = (jnp.asarray(a, jnp.uint32) for a in (k0, k1, x0, x1))
    keys = (k0, k1, k0 ^ k1 ^ np.uint32(0x1BD11BDA))
    x0, x1 = x0 + keys[0], x1 + keys[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = ((x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))) ^ x0
        x0 = x0 + keys[(i + 1) % 3]
        x1 = x1 + keys[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def _words(key, t, counters) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32 of the counters ``(t, counters)`` under a chain's ``key`` (a typed
    key or its two uint32 words): iteration ``t``'s random words, one pair per counter
    (:data:`START`: the start's)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return threefry2x32(key[0], key[1], jnp.asarray(t).astype(jnp.uint32),
                        jnp.asarray(counters).astype(jnp.uint32))


def _uniform(key, t, counters) -> jax.Array:
    """Uniform float64 in [0, 1) of iteration ``t``, one per counter: 53 bits of
    :func:`_words` (the sampler runs with 64-bit floats on)."""
    high, low = _words(key, t, counters)
    # 27 bits of one word and 26 of the other, exact in float64 (NumPy's random_double)
    return ((high >> np.uint32(5)).astype(jnp.float64) * 2.0 ** 26
            + (low >> np.uint32(6)).astype(jnp.float64)) * 2.0 ** -53


def _normal(key, t, counters) -> jax.Array:
    """Standard normal float64 of iteration ``t``, one per counter: the inverse error
    function of a uniform on (-1, 1) made of 52 bits of :func:`_words`, symmetric and
    never at either end (as ``jax.random.normal``'s)."""
    high, low = _words(key, t, counters)
    bits = ((high >> np.uint32(6)).astype(jnp.float64) * 2.0 ** 26
            + (low >> np.uint32(6)).astype(jnp.float64))
    return np.sqrt(2.0) * jax.lax.erf_inv((bits + 0.5) * 2.0 ** -51 - 1.0)


#: The iteration counter of a chain's start (:func:`start_noise`), one no iteration
#: reaches: a chain runs fewer than 2^32 - 1 iterations.
START = np.uint32(2 ** 32 - 1)


def start_noise(key, dim: int) -> jax.Array:
    """``dim`` standard normal float64 values from a chain's ``key`` for where it starts,
    independent of every number its iterations draw from the same key.

    >>> from scalinglaws._precision import enable_x64
    >>> enable_x64()  # the sampler's numbers are float64, as in every fit
    >>> noise = start_noise(jax.random.PRNGKey(0), 4000)
    >>> str(noise.dtype), abs(float(noise.mean())) < 0.1, abs(float(noise.std()) - 1) < 0.05
    ('float64', True, True)
    """
    return _normal(key, START, jnp.arange(dim))


def hessian(grad, x, step: float = 1e-4) -> jax.Array:
    """The Hessian at ``x`` by central differences of ``grad``, symmetrised; ``grad`` is
    called once, on all ``2 * dim`` points at once (one copy of it to compile).

    >>> import jax, jax.numpy as jnp
    >>> grad = jax.grad(lambda x: 2.0 * x[0] ** 2 + x[0] * x[1])
    >>> [[round(float(v), 6) for v in row] for row in hessian(grad, jnp.zeros(2))]
    [[4.0, 1.0], [1.0, 0.0]]
    """
    dim = x.shape[0]
    shifts = step * jnp.eye(dim, dtype=x.dtype)
    grads = jax.vmap(grad)(jnp.concatenate([x + shifts, x - shifts]))
    columns = (grads[:dim] - grads[dim:]) / (2 * step)
    return 0.5 * (columns + columns.T)


def laplace_start(hess, mode, key, mask: np.ndarray | None, *,
                  jitter: float = 0.1) -> tuple[jax.Array, jax.Array]:
    """Where a chain starts and the inverse mass matrix it starts with.

    Where the potential's Hessian ``hess`` at ``mode`` is positive definite, the Laplace
    approximation N(mode, hess^-1) gives both: the chain starts at a draw from it, with
    hess^-1 (cut to ``mask``'s shape; its diagonal when ``mask`` is None) as inverse mass
    matrix, so warm-up begins in the posterior's bulk at the posterior's scale.
    Elsewhere (a mode at a funnel's edge) the chain starts at ``mode`` plus
    N(0, ``jitter``^2) noise, with the identity. ``key`` is the chain's: its noise is
    :func:`start_noise`, apart from every number the chain's iterations draw.

    >>> import jax, jax.numpy as jnp
    >>> from scalinglaws._precision import enable_x64
    >>> enable_x64()
    >>> hess = jnp.array([[4.0, 0.0], [0.0, 0.25]])
    >>> _, inv_mass = laplace_start(hess, jnp.zeros(2), jax.random.PRNGKey(0), None)
    >>> [round(float(v), 6) for v in inv_mass]
    [0.25, 4.0]
    """
    dim = mode.shape[0]
    eye = jnp.eye(dim, dtype=mode.dtype)
    chol = cholesky(hess)
    cov = cho_solve(chol, eye)
    usable = jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.isfinite(cov))
    noise = start_noise(key, dim).astype(mode.dtype)
    # A draw from N(mode, hess^-1): mode + L^-T noise, with L L^T = hess.
    draw = mode + solve_triangular(chol, noise, lower=True, trans=1)
    start = jnp.where(usable, draw, mode + jitter * noise)
    if mask is None:
        inv_mass = jnp.where(usable, jnp.diagonal(cov), jnp.ones(dim, mode.dtype))
    else:
        inv_mass = jnp.where(usable, cov if mask.all() else cov * mask, eye)
    return start, inv_mass


def checkpoint_rows(i) -> tuple[jax.Array, jax.Array]:
    """The U-turn checkpoints of leaf ``i`` of a sub-tree (NumPyro's
    ``_leaf_idx_to_ckpt_idxs``): an even leaf is stored at row ``popcount(i >> 1)``, and
    an odd leaf closes the sub-sub-trees whose checkpoints lie in rows ``[idx_min,
    idx_max]`` (empty for an even leaf). Every such row was written by an earlier even
    leaf of the same sub-tree, so a sub-tree may start from any checkpoint arrays.

    >>> [int(r) for r in checkpoint_rows(jnp.int32(7))]  # leaves 0, 2, 4, 6 wrote 0, 1, 1, 2
    [0, 2]
    """
    idx_max = jax.lax.population_count(i >> 1)
    return idx_max - (jax.lax.population_count(i ^ (i + 1)) - 1) + 1, idx_max


class _Parts:
    """The pieces of one NUTS iteration for a potential ``value_and_grad`` on flat vectors
    of ``dim`` entries (NumPyro's iterative tree building, cut at every leapfrog step so
    that two drivers can share it: :func:`nuts_chain` loops over a chain's trees,
    :func:`nuts_chains` advances many chains one leapfrog step at a time).

    A *tree* holds its two ends (z, r, g), the proposal (z, u, g, energy), the log of its
    summed weights, the sum of its momenta and its statistics; a *sub-tree* is the half
    being added, 2**depth leapfrog steps in one direction, with the checkpoints of its
    U-turn checks and the keys of its random choices.
    """

    def __init__(self, value_and_grad, dim: int, dtype, mask, max_tree_depth: int):
        self.value_and_grad, self.dim, self.dtype = value_and_grad, dim, dtype
        self.max_tree_depth = max_tree_depth
        self.depth_index = jnp.arange(max_tree_depth)
        self.momentum_counters = jnp.arange(dim)
        # the inverse mass matrix and its factor are zero outside the mask's blocks
        self.matvec = masked_matvec(mask)

    def velocity(self, inv_mass, r):
        return self.matvec(inv_mass, r)

    def begin(self, key, t, z, u, g, inv_mass, mass_sqrt):
        """A new trajectory at (z, u, g) for iteration ``t`` of the chain of ``key``: a
        fresh momentum, the one-point tree and its energy."""
        noise = _normal(key, t, self.momentum_counters).astype(self.dtype)
        r0 = self.matvec(mass_sqrt, noise)
        h0 = u + 0.5 * jnp.sum(r0 * self.velocity(inv_mass, r0))
        tree = dict(z_left=z, r_left=r0, g_left=g, z_right=z, r_right=r0, g_right=g,
                    z=z, u=u, g=g, energy=h0, log_weight=jnp.zeros((), self.dtype),
                    r_sum=r0, depth=jnp.zeros((), jnp.int32), turning=jnp.asarray(False),
                    diverging=jnp.asarray(False), sum_accept=jnp.zeros((), self.dtype),
                    n=jnp.zeros((), jnp.int32))
        return tree, h0

    def begin_subtree(self, tree, key, t, z, u, g, h0, checkpoints=None):
        """The empty sub-tree that doubles ``tree`` (of a trajectory from (z, u, g) with
        energy ``h0``, iteration ``t`` of the chain of ``key``) in a random direction.

        Every random number of an iteration is Threefry of the counters ``(t, c)`` under
        the chain's key (:func:`_words`): the momentum's normals at ``c < dim``, the
        direction and the merge's uniform of the doubling to depth ``j`` at ``dim + 2j``
        and ``dim + 2j + 1``, and the uniform of its leaf ``i`` after the ``2**j - 1``
        leaves of the doublings before it.

        ``checkpoints``: the last sub-tree's ``(r_ckpt, v_ckpt, r_sum_ckpt)`` to reuse
        (default zeros). A leaf reads only checkpoints written earlier in its own
        sub-tree (:meth:`leaf`), so what they held before never matters; reused, they
        are not copied."""
        depth = tree["depth"]
        doubling = _uniform(key, t, self.dim + 2 * depth + jnp.arange(2))
        leaves = 2 ** depth
        first_leaf = self.dim + 2 * self.max_tree_depth + leaves - 1
        going_right = doubling[0] < 0.5
        end = [jnp.where(going_right, tree[f"{k}_right"], tree[f"{k}_left"])
               for k in ("z", "r", "g")]
        if checkpoints is None:
            checkpoints = (jnp.zeros((self.max_tree_depth, self.dim), self.dtype),) * 3
        r_ckpt, v_ckpt, r_sum_ckpt = checkpoints
        return dict(z_end=end[0], r_end=end[1], g_end=end[2], z=z, u=u, g=g, energy=h0,
                    log_weight=jnp.full((), -jnp.inf, self.dtype),
                    r_sum=jnp.zeros(self.dim, self.dtype), turning=jnp.asarray(False),
                    diverging=jnp.asarray(False), sum_accept=jnp.zeros((), self.dtype),
                    n=jnp.zeros((), jnp.int32), r_ckpt=r_ckpt, v_ckpt=v_ckpt,
                    r_sum_ckpt=r_sum_ckpt,
                    leaves=leaves, going_right=going_right,
                    first_leaf=first_leaf, take_uniform=doubling[1],
                    uniform=_uniform(key, t, first_leaf))

    @staticmethod
    def going(sub):
        return (sub["n"] < sub["leaves"]) & ~sub["turning"] & ~sub["diverging"]

    def growing(self, tree):
        return (tree["depth"] < self.max_tree_depth) & ~tree["turning"] & ~tree["diverging"]

    def leaf(self, sub, key, t, h0, step, inv_mass):
        """One leapfrog step at the sub-tree's end, in iteration ``t`` of the chain of
        ``key``."""
        i = sub["n"]
        step_signed = jnp.where(sub["going_right"], step, -step)
        r = sub["r_end"] - 0.5 * step_signed * sub["g_end"]
        z1 = sub["z_end"] + step_signed * self.velocity(inv_mass, r)
        u1, g1 = self.value_and_grad(z1)
        r1 = r - 0.5 * step_signed * g1
        v1 = self.velocity(inv_mass, r1)
        h1 = u1 + 0.5 * jnp.sum(r1 * v1)
        delta = h1 - h0
        delta = jnp.where(jnp.isnan(delta), jnp.inf, delta)
        log_w = -delta
        # Uniform (multinomial) sampling within the sub-tree.
        log_weight = jnp.logaddexp(sub["log_weight"], log_w)
        # this leaf's uniform was drawn with the last step (or the sub-tree), and the next
        # leaf's is drawn now: carried, the cipher is computed once per step, where XLA
        # would otherwise fuse a copy of it into every array the choice selects
        # (iteration -1 of nuts_chain only evaluates the potential at the chain's start)
        take = (t < 0) | (sub["uniform"] < jnp.exp(log_w - log_weight))
        r_sum = sub["r_sum"] + r1
        idx_min, idx_max = checkpoint_rows(i)
        even = i % 2 == 0
        r_ckpt = _put_row(sub["r_ckpt"], idx_max, r1, even)
        v_ckpt = _put_row(sub["v_ckpt"], idx_max, v1, even)
        r_sum_ckpt = _put_row(sub["r_sum_ckpt"], idx_max, r_sum, even)
        turned = _u_turn(v_ckpt, v1, r_ckpt, r1, r_sum - r_sum_ckpt + r_ckpt)
        active = (self.depth_index >= idx_min) & (self.depth_index <= idx_max)
        return dict(
            sub, z_end=z1, r_end=r1, g_end=g1,
            z=jnp.where(take, z1, sub["z"]), u=jnp.where(take, u1, sub["u"]),
            g=jnp.where(take, g1, sub["g"]),
            energy=jnp.where(take, h1, sub["energy"]), log_weight=log_weight,
            r_sum=r_sum, turning=jnp.any(active & turned),
            diverging=delta > MAX_DELTA_ENERGY,
            sum_accept=sub["sum_accept"] + jnp.minimum(jnp.exp(-delta), 1.0),
            n=i + 1, r_ckpt=r_ckpt, v_ckpt=v_ckpt, r_sum_ckpt=r_sum_ckpt,
            uniform=_uniform(key, t, sub["first_leaf"] + i + 1))

    def merge(self, tree, sub, inv_mass):
        """``tree`` doubled by the finished ``sub``, with biased progressive sampling: move
        to the new half with probability min(1, w_new / w_old), never to a half that
        turned or diverged."""
        going_right = sub["going_right"]
        accept = jnp.minimum(jnp.exp(sub["log_weight"] - tree["log_weight"]), 1.0)
        take = (sub["take_uniform"] < accept) & ~(
            sub["turning"] | sub["diverging"])
        new = dict(tree)
        for k in ("z", "r", "g"):
            new[f"{k}_right"] = jnp.where(going_right, sub[f"{k}_end"], tree[f"{k}_right"])
            new[f"{k}_left"] = jnp.where(going_right, tree[f"{k}_left"], sub[f"{k}_end"])
        for k in ("z", "u", "g", "energy"):
            new[k] = jnp.where(take, sub[k], tree[k])
        new["log_weight"] = jnp.logaddexp(tree["log_weight"], sub["log_weight"])
        new["r_sum"] = tree["r_sum"] + sub["r_sum"]
        new["turning"] = sub["turning"] | _u_turn(
            self.velocity(inv_mass, new["r_left"]), self.velocity(inv_mass, new["r_right"]),
            new["r_left"], new["r_right"], new["r_sum"])
        new["diverging"] = sub["diverging"]
        new["sum_accept"] = tree["sum_accept"] + sub["sum_accept"]
        new["n"] = tree["n"] + sub["n"]
        new["depth"] = tree["depth"] + 1
        return new


#: Stan's guess of a posterior variance, which a window's covariance estimate shrinks
#: towards (with weight 5 / (n + 5) for n draws): right for parameters of unit scale.
STAN_REGULARIZATION = 1e-3


class _Adaptation:
    """Stan's windowed warm-up of one chain: dual averaging of the step size towards
    ``target_accept`` after every iteration, and the inverse mass matrix re-estimated
    from a Welford covariance at the end of each slow window (:meth:`close_window`, kept
    apart because its Cholesky factorisation is the one costly step), shrunk towards
    ``regularization`` times the identity."""

    def __init__(self, dim: int, dtype, mask, warmup, target_accept,
                 regularization=STAN_REGULARIZATION, schedule=None):
        self.dim, self.dtype, self.mask, self.dense = dim, dtype, mask, mask is not None
        self.warmup, self.target_accept = warmup, target_accept
        self.regularization = regularization
        # ``warmup`` and ``target_accept`` may be traced (one program for every warm-up
        # length); then ``schedule``, warmup_schedule(warmup), comes with them
        self.windows = jnp.asarray(warmup_schedule(warmup) if schedule is None else schedule)
        self.n_windows = jnp.sum(self.windows[:, 0] >= 0)

    def mass_factors(self, inv_mass):
        """The momentum's scale: ``L`` with ``L L^T`` the mass matrix (its inverse's
        inverse), or the elementwise square root for a diagonal one."""
        if not self.dense:
            return 1.0 / jnp.sqrt(inv_mass)
        chol = cholesky(inv_mass)
        eye = jnp.eye(self.dim, dtype=self.dtype)
        return solve_triangular(chol, eye, lower=True).T

    def _dual_averaging_init(self, step):
        zero = jnp.zeros((), self.dtype)
        return dict(x=zero, x_avg=zero, g_avg=zero, t=zero, center=jnp.log(10.0 * step))

    @staticmethod
    def _dual_averaging(da, g):
        t = da["t"] + 1
        g_avg = (1 - 1 / (t + 10)) * da["g_avg"] + g / (t + 10)
        x = da["center"] - jnp.sqrt(t) / 0.05 * g_avg
        weight = t ** -0.75
        x_avg = (1 - weight) * da["x_avg"] + weight * x
        return dict(x=x, x_avg=x_avg, g_avg=g_avg, t=t, center=da["center"])

    def _welford_init(self):
        return (jnp.zeros(self.dim, self.dtype),
                jnp.zeros((self.dim, self.dim) if self.dense else self.dim, self.dtype),
                jnp.zeros((), self.dtype))

    @staticmethod
    def _welford(state, x):
        mean, m2, n = state
        n = n + 1
        before = x - mean
        mean = mean + before / n
        after = x - mean
        m2 = m2 + (jnp.outer(after, before) if m2.ndim == 2 else after * before)
        return mean, m2, n

    def _covariance(self, state):
        _, m2, n = state
        cov = (n / (n + 5)) * (m2 / (n - 1))
        shrink = self.regularization * (5 / (n + 5))
        if not self.dense:
            return cov + shrink
        cov = 0.5 * (cov + cov.T)
        if not self.mask.all():
            cov = cov * self.mask
        return cov + shrink * jnp.eye(self.dim, dtype=self.dtype)

    def init(self, inv_mass=None):
        """The state before warm-up, from the inverse mass matrix to start with (default
        the identity)."""
        if inv_mass is None:
            inv_mass = (jnp.eye(self.dim, dtype=self.dtype) if self.dense
                        else jnp.ones(self.dim, self.dtype))
        one = jnp.ones((), self.dtype)
        return dict(step=one, inv_mass=inv_mass, mass_sqrt=self.mass_factors(inv_mass),
                    da=self._dual_averaging_init(one), welford=self._welford_init(),
                    window=jnp.zeros((), jnp.int32))

    def update(self, adapt, t, accept_prob, z):
        """After warm-up iteration ``t``: the adapted state, and whether a slow window
        closed (then :meth:`close_window` must follow before the next iteration)."""
        da = self._dual_averaging(adapt["da"], self.target_accept - accept_prob)
        new_step = jnp.where(t == self.warmup - 1, jnp.exp(da["x_avg"]), jnp.exp(da["x"]))
        finfo = jnp.finfo(self.dtype)
        new_step = jnp.clip(new_step, finfo.tiny, finfo.max)
        window = adapt["window"]
        middle = (window > 0) & (window < self.n_windows - 1)
        stats = jax.tree_util.tree_map(lambda a, b: jnp.where(middle, a, b),
                                       self._welford(adapt["welford"], z), adapt["welford"])
        at_end = t == self.windows[window, 1]
        new = dict(adapt, step=new_step, da=da, welford=stats,
                   window=jnp.where(at_end, window + 1, window))
        return new, at_end & middle

    def close_window(self, adapt):
        """The mass matrix from the window's draws; step-size averaging starts again."""
        inv_mass = self._covariance(adapt["welford"])
        return dict(adapt, inv_mass=inv_mass, mass_sqrt=self.mass_factors(inv_mass),
                    welford=self._welford_init(), da=self._dual_averaging_init(adapt["step"]))


def nuts_chain(value_and_grad, key, x0, *, warmup, draws: int, target_accept,
               max_tree_depth: int, mask: np.ndarray | None, inv_mass=None,
               regularization=STAN_REGULARIZATION, schedule=None) -> Draw:
    """Run one chain from ``x0`` for ``warmup + draws`` iterations; the draws' records.

    ``value_and_grad(x)`` gives the potential energy (negative log density) and its
    gradient at a flat vector ``x``. ``mask`` is :func:`block_mask`'s (a dense or block
    mass matrix) or None (diagonal); ``inv_mass`` the inverse mass matrix to start from
    (a matrix, or a vector when diagonal; default the identity). Each slow window's
    covariance estimate is shrunk towards ``regularization`` times the identity (Stan's
    1e-3, for parameters of unit scale; 1 where the coordinates are whitened, so that
    a window with fewer draws than dimensions keeps the unexplored directions at unit
    scale). Only the ``draws`` iterations after warm-up are returned, each a
    :class:`Draw`. ``warmup`` and ``target_accept`` may be traced scalars, with
    ``schedule`` (:func:`warmup_schedule` of that warm-up), so that one compiled program
    serves every warm-up length and target; ``draws`` fixes the records' shape.

    Vectorised over chains (``vmap``), each iteration lasts as long as the longest
    trajectory among them; :func:`nuts_chains` runs the same chains without that wait.
    """
    dim, dtype = x0.shape[0], x0.dtype
    parts = _Parts(value_and_grad, dim, dtype, mask, max_tree_depth)
    adaptation = _Adaptation(dim, dtype, mask, warmup, target_accept, regularization,
                             schedule)

    # Iteration -1 is one leapfrog step of size 0 from x0 whose proposal is kept: the
    # potential and its gradient at the start, evaluated where every other one is (a
    # program holds the model's gradient once; the demo's sampler a quarter smaller).
    def trajectory(t, z, u, g, adapt):
        step, inv_mass = jnp.where(t < 0, 0.0, adapt["step"]), adapt["inv_mass"]
        tree, h0 = parts.begin(key, t, z, u, g, inv_mass, adapt["mass_sqrt"])

        def double(tree):
            sub = parts.begin_subtree(tree, key, t, z, u, g, h0)
            sub = jax.lax.while_loop(parts.going,
                                     lambda sub: parts.leaf(sub, key, t, h0, step, inv_mass),
                                     sub)
            merged = parts.merge(tree, sub, inv_mass)
            start = dict(z=sub["z"], u=sub["u"], g=sub["g"], turning=jnp.asarray(True))
            return dict(merged, **_where(t < 0, start, {k: merged[k] for k in start}))

        return jax.lax.while_loop(parts.growing, double, tree)

    def iteration(carry, t):
        (z, u, g), adapt = carry
        tree = trajectory(t, z, u, g, adapt)
        accept_prob = tree["sum_accept"] / tree["n"]

        def adapted(adapt):
            new, closing = adaptation.update(adapt, t, accept_prob, tree["z"])
            return jax.lax.cond(closing, adaptation.close_window, lambda a: a, new)

        adapt = jax.lax.cond((t >= 0) & (t < warmup), adapted, lambda a: a, adapt)
        return ((tree["z"], tree["u"], tree["g"]), adapt), _record(tree, accept_prob,
                                                                        adapt)

    def recorded(t, state):
        carry, records = state
        carry, record = iteration(carry, t)
        return carry, _written(records, t - warmup, t >= warmup, record)

    unknown = (jnp.zeros((), dtype), jnp.zeros(dim, dtype))  # set by iteration -1
    carry = ((x0, *unknown), adaptation.init(inv_mass))
    _, records = jax.lax.fori_loop(-1, warmup + draws, recorded,
                                   (carry, _empty_records(dim, dtype, draws)))
    return records


def nuts_chains(value_and_grad, keys, x0, *, warmup, draws: int, target_accept,
                max_tree_depth: int, mask: np.ndarray | None, inv_mass=None,
                args: tuple = (), schedule=None) -> Draw:
    """Many chains of :func:`nuts_chain`, advanced together one leapfrog step at a time.

    ``keys`` and ``x0`` (and ``inv_mass`` and every entry of ``args``, when given) have
    one row per chain; ``value_and_grad(x, *args)`` is one chain's potential and
    gradient, given its own row of ``args``. Chain ``i`` gives the draws that
    ``nuts_chain`` gives for ``keys[i]`` and ``x0[i]`` (the same arithmetic), but no chain
    waits for the others: every step moves each chain by one leapfrog step, and a chain
    whose trajectory ended starts its next iteration at once. Vectorised over thousands
    of chains, as on a GPU, a step then costs one leapfrog step of every chain, where
    :func:`nuts_chain` under ``vmap`` waits for the longest trajectory at each iteration
    (about four times the average among 4,000 chains of the demo model). Returns the
    draws' records, each with a leading chain axis. ``warmup``, ``target_accept`` and
    ``schedule`` as for :func:`nuts_chain`, shared by all chains.
    """
    dim, dtype = x0.shape[1], x0.dtype
    total = warmup + draws
    adaptation = _Adaptation(dim, dtype, mask, warmup, target_accept, schedule=schedule)

    def parts(args):
        return _Parts(lambda x: value_and_grad(x, *args), dim, dtype, mask, max_tree_depth)

    def follow(chain, *args):
        """The next sub-tree: of a new iteration where the last one ended, else of the
        same trajectory where only its sub-tree ended (else the sub-tree goes on)."""
        p = parts(args)
        adapt = chain["adapt"]
        key, t = chain["key"], chain["t"]
        tree, h0 = p.begin(key, t, chain["z"], chain["u"], chain["g"], adapt["inv_mass"],
                           adapt["mass_sqrt"])
        chain = dict(chain, **_where(chain["tree_done"], dict(tree=tree, h0=h0),
                                     {k: chain[k] for k in ("tree", "h0")}))
        old = chain["sub"]
        sub = p.begin_subtree(chain["tree"], key, t, chain["z"], chain["u"], chain["g"],
                              chain["h0"], (old["r_ckpt"], old["v_ckpt"], old["r_sum_ckpt"]))
        going_on = chain["sub_done"] & (t < total)
        return dict(chain, sub=_where(going_on, sub, chain["sub"]))

    def start(key, x, inv_mass, *args):
        u, g = value_and_grad(x, *args)
        adapt = adaptation.init(inv_mass)
        # placeholders of the trajectory's shapes (follow begins the first iteration at
        # once)
        t = jnp.zeros((), jnp.int32)
        tree, h0 = parts(args).begin(key, t, x, u, g, adapt["inv_mass"], adapt["mass_sqrt"])
        sub = parts(args).begin_subtree(tree, key, t, x, u, g, h0)
        records = _empty_records(dim, dtype, draws)
        chain = dict(t=t, key=key, z=x, u=u, g=g, adapt=adapt,
                     closing=jnp.asarray(False), sub_done=jnp.asarray(True),
                     tree_done=jnp.asarray(True), records=records, tree=tree, h0=h0,
                     sub=sub)
        return follow(chain, *args)

    def advance(chain, *args):
        """One leapfrog step; the sub-tree merged if it ended, the iteration recorded
        and the step size adapted if the trajectory ended."""
        p = parts(args)
        adapt, t = chain["adapt"], chain["t"]
        sub = p.leaf(chain["sub"], chain["key"], t, chain["h0"], adapt["step"],
                     adapt["inv_mass"])
        sub_done = ~p.going(sub)
        tree = _where(sub_done, p.merge(chain["tree"], sub, adapt["inv_mass"]), chain["tree"])
        tree_done = sub_done & ~p.growing(tree)
        accept_prob = tree["sum_accept"] / tree["n"]
        adapted, closing = adaptation.update(adapt, t, accept_prob, tree["z"])
        warm = tree_done & (t < warmup)
        adapt = _where(warm, adapted, adapt)
        write = tree_done & (t >= warmup) & (t < total)
        records = _written(chain["records"], t - warmup, write,
                           _record(tree, accept_prob, adapt))
        z, u, g = (jnp.where(tree_done, tree[k], chain[k]) for k in ("z", "u", "g"))
        # a chain that has drawn all its iterations goes on stepping, unrecorded (its
        # count stops at the total), where selecting its whole state at every step would
        # cost more than the step
        return dict(chain, records=records, sub=sub, tree=tree, adapt=adapt,
                    closing=warm & closing, sub_done=sub_done, tree_done=tree_done, z=z,
                    u=u, g=g, t=jnp.minimum(t + tree_done, total).astype(t.dtype))

    def close(adapt, closing):
        return _where(closing, adaptation.close_window(adapt), adapt), jnp.asarray(False)

    def body(chains):
        chains = jax.vmap(advance)(chains, *args)
        # only the adaptation passes through the branch: a branch's operands are copied
        adapt, closing = jax.lax.cond(jnp.any(chains["closing"]), jax.vmap(close),
                                      lambda *a: a, chains["adapt"], chains["closing"])
        return jax.vmap(follow)(dict(chains, adapt=adapt, closing=closing), *args)

    chains = jax.vmap(start)(keys, x0, inv_mass, *args)
    chains = jax.lax.while_loop(lambda c: jnp.any(c["t"] < total), body, chains)
    return chains["records"]


def sample_stats(draws: Draw) -> dict[str, np.ndarray]:
    """The draws' sampler statistics as NumPy arrays, named as ``az.from_numpyro`` names
    them (``lp`` is minus the potential energy)."""
    return {"diverging": np.asarray(draws.diverging), "n_steps": np.asarray(draws.num_steps),
            "energy": np.asarray(draws.energy), "lp": -np.asarray(draws.potential_energy),
            "acceptance_rate": np.asarray(draws.accept_prob),
            "step_size": np.asarray(draws.step_size)}


def _record(tree, accept_prob, adapt) -> Draw:
    return Draw(tree["z"], tree["diverging"], tree["n"], tree["energy"], tree["u"],
                accept_prob, adapt["step"])


def _empty_records(dim: int, dtype, draws: int) -> Draw:
    """Zeroed records of ``draws`` iterations of a chain on ``dim`` coordinates, with the
    dtypes :func:`_record` gives (``dtype``: the chain's floats)."""
    def zeros(*shape, kind=dtype):
        return jnp.zeros((draws, *shape), kind)

    return Draw(z=zeros(dim), diverging=zeros(kind=jnp.bool_), num_steps=zeros(kind=jnp.int32),
                energy=zeros(), potential_energy=zeros(), accept_prob=zeros(),
                step_size=zeros())


def _written(records: Draw, index, write, record: Draw) -> Draw:
    """``records`` with row ``index`` set to ``record`` where ``write``, in place: one row
    (selecting between whole buffers would copy them at every iteration). A record whose
    shapes or dtypes are not the buffers' rows' is a TypeError when traced (``.at[].set``
    would cast it silently: :func:`_empty_records` must follow :func:`_record`)."""
    index = jnp.clip(index, 0, records.z.shape[0] - 1)

    def write_row(name, buffer, value):
        if (buffer.shape[1:], buffer.dtype) != (jnp.shape(value), jnp.result_type(value)):
            raise TypeError(f"record {name!r} is {jnp.result_type(value)}{jnp.shape(value)}, "
                            f"its buffer's rows {buffer.dtype}{buffer.shape[1:]}")
        return _put_row(buffer, index, value, write)

    return Draw(*(write_row(name, buffer, value) for name, buffer, value in
                  zip(Draw._fields, records, record, strict=True)))


def _put_row(buffer, index, value, write):
    """``buffer`` with row ``index`` set to ``value`` where ``write`` holds: the row alone
    selected and written in place (selecting between whole buffers copies them)."""
    return buffer.at[index].set(jnp.where(write, value, buffer[index]))


def _where(condition, new, old):
    """``new`` where ``condition`` (a scalar) holds, else ``old``, leaf by leaf."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), new, old)


__all__ = ["Draw", "MAX_DELTA_ENERGY", "MAX_WINDOWS", "STAN_REGULARIZATION", "START",
           "adaptation_windows", "block_mask", "checkpoint_rows", "hessian", "laplace_start",
           "masked_matvec", "nuts_chain", "nuts_chains", "sample_stats", "start_noise",
           "threefry2x32", "warmup_schedule"]
