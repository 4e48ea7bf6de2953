"""The NUTS kernel of the compiled programs (scalinglaws.engine.sampler) on targets whose
moments are known: each estimate is compared with its Monte Carlo standard error.
``nuts_chain`` (a chain's trees in loops, vectorised over chains) runs every target;
``nuts_chains`` (many chains advanced one leapfrog step at a time) runs the wall, and
gives ``nuts_chain``'s draws, dense mass matrix and all, where both do the same
arithmetic (``tests/test_engine.py`` compares its fits with the looped ones)."""


import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalinglaws.engine.sampler import (
    Draw,
    _empty_records,
    _written,
    adaptation_windows,
    block_mask,
    checkpoint_rows,
    hessian,
    laplace_start,
    masked_matvec,
    nuts_chain,
    nuts_chains,
    warmup_schedule,
)
from scalinglaws.model import enable_x64

enable_x64()
CHAINS = 4


DRIVERS = ("nuts_chain", "nuts_chains")


def run(potential, x0, *, mask, warmup=400, draws=1000, inv_mass=None, seed=0,
        max_tree_depth=10, driver="nuts_chain"):
    value_and_grad = jax.value_and_grad(potential)
    settings = dict(warmup=warmup, draws=draws, target_accept=0.85,
                    max_tree_depth=max_tree_depth, mask=mask)
    keys = jax.random.split(jax.random.PRNGKey(seed), CHAINS)
    starts = jnp.asarray(x0) + 0.5 * jax.random.normal(jax.random.PRNGKey(seed + 1),
                                                       (CHAINS, len(x0)))
    if driver == "nuts_chains":
        masses = None if inv_mass is None else jnp.broadcast_to(inv_mass,
                                                                (CHAINS, *inv_mass.shape))
        out = jax.jit(lambda k, x: nuts_chains(value_and_grad, k, x, inv_mass=masses,
                                               **settings))(keys, starts)
    else:
        out = jax.jit(jax.vmap(lambda k, x: nuts_chain(value_and_grad, k, x,
                                                       inv_mass=inv_mass, **settings))
                      )(keys, starts)
    return jax.tree_util.tree_map(np.asarray, out)


def within_mcse(draws: np.ndarray, truth: np.ndarray, k: float = 4.5) -> np.ndarray:
    """|mean - truth| in Monte Carlo standard errors, per coordinate (chains, draws, d)."""
    data = az.convert_to_dataset({"x": draws})
    mcse = az.mcse(data)["x"].values
    z = np.abs(draws.mean(axis=(0, 1)) - truth) / mcse
    assert np.all(z < k), (z, draws.mean(axis=(0, 1)), truth)
    return z


def test_correlated_gaussian_moments_with_a_dense_mass_matrix():
    corr = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.3], [0.0, 0.3, 1.0]])
    sd = np.array([0.01, 0.02, 3.0])
    cov = corr * np.outer(sd, sd)
    precision = jnp.asarray(np.linalg.inv(cov))
    mean = np.array([1.0, -2.0, 5.0])

    def potential(x):
        d = x - mean
        return 0.5 * d @ precision @ d

    out = run(potential, np.zeros(3), mask=block_mask(3, None))
    assert not out.diverging.any()
    within_mcse(out.z, mean)
    # Second moments: E[(x - mean)^2] = the variances, within their own MCSE.
    within_mcse((out.z - mean) ** 2, np.diag(cov))
    # The adapted step gives roughly the target acceptance and short trajectories.
    assert 0.7 < out.accept_prob.mean() < 0.97
    assert out.num_steps.mean() < 8


def test_scales_four_orders_apart_with_a_diagonal_mass_matrix():
    # (Far smaller scales meet Stan's shrinkage of the variances towards 1e-3.)
    scales = np.array([0.05, 1.0, 500.0])

    def potential(x):
        return 0.5 * jnp.sum((x / scales) ** 2)

    out = run(potential, np.zeros(3), mask=None, warmup=500)
    within_mcse(out.z / scales, np.zeros(3))
    within_mcse((out.z / scales) ** 2, np.ones(3))
    # Once the diagonal mass matrix is adapted, the scales cost nothing.
    assert out.num_steps.mean() < 8


