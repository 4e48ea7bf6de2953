"""The array R-hat and ESS against ArviZ's, quantity by quantity."""

import arviz as az
import jax.numpy as jnp
import numpy as np
import pytest

from scalinglaws.engine.convergence import _compiled, _rows, convergence


def _ar1(rng, phi, chains=4, draws=1001, shift=None):
    x = np.zeros((chains, draws))
    noise = rng.normal(size=(chains, draws))
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x + (0 if shift is None else np.asarray(shift)[:, None])


def _cases():
    rng = np.random.default_rng(3)
    cases = [_ar1(rng, phi) for phi in (0.0, 0.5, 0.9, 0.995, -0.4)]
    cases.append(_ar1(rng, 0.3, shift=[0, 0, 0, 2]))  # one chain elsewhere: bad R-hat
    ties = rng.normal(size=(4, 1000))
    ties[:, :999:3] = ties[:, 1::3]  # repeated draws, as NUTS makes when it stays put
    cases.append(ties)
    cases.append(np.round(rng.normal(size=(4, 50)), 1))  # many ties, few draws
    cases.append(np.exp(3 * rng.normal(size=(2, 7))))  # odd draws, heavy tail
    cases.append(rng.normal(size=(1, 200)))  # one chain: no R-hat
    return cases


def _arviz(x):
    rhat = float(az.rhat(x)) if x.shape[0] > 1 else np.nan
    return np.array([rhat, float(az.ess(x, method="bulk")), float(az.ess(x, method="tail"))])


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_matches_arviz_quantity_by_quantity(backend):
    for x in _cases():
        rows = (_rows(np, x[None]) if backend == "numpy"  # jax: the compiled form fits use
                else np.asarray(_compiled()(jnp.asarray(x[None]))))
        np.testing.assert_allclose(rows[0], _arviz(x), rtol=1e-9, err_msg=str(x.shape))


def test_batched_equals_one_at_a_time_and_groups_combine():
    rng = np.random.default_rng(4)
    values = rng.normal(size=(2, 3, 6, 40)).cumsum(axis=-1)  # (..., chains, draws)
    out = convergence(values)
    for i in range(2):
        for k in range(3):
            one = _rows(np, values[i, k][None])[0]
            assert out["r_hat"][i, k] == pytest.approx(one[0], rel=1e-12)
            assert out["ess_tail"][i, k] == pytest.approx(one[2], rel=1e-12)
    grouped = convergence(values, chains_per_group=3)
    first, second = (_rows(np, values[..., s, :].reshape(-1, 3, 40)) for s in
                     (slice(0, 3), slice(3, 6)))
    np.testing.assert_allclose(grouped["r_hat"].ravel(), np.maximum(first[:, 0], second[:, 0]))
    np.testing.assert_allclose(grouped["ess_bulk"].ravel(), first[:, 1] + second[:, 1])


def test_undefined_cases_are_nan_not_numbers():
    x = np.random.default_rng(5).normal(size=(4, 100))
    x[2, 7] = np.nan
    assert np.isnan(_rows(np, x[None])).all()
    assert np.isnan(convergence(np.ones((4, 3)))["ess_bulk"])  # fewer than four draws
    constant = convergence(np.ones((4, 100)))
    assert np.isnan(constant["r_hat"]) and constant["ess_bulk"] == 400
    with pytest.raises(ValueError, match="groups of 3"):
        convergence(np.ones((4, 100)), chains_per_group=3)


def test_the_compiled_path_equals_the_numpy_path(monkeypatch):
    """What a GPU runs (one jitted program) is what a CPU runs (NumPy blocks)."""
    from scalinglaws.engine import convergence as module

    values = np.random.default_rng(6).normal(size=(70, 4, 60)).cumsum(axis=-1)
    on_cpu = convergence(values)
    monkeypatch.setattr(module.jax, "default_backend", lambda: "gpu")
    compiled = convergence(values)
    for stat in ("ess_bulk", "ess_tail", "r_hat"):
        np.testing.assert_allclose(compiled[stat], on_cpu[stat], rtol=1e-9)
