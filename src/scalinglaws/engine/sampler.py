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
potential and its gradient evaluated at a single place (the leapfrog), the checkpoint
U-turn checks done as one vectorised test instead of a loop, velocities cached with the
checkpoints, and random numbers derived by ``fold_in`` from one key per iteration. The
compiled program is a few times smaller and each leapfrog step a few times cheaper on a
CPU; the draws are those of the same Markov chain, not the same numbers as NumPyro's.

A block-diagonal mass matrix is a dense one times a 0/1 mask of the blocks
(:func:`block_mask`); ``mask=None`` is a diagonal one.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

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


def _u_turn(v_left, v_right, r_left, r_right, r_sum) -> jax.Array:
    """The generalised U-turn criterion of a trajectory from ``r_left`` to ``r_right``
    (velocities ``v_left``, ``v_right``) whose momenta sum to ``r_sum`` (NumPyro's
    ``_is_turning``); leading axes broadcast, so checkpoints are tested at once."""
    span = r_sum - 0.5 * (r_left + r_right)
    return (jnp.sum(v_left * span, axis=-1) <= 0) | (jnp.sum(v_right * span, axis=-1) <= 0)


def _uniform(key, i) -> jax.Array:
    return jax.random.uniform(jax.random.fold_in(key, i), dtype=jnp.float64)


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
    N(0, ``jitter``^2) noise, with the identity.

    >>> import jax, jax.numpy as jnp
    >>> hess = jnp.array([[4.0, 0.0], [0.0, 0.25]])
    >>> _, inv_mass = laplace_start(hess, jnp.zeros(2), jax.random.PRNGKey(0), None)
    >>> [round(float(v), 6) for v in inv_mass]
    [0.25, 4.0]
    """
    dim = mode.shape[0]
    eye = jnp.eye(dim, dtype=mode.dtype)
    chol = jnp.linalg.cholesky(hess)
    cov = jax.scipy.linalg.cho_solve((chol, True), eye)
    usable = jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.isfinite(cov))
    noise = jax.random.normal(key, (dim,), mode.dtype)
    # A draw from N(mode, hess^-1): mode + L^-T noise, with L L^T = hess.
    draw = mode + jax.scipy.linalg.solve_triangular(chol, noise, lower=True, trans=1)
    start = jnp.where(usable, draw, mode + jitter * noise)
    if mask is None:
        inv_mass = jnp.where(usable, jnp.diagonal(cov), jnp.ones(dim, mode.dtype))
    else:
        inv_mass = jnp.where(usable, cov if mask.all() else cov * mask, eye)
    return start, inv_mass


def nuts_chain(value_and_grad, key, x0, *, warmup: int, draws: int, target_accept,
               max_tree_depth: int, mask: np.ndarray | None, inv_mass=None) -> Draw:
    """Run one chain from ``x0`` for ``warmup + draws`` iterations; the draws' records.

    ``value_and_grad(x)`` gives the potential energy (negative log density) and its
    gradient at a flat vector ``x``. ``mask`` is :func:`block_mask`'s (a dense or block
    mass matrix) or None (diagonal); ``inv_mass`` the inverse mass matrix to start from
    (a matrix, or a vector when diagonal; default the identity). Only the ``draws``
    iterations after warm-up are returned, each a :class:`Draw`.
    """
    dim = x0.shape[0]
    dtype = x0.dtype
    dense = mask is not None
    windows = jnp.asarray(adaptation_windows(warmup))
    n_windows = windows.shape[0]
    depth_index = jnp.arange(max_tree_depth)

    def velocity(inv_mass, r):
        return inv_mass @ r if dense else inv_mass * r

    def leapfrog(z, r, g, step, inv_mass):
        r = r - 0.5 * step * g
        z = z + step * velocity(inv_mass, r)
        u, g = value_and_grad(z)
        r = r - 0.5 * step * g
        return z, r, u, g

    def transition(key, z, u, g, step, inv_mass, mass_sqrt):
        """One NUTS iteration from (z, u, g): the new state and what to record."""
        key_momentum, key_tree = jax.random.split(key)
        noise = jax.random.normal(key_momentum, (dim,), dtype)
        r0 = mass_sqrt @ noise if dense else mass_sqrt * noise
        h0 = u + 0.5 * jnp.sum(r0 * velocity(inv_mass, r0))

        # A tree: its two ends (z, r, g), the proposal (z, u, g, energy), the log of its
        # summed weights, the sum of its momenta, and its statistics.
        tree = dict(z_left=z, r_left=r0, g_left=g, z_right=z, r_right=r0, g_right=g,
                    z=z, u=u, g=g, energy=h0, log_weight=jnp.zeros((), dtype), r_sum=r0,
                    depth=0, turning=False, diverging=False,
                    sum_accept=jnp.zeros((), dtype), n=0)

        def subtree(tree, going_right, key):
            """Extend ``tree`` by 2**depth leapfrog steps in one direction."""
            step_signed = jnp.where(going_right, step, -step)
            end = [jnp.where(going_right, tree[f"{k}_right"], tree[f"{k}_left"])
                   for k in ("z", "r", "g")]
            leaves = 2 ** tree["depth"]
            ckpt = jnp.zeros((max_tree_depth, dim), dtype)
            sub = dict(z_end=end[0], r_end=end[1], g_end=end[2], z=z, u=u, g=g,
                       energy=h0, log_weight=jnp.full((), -jnp.inf, dtype),
                       r_sum=jnp.zeros(dim, dtype), turning=False, diverging=False,
                       sum_accept=jnp.zeros((), dtype), n=0, r_ckpt=ckpt, v_ckpt=ckpt,
                       r_sum_ckpt=ckpt)

            def going(sub):
                return (sub["n"] < leaves) & ~sub["turning"] & ~sub["diverging"]

            def leaf(sub):
                i = sub["n"]
                z1, r1, u1, g1 = leapfrog(sub["z_end"], sub["r_end"], sub["g_end"],
                                          step_signed, inv_mass)
                v1 = velocity(inv_mass, r1)
                h1 = u1 + 0.5 * jnp.sum(r1 * v1)
                delta = h1 - h0
                delta = jnp.where(jnp.isnan(delta), jnp.inf, delta)
                log_w = -delta
                # Uniform (multinomial) sampling within the sub-tree.
                log_weight = jnp.logaddexp(sub["log_weight"], log_w)
                take = _uniform(key, i) < jnp.exp(log_w - log_weight)
                r_sum = sub["r_sum"] + r1
                # Checkpoints (NumPyro's _leaf_idx_to_ckpt_idxs): an even leaf is stored
                # at index popcount(i >> 1); an odd leaf closes the sub-trees whose
                # checkpoints lie in [idx_max - trailing ones + 1, idx_max].
                idx_max = jax.lax.population_count(i >> 1)
                idx_min = idx_max - (jax.lax.population_count(i ^ (i + 1)) - 1) + 1
                even = i % 2 == 0
                r_ckpt = jnp.where(even, sub["r_ckpt"].at[idx_max].set(r1), sub["r_ckpt"])
                v_ckpt = jnp.where(even, sub["v_ckpt"].at[idx_max].set(v1), sub["v_ckpt"])
                r_sum_ckpt = jnp.where(even, sub["r_sum_ckpt"].at[idx_max].set(r_sum),
                                       sub["r_sum_ckpt"])
                turned = _u_turn(v_ckpt, v1, r_ckpt, r1, r_sum - r_sum_ckpt + r_ckpt)
                active = (depth_index >= idx_min) & (depth_index <= idx_max)
                return dict(
                    z_end=z1, r_end=r1, g_end=g1,
                    z=jnp.where(take, z1, sub["z"]), u=jnp.where(take, u1, sub["u"]),
                    g=jnp.where(take, g1, sub["g"]),
                    energy=jnp.where(take, h1, sub["energy"]), log_weight=log_weight,
                    r_sum=r_sum, turning=jnp.any(active & turned),
                    diverging=delta > MAX_DELTA_ENERGY,
                    sum_accept=sub["sum_accept"] + jnp.minimum(jnp.exp(-delta), 1.0),
                    n=i + 1, r_ckpt=r_ckpt, v_ckpt=v_ckpt, r_sum_ckpt=r_sum_ckpt)

            return jax.lax.while_loop(going, leaf, sub)

        def double(state):
            tree, key = state
            key, key_direction, key_sub, key_take = jax.random.split(key, 4)
            going_right = jax.random.bernoulli(key_direction)
            sub = subtree(tree, going_right, key_sub)
            # Biased progressive sampling: move to the new half with probability
            # min(1, w_new / w_old), never to a half that turned or diverged.
            accept = jnp.minimum(jnp.exp(sub["log_weight"] - tree["log_weight"]), 1.0)
            take = (jax.random.uniform(key_take, dtype=dtype) < accept) & ~(
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
                velocity(inv_mass, new["r_left"]), velocity(inv_mass, new["r_right"]),
                new["r_left"], new["r_right"], new["r_sum"])
            new["diverging"] = sub["diverging"]
            new["sum_accept"] = tree["sum_accept"] + sub["sum_accept"]
            new["n"] = tree["n"] + sub["n"]
            new["depth"] = tree["depth"] + 1
            return new, key

        def growing(state):
            tree, _ = state
            return (tree["depth"] < max_tree_depth) & ~tree["turning"] & ~tree["diverging"]

        tree, _ = jax.lax.while_loop(growing, double, (tree, key_tree))
        accept_prob = tree["sum_accept"] / tree["n"]
        return (tree["z"], tree["u"], tree["g"]), (tree["diverging"], tree["n"],
                                                   tree["energy"], accept_prob)

    def mass_factors(inv_mass):
        """The momentum's scale: ``L`` with ``L L^T`` the mass matrix (its inverse's
        inverse), or the elementwise square root for a diagonal one."""
        if not dense:
            return 1.0 / jnp.sqrt(inv_mass)
        chol = jnp.linalg.cholesky(inv_mass)
        eye = jnp.eye(dim, dtype=dtype)
        return jax.scipy.linalg.solve_triangular(chol, eye, lower=True).T

    def dual_averaging_init(step):
        return dict(x=jnp.zeros((), dtype), x_avg=jnp.zeros((), dtype),
                    g_avg=jnp.zeros((), dtype), t=jnp.zeros((), dtype),
                    center=jnp.log(10.0 * step))

    def dual_averaging(da, g):
        t = da["t"] + 1
        g_avg = (1 - 1 / (t + 10)) * da["g_avg"] + g / (t + 10)
        x = da["center"] - jnp.sqrt(t) / 0.05 * g_avg
        weight = t ** -0.75
        x_avg = (1 - weight) * da["x_avg"] + weight * x
        return dict(x=x, x_avg=x_avg, g_avg=g_avg, t=t, center=da["center"])

    def welford_init():
        return (jnp.zeros(dim, dtype), jnp.zeros((dim, dim) if dense else dim, dtype),
                jnp.zeros((), dtype))

    def welford(state, x):
        mean, m2, n = state
        n = n + 1
        before = x - mean
        mean = mean + before / n
        after = x - mean
        m2 = m2 + (jnp.outer(after, before) if dense else after * before)
        return mean, m2, n

    def covariance(state):
        _, m2, n = state
        cov = (n / (n + 5)) * (m2 / (n - 1))
        shrink = 1e-3 * (5 / (n + 5))
        if not dense:
            return cov + shrink
        cov = 0.5 * (cov + cov.T)
        if not mask.all():
            cov = cov * mask
        return cov + shrink * jnp.eye(dim, dtype=dtype)

    finfo = jnp.finfo(dtype)
    if inv_mass is None:
        inv_mass = jnp.eye(dim, dtype=dtype) if dense else jnp.ones(dim, dtype)
    u0, g0 = value_and_grad(x0)
    adapt0 = dict(step=jnp.ones((), dtype), inv_mass=inv_mass, mass_sqrt=mass_factors(inv_mass),
                  da=dual_averaging_init(jnp.ones((), dtype)), welford=welford_init(),
                  window=jnp.zeros((), jnp.int32))

    def iteration(carry, t):
        (z, u, g), adapt, key = carry
        key, key_step = jax.random.split(key)
        step = adapt["step"]
        (z, u, g), (diverging, n, energy, accept_prob) = transition(
            key_step, z, u, g, step, adapt["inv_mass"], adapt["mass_sqrt"])

        def adapted(adapt):
            da = dual_averaging(adapt["da"], target_accept - accept_prob)
            new_step = jnp.where(t == warmup - 1, jnp.exp(da["x_avg"]), jnp.exp(da["x"]))
            new_step = jnp.clip(new_step, finfo.tiny, finfo.max)
            window = adapt["window"]
            middle = (window > 0) & (window < n_windows - 1)
            stats = jax.tree_util.tree_map(
                lambda a, b: jnp.where(middle, a, b), welford(adapt["welford"], z),
                adapt["welford"])
            at_end = t == windows[window, 1]
            new = dict(step=new_step, inv_mass=adapt["inv_mass"],
                       mass_sqrt=adapt["mass_sqrt"], da=da, welford=stats,
                       window=jnp.where(at_end, window + 1, window))

            def end_of_slow_window(new):
                inv_mass = covariance(new["welford"])
                return dict(new, inv_mass=inv_mass, mass_sqrt=mass_factors(inv_mass),
                            welford=welford_init(), da=dual_averaging_init(new["step"]))

            return jax.lax.cond(at_end & middle, end_of_slow_window, lambda a: a, new)

        new_adapt = jax.lax.cond(t < warmup, adapted, lambda a: a, adapt)
        record = Draw(z, diverging, n, energy, u, accept_prob, new_adapt["step"])
        return ((z, u, g), new_adapt, key), record

    carry = ((x0, u0, g0), adapt0, key)
    _, records = jax.lax.scan(iteration, carry, jnp.arange(warmup + draws))
    return jax.tree_util.tree_map(lambda a: a[warmup:], records)


__all__ = ["Draw", "MAX_DELTA_ENERGY", "adaptation_windows", "block_mask", "hessian",
           "laplace_start", "nuts_chain"]