def test_skewed_target_log_gamma():
    # x = log g with g ~ Gamma(2, 1): density e^(2x - e^x); E[e^x] = 2, E[e^2x] = 6.
    def potential(x):
        return -(2.0 * x[0] - jnp.exp(x[0]))

    out = run(potential, np.zeros(1), mask=block_mask(1, None))
    within_mcse(np.exp(out.z), np.array([2.0]))
    within_mcse(np.exp(2 * out.z), np.array([6.0]))


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_wall_is_a_divergence_and_never_crossed(driver):
    # A standard normal cut at 1.5, the potential NaN beyond it: the mean of the
    # truncated normal is -phi(1.5) / Phi(1.5).
    def potential(x):
        return jnp.where(x[0] < 1.5, 0.5 * x[0] ** 2, jnp.nan)

    out = run(potential, np.array([-0.5]), mask=None, draws=2000, driver=driver)
    assert out.diverging.any()
    assert np.all(out.z < 1.5)
    truth = -np.exp(-1.5 ** 2 / 2) / np.sqrt(2 * np.pi) / 0.9331927987311419
    within_mcse(out.z, np.array([truth]), k=5.0)


def test_tree_depth_is_capped():
    def potential(x):
        return 0.5 * jnp.sum(x ** 2)

    out = run(potential, np.zeros(2), mask=None, max_tree_depth=2, warmup=50, draws=50)
    assert out.num_steps.max() <= 2 ** 2 - 1 + 1


def test_block_mask_keeps_blocks_and_the_diagonal():
    mask = block_mask(4, [np.array([0, 1]), np.array([3])])
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]


@pytest.mark.parametrize("blocks", [[np.array([0, 1])], [np.array([2, 9, 5]), np.array([0, 7])],
                                    [np.arange(10)], None, []])
def test_masked_products_are_the_dense_products(blocks):
    """The leapfrog step's products with a block-diagonal inverse mass matrix and with
    its factor (zero outside the blocks, as the adaptation makes them) cost the blocks,
    and equal the dense products."""
    from scalinglaws.engine.sampler import _Adaptation

    rng = np.random.default_rng(3)
    mask = block_mask(10, blocks)
    a = rng.normal(size=(10, 10))
    inv_mass = jnp.asarray((a @ a.T / 10 + np.eye(10)) * mask)
    factor = _Adaptation(10, jnp.float64, mask, 100, 0.8).mass_factors(inv_mass)
    assert float(jnp.abs(factor * (1 - mask)).max()) == 0.0
    r = jnp.asarray(rng.normal(size=10))
    for m in (inv_mass, factor):
        np.testing.assert_allclose(masked_matvec(mask)(m, r), m @ r, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(masked_matvec(None)(jnp.diagonal(inv_mass), r),
                               jnp.diagonal(inv_mass) * r)


def test_block_mass_matrix_samples_a_correlated_block_beside_free_scales():
    """A correlated pair in a dense block, eight coordinates of scales four orders apart
    on the diagonal: moments within Monte Carlo error."""
    cov = np.diag(np.r_[1.0, 1.0, np.logspace(-2, 2, 8)] ** 2)
    cov[:2, :2] = [[1.0, 0.95], [0.95, 1.0]]
    precision = jnp.asarray(np.linalg.inv(cov))
    mean = np.linspace(-1.0, 1.0, 10)

    def potential(x):
        d = x - mean
        return 0.5 * d @ precision @ d

    out = run(potential, np.zeros(10), mask=block_mask(10, [np.array([0, 1])]))
    assert not out.diverging.any()
    within_mcse(out.z, mean)
    within_mcse((out.z - mean) ** 2, np.diag(cov))


@pytest.mark.parametrize("warmup", [0, 10, 100, 149, 150, 1000])
def test_adaptation_windows_cover_warmup(warmup):
    windows = adaptation_windows(warmup)
    if warmup == 0:
        return
    assert windows[0, 0] == 0 and windows[-1, 1] == warmup - 1
    assert np.all(windows[1:, 0] == windows[:-1, 1] + 1)


@pytest.mark.parametrize("driver", DRIVERS)
def test_warmup_and_target_as_arguments_sample_as_constants(driver):
    """One program for every warm-up length and target: the sampler given them as traced
    arguments (with the padded schedule) runs the same adaptation and draws as with them
    written into the program (equal up to rounding: XLA fuses a loop of unknown length
    differently); ``draws`` alone fixes the shapes."""
    precision = jnp.asarray(np.linalg.inv(np.array([[1.0, 0.9], [0.9, 2.0]])))
    value_and_grad = jax.value_and_grad(lambda x: 0.5 * x @ precision @ x)
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    starts = jnp.array([[0.3, -0.2], [-0.1, 0.4]])
    def looped(value_and_grad, keys, starts, **settings):
        return jax.vmap(lambda k, x: nuts_chain(value_and_grad, k, x, **settings))(keys,
                                                                                    starts)

    sampler = nuts_chains if driver == "nuts_chains" else looped
    shape = dict(draws=120, max_tree_depth=10, mask=block_mask(2, None))
    schedule = warmup_schedule(150)
    assert schedule.shape == (32, 2) and (schedule[6:] == -1).all()

    def constants(k, x):
        return sampler(value_and_grad, k, x, warmup=150, target_accept=0.85, **shape)

    def arguments(k, x, warmup, target, schedule):
        return sampler(value_and_grad, k, x, warmup=warmup, target_accept=target,
                       schedule=schedule, **shape)

    fixed = jax.jit(constants)(keys, starts)
    given = jax.jit(arguments)
    traced = given(keys, starts, np.int64(150), np.float64(0.85), schedule)
    np.testing.assert_allclose(traced.z, fixed.z, rtol=0, atol=1e-10)
    np.testing.assert_allclose(traced.step_size, fixed.step_size, rtol=1e-10)
    # the same program, another warm-up and target: other steps, compiled once
    other = given(keys, starts, np.int64(60), np.float64(0.95), warmup_schedule(60))
    assert given._cache_size() == 1
    assert (other.step_size[:, 0] < fixed.step_size[:, 0]).all()


def test_laplace_start_draws_from_the_laplace_approximation_or_falls_back():
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    precision = jnp.asarray(np.linalg.inv(cov))
    grad = jax.grad(lambda x: 0.5 * x @ precision @ x)
    hess = hessian(grad, jnp.zeros(2))
    np.testing.assert_allclose(hess, precision, rtol=1e-6)
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    starts, inv_mass = jax.vmap(
        lambda k: laplace_start(hess, jnp.zeros(2), k, block_mask(2, None)))(keys)
    np.testing.assert_allclose(inv_mass[0], cov, rtol=1e-8)
    # The starts' covariance is the Laplace covariance (4,000 draws: a few % error).
    np.testing.assert_allclose(np.cov(np.asarray(starts).T), cov, atol=0.15)
    # Not positive definite: the mode plus small jitter, and the identity.
    start, inv_mass = laplace_start(-hess, jnp.ones(2), jax.random.PRNGKey(1), None,
                                    jitter=0.1)
    assert np.all(np.abs(np.asarray(start) - 1.0) < 0.6)
    np.testing.assert_array_equal(inv_mass, np.ones(2))


def test_chains_advanced_step_by_step_are_the_chains_of_nuts_chain():
    # Chains of scales 0.1 to 10 (so of different trajectory lengths, and out of step
    # with each other) on a Gaussian with a dense mass matrix: with a warm-up too short
    # for a slow window, the two drivers do the same arithmetic and give the same draws.
    scales = jnp.geomspace(0.1, 10.0, 6)

    def value_and_grad(x, scale):
        return jax.value_and_grad(lambda x: 0.5 * jnp.sum((x / scale) ** 2)
                                  + 0.1 * jnp.sum(x ** 4))(x)

    keys = jax.random.split(jax.random.PRNGKey(3), scales.size)
    starts = jax.random.normal(jax.random.PRNGKey(4), (scales.size, 3))
    settings = dict(warmup=15, draws=120, target_accept=0.8, max_tree_depth=8,
                    mask=block_mask(3, None))
    nested = jax.jit(jax.vmap(lambda k, x, s: nuts_chain(
        lambda z: value_and_grad(z, s), k, x, **settings)))(keys, starts, scales)
    stepped = jax.jit(lambda k, x, s: nuts_chains(value_and_grad, k, x, args=(s,),
                                                  **settings))(keys, starts, scales)
    # the chains really ran out of step: in most iterations their trajectories differ in
    # length (a property of the random stream)
    steps = np.asarray(stepped.num_steps)
    assert np.mean(np.ptp(steps, axis=0) > 0) > 0.5
    for field in nested._fields:
        np.testing.assert_allclose(np.asarray(getattr(stepped, field), dtype=float),
                                   np.asarray(getattr(nested, field), dtype=float),
                                   rtol=1e-9, atol=1e-12, err_msg=field)


def test_a_chain_evaluates_its_potential_at_one_place():
    # The start's potential and gradient come from iteration -1, a leapfrog step of size
    # 0, so the model's gradient is traced (and compiled) once per chain program, and the
    # draws are those of a start evaluated on its own (nuts_chains evaluates it so).
    traced = []

    def value_and_grad(x):
        traced.append(1)
        return jax.value_and_grad(lambda x: 0.5 * jnp.sum((x - 1.0) ** 2 / 4.0))(x)

    settings = dict(warmup=10, draws=30, target_accept=0.8, max_tree_depth=5, mask=None)
    keys, starts = jax.random.split(jax.random.PRNGKey(1), 2), jnp.full((2, 2), 3.0)
    looped = jax.jit(jax.vmap(lambda k, x: nuts_chain(value_and_grad, k, x, **settings)))
    looped.lower(keys, starts)
    assert len(traced) == 1
    alone = jax.jit(lambda k, x: nuts_chains(value_and_grad, k, x, **settings))
    for field in ("z", "potential_energy", "num_steps"):
        np.testing.assert_allclose(np.asarray(getattr(looped(keys, starts), field), float),
                                   np.asarray(getattr(alone(keys, starts), field), float),
                                   rtol=1e-9, atol=1e-12, err_msg=field)


def test_a_leaf_reads_only_checkpoints_its_own_sub_tree_wrote():
    # what lets a sub-tree start from the last one's checkpoint arrays (nuts_chains)
    leaves = jnp.arange(2 ** 10, dtype=jnp.int32)
    low, high = (np.asarray(a) for a in checkpoint_rows(leaves))
    for i in range(leaves.size):
        written = set(high[:i + 1:2].tolist())  # rows the even leaves up to i wrote
        assert set(range(low[i], high[i] + 1)) <= written, i
    assert (high >= low).sum() == leaves.size // 2  # every odd leaf checks, no even one


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_sampler_draws_its_random_numbers_without_jax_random(driver):
    # jax.random's functions compile to a loop each on a CPU; the sampler writes the
    # cipher out (engine.sampler.threefry2x32), so no random primitive is left in its
    # program, the chains' start included.
    value_and_grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))
    settings = dict(warmup=10, draws=10, target_accept=0.8, max_tree_depth=5,
                    mask=block_mask(3, None))

    def chains(keys, x0):
        starts, masses = jax.vmap(lambda k, x: laplace_start(
            jnp.eye(3), x, k, settings["mask"]))(keys, x0)
        if driver == "nuts_chains":
            return nuts_chains(value_and_grad, keys, starts, inv_mass=masses, **settings)
        return jax.vmap(lambda k, x, m: nuts_chain(value_and_grad, k, x, inv_mass=m,
                                                   **settings))(keys, starts, masses)

    jaxpr = str(jax.make_jaxpr(chains)(jax.random.split(jax.random.PRNGKey(0), 2),
                                       jnp.zeros((2, 3))))
    assert "threefry2x32" not in jaxpr and "random_bits" not in jaxpr


# --- WhitenedNUTS: NUTS on a NumPyro model in the Laplace approximation's coordinates ---


def _narrow_and_wide(y=None, shift=0.0):
    """A correlated Gaussian posterior with standard deviations 1e-4 and 1 (an observed
    site and a factor beside it): a test loss's link level beside a loose floor."""
    import numpyro
    import numpyro.distributions as dist

    wide = numpyro.sample("wide", dist.Normal(shift, 1.0))
    narrow = numpyro.sample("narrow", dist.Normal(0.0, 10.0))
    numpyro.sample("y", dist.Normal(narrow + 1e-4 * 0.8 * wide, 1e-4 * 0.6), obs=y)
    numpyro.factor("penalty", 0.0 * wide)


def test_whitened_nuts_samples_scales_four_orders_apart_in_few_steps():
    """Stan's regularisation adds ~1e-3 x identity to the estimated covariance, which
    swamps a 1e-4 scale in the model's own coordinates; whitened, the posterior is at unit
    scale: its moments are recovered within MCSE and no draw nears the depth cap."""
    from scalinglaws.engine.mcmc import WhitenedNUTS

    start = {"wide": jnp.zeros(()), "narrow": jnp.zeros(())}
    nuts = WhitenedNUTS(_narrow_and_wide, start, chains=CHAINS, warmup=200, draws=500,
                        target_accept=0.8, dense_mass=True, max_tree_depth=10)
    idata = nuts(start, jax.random.PRNGKey(0), y=jnp.asarray(0.5), shift=jnp.asarray(2.0))
    post = idata.posterior
    draws = np.stack([post["wide"].values, post["narrow"].values], axis=-1)
    # wide ~ N(2, 1) a priori; y pins narrow + 8e-5 wide = 0.5 up to 6e-5, so
    # narrow = 0.5 - 8e-5 wide + N(0, 6e-5^2) and wide keeps its prior.
    within_mcse(draws[..., :1], np.array([2.0]))
    within_mcse((draws[..., :1] - 2.0) ** 2, np.array([1.0]))
    within_mcse(draws[..., 1:], np.array([0.5 - 8e-5 * 2.0]))
    within_mcse((draws[..., 1:] - 0.5 + 8e-5 * draws[..., :1]) ** 2, np.array([3.6e-9]))
    assert idata.sample_stats["n_steps"].values.mean() < 8
    assert not idata.sample_stats["diverging"].values.any()
    # the observed site's pointwise log likelihood and value; the factor is neither
    assert list(idata.log_likelihood.data_vars) == ["y"]
    assert idata.observed_data["y"].values.ravel().tolist() == [0.5]
    assert idata.log_likelihood["y"].shape == (CHAINS, 500)


def test_whitened_nuts_compiles_once_for_data_of_one_shape():
    """A cut fit calls the sampler once per compute-law draw: the second call, on other
    data of the same shapes, traces nothing."""
    from scalinglaws.engine.mcmc import WhitenedNUTS

    traces = []

    def model(y=None, shift=0.0):
        traces.append(1)
        _narrow_and_wide(y, shift)

    start = {"wide": jnp.zeros(()), "narrow": jnp.zeros(())}
    nuts = WhitenedNUTS(model, start, chains=2, warmup=50, draws=50, target_accept=0.8,
                        dense_mass=False, max_tree_depth=6)
    first = nuts(start, jax.random.PRNGKey(0), y=jnp.asarray(0.5), shift=jnp.asarray(2.0))
    before = len(traces)
    second = nuts(start, jax.random.PRNGKey(1), y=jnp.asarray(0.5), shift=jnp.asarray(-2.0))
    assert len(traces) == before
    assert first.posterior["wide"].values.mean() > 1.0
    assert second.posterior["wide"].values.mean() < -1.0


def test_whitened_chains_split_across_cpu_devices(run_on_cpu_devices):
    """The loss-to-loss sampler runs one chain per CPU device where the chains divide
    evenly (a chain per core on a 2-core machine, as the core fits do), as does its mode
    search with its starts, and both find the right posterior there: a normal mean with a
    known posterior."""
    script = """
        import json, jax, jax.numpy as jnp, numpy as np, numpyro, numpyro.distributions as dist
        import scalinglaws
        from scalinglaws.engine.mcmc import ModeSearch, WhitenedNUTS, split_mesh

        def model(y=None):
            mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
            numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

        y = jnp.asarray(np.random.default_rng(0).normal(3.0, 1.0, 25))
        nuts = WhitenedNUTS(model, {"mu": jnp.zeros(())}, chains=2, warmup=300, draws=1500,
                            target_accept=0.8, dense_mass=True, max_tree_depth=8)
        idata = nuts({"mu": jnp.zeros(())}, jax.random.PRNGKey(0), y=y)
        mu = idata.posterior["mu"].values
        mode, energies = ModeSearch(model, {"y": y}, n_starts=4)(jax.random.PRNGKey(1), y=y)
        hlo = nuts._programs["whitened"].lower(jax.random.PRNGKey(0), jnp.zeros(1),
                                               jnp.eye(1), {"y": y}).as_text()
        meshes = [None if m is None else int(m.devices.size)
                  for m in map(split_mesh, (1, 2, 3, 4))]
        print(json.dumps({
            "devices": jax.device_count(), "mesh": meshes,
            "sharded": "sdy.manual_computation" in hlo or "shard_map" in hlo,
            "mode": float(mode["mu"]), "starts": len(energies), "mu": mu.tolist(),
            "post": [float(y.sum() / (25 + 0.01)), float((25 + 0.01) ** -0.5)]}))
    """
    result = run_on_cpu_devices(script, 2)
    assert result["devices"] == 2
    assert result["mesh"] == [None, 2, None, 2]
    assert result["sharded"]
    # the optimiser's four starts split across the devices too
    assert result["starts"] == 4
    assert abs(result["mode"] - result["post"][0]) < 1e-5
    mu = np.asarray(result["mu"])
    assert not np.array_equal(mu[0], mu[1])  # two chains, not one twice
    within_mcse(mu[..., None], np.array([result["post"][0]]))
    within_mcse((mu[..., None] - result["post"][0]) ** 2, np.array([result["post"][1] ** 2]))


def test_records_refuse_a_row_of_another_dtype_or_shape():
    """The draws' buffers are written in place, one row per iteration; a record of another
    dtype or shape than the buffers' rows is an error when traced, not a silent cast (so
    the zeroed buffers cannot drift from what an iteration records)."""
    records = _empty_records(3, jnp.float64, draws=4)
    row = Draw(z=jnp.ones(3), diverging=jnp.asarray(True), num_steps=jnp.asarray(7, jnp.int32),
               energy=jnp.asarray(1.0), potential_energy=jnp.asarray(2.0),
               accept_prob=jnp.asarray(0.5), step_size=jnp.asarray(0.1))
    written = jax.jit(_written)(records, 2, True, row)
    assert written.num_steps.tolist() == [0, 0, 7, 0] and written.diverging[2]
    assert written.z[2].tolist() == [1.0, 1.0, 1.0]
    for wrong in (row._replace(num_steps=jnp.asarray(7.0)),
                  row._replace(diverging=jnp.asarray(1, jnp.int32)),
                  row._replace(z=jnp.ones(4))):
        with pytest.raises(TypeError, match="buffer's rows"):
            jax.jit(_written)(records, 2, True, wrong)
