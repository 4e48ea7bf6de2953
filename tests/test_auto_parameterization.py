"""``parameterization="auto"``: each fit samples each pooled parameter centred where the
data tell its groups apart at the posterior mode (``engine.nuts.level_separation``),
non-centred elsewhere, and records what it chose in ``fit.spec``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.engine.program import Program
from scalinglaws.errors import ScalingLawError, ScalingLawWarning
from scalinglaws.losstoloss import LossToLossModel

#: conftest's hierarchical_fit: its programs are compiled once for both files
SETTINGS = dict(chains=4, warmup=500, draws=1000, progress=False)


def _auto(model):
    return sl.ScalingModel(**{**model.spec.to_dict(), "parameterization": "auto"})


@pytest.fixture(scope="module")
def shuffled(sweep):
    """The demo's rows with their datasets shuffled: groups the data cannot tell apart."""
    return sweep.assign(dataset=np.random.default_rng(0).permutation(sweep["dataset"]))


@pytest.fixture
def searches(monkeypatch):
    """The search spec of every mode search run (``Program.find_modes``), in order."""
    seen = []
    find_modes = Program.find_modes

    def spied(self, *args):
        seen.append(self.search_spec)
        return find_modes(self, *args)

    monkeypatch.setattr(Program, "find_modes", spied)
    return seen


def test_auto_samples_clearly_different_groups_centred(hierarchical_fit, sweep, searches):
    model = _auto(hierarchical_fit)
    fit = model.fit(sweep, seed=1, **SETTINGS)
    assert model.parameterization == "auto"  # the model is unchanged
    assert fit.spec.parameterization == "centred"  # E, A, B: 70, 25, 33 at the mode
    # one mode search: the centred program searches the non-centred model auto searched
    assert searches == [dataclasses.replace(model, parameterization="noncentred")]
    # the same program as the explicit choice, so the same draws
    for name in ("alpha", "E_offset_dataset", "A_ref"):
        np.testing.assert_array_equal(fit.idata.posterior[name].values,
                                      hierarchical_fit.idata.posterior[name].values)


def test_auto_keeps_groups_the_data_cannot_tell_apart_non_centred(hierarchical_fit, sweep,
                                                                   shuffled, searches):
    model = _auto(hierarchical_fit)
    with pytest.warns(ScalingLawWarning):  # three indistinct groups: a hard posterior
        fits = model.fit_many({"shuffled": shuffled, "clear": sweep}, seed=[2, 1],
                              **SETTINGS)
    assert fits["clear"].spec.parameterization == "centred"
    assert fits["shuffled"].spec.parameterization == "noncentred"
    assert len(searches) == 1  # both batches reuse auto's search (the same padding)
    # a batch split by choice gives each frame what fitting it alone gives: the second
    # frame, alone in its batch, with its own seed and search
    np.testing.assert_array_equal(fits["clear"].idata.posterior["alpha"].values,
                                  hierarchical_fit.idata.posterior["alpha"].values)


def test_auto_is_a_choice_for_the_whole_model():
    with pytest.raises(ScalingLawError, match="did you mean 'auto'"):
        sl.ScalingModel("chinchilla", vary={"E": "dataset"}, parameterization="atuo")
    assert LossToLossModel("chinchilla", vary={"kappa": "dataset_y"},
                           parameterization="auto").parameterization == "auto"
    with pytest.raises(ScalingLawError, match="parameterization maps"):
        LossToLossModel("chinchilla", vary={"kappa": "dataset_y"},
                        parameterization={"kappa": "auto"})
    with pytest.raises(ScalingLawError, match="parameterization maps"):
        sl.ScalingModel("chinchilla", vary={"E": "dataset"}, parameterization={"E": "auto"})
    with pytest.raises(ScalingLawError, match="'auto' chooses per pooled parameter, but "
                                              "coordinates='level'"):
        sl.ScalingModel("chinchilla", vary={"E": "family", "A": "family", "B": "family"},
                        coordinates="level", parameterization="auto")


def test_a_search_serves_only_a_program_that_would_find_the_same_optima():
    """``Search.serves``: the same searched model, padding, seeds and search settings;
    anything else searches again (a batch of other padding, another seed)."""
    from types import SimpleNamespace

    from scalinglaws.engine.nuts import Search
    from scalinglaws.engine.program import Settings
    from scalinglaws.model import Structure

    spec = sl.ScalingModel("chinchilla", vary={"E": "dataset"})
    structure = Structure(vary=(("E", ("dataset",)),), levels=(("dataset", 3),), rows=96)
    settings = Settings(chains=4, draws=1000, max_tree_depth=10, dense_mass=True,
                        n_starts=32)
    search = Search(spec, structure, settings, (0, 1), (np.zeros(8), np.ones(8)))

    def prog(**changes):
        return SimpleNamespace(**{"search_spec": spec, "structure": structure,
                                  "settings": settings, **changes})

    assert search.serves(prog(), [0, 1])
    # other sampler settings do not change the search
    assert search.serves(prog(settings=Settings(2, 300, 8, False, 32)), [0, 1])
    assert not search.serves(prog(), [0, 2])
    assert not search.serves(prog(search_spec=dataclasses.replace(spec, vary={})), [0, 1])
    assert not search.serves(prog(structure=dataclasses.replace(structure, rows=128)),
                             [0, 1])
    assert not search.serves(prog(settings=Settings(4, 1000, 10, True, 16)), [0, 1])
    one = search.take([1])
    assert one.seeds == (1,) and one.optima[0] is search.optima[1]
    assert one.serves(prog(), [1])


def test_auto_chooses_per_factor_where_a_parameters_factors_disagree(sweep, tmp_path):
    """E by three clearly different datasets and by a seed column the losses do not
    depend on: the separation is measured per factor (``"E[dataset]"``, ``"E[seed]"``,
    and ``"E"`` the smaller); "auto" samples E's dataset offsets centred and its seed
    offsets non-centred, as the explicit choice does; the fit saves and reads back with
    that choice; and the advice names E by seed alone as the factor to share."""
    import json

    from scalinglaws.engine.diagnostics import (
        BARELY_SEPARATED,
        SEPARATION_ATTR,
        WELL_SEPARATED,
        divergence_advice,
    )

    frame = sweep.assign(seed=np.arange(len(sweep)) % 3)
    short = dict(chains=2, warmup=150, draws=100, progress=False)
    mixed = {"E[dataset]": "centred", "E[seed]": "noncentred"}
    fits = []
    for parameterization in ("auto", mixed):
        model = sl.ScalingModel("chinchilla", vary={"E": ["dataset", "seed"]},
                                parameterization=parameterization)
        with pytest.warns(ScalingLawWarning):  # a short run of a weakly identified scale
            fits.append(model.fit(frame, seed=0, **short))
    auto, explicit = fits
    assert auto.spec.parameterization == mixed
    assert sl.model.pooled_offsets(auto.spec, auto.design) == mixed
    np.testing.assert_array_equal(auto.idata.posterior["E_offset_dataset"].values,
                                  explicit.idata.posterior["E_offset_dataset"].values)
    auto.save(tmp_path / "fit.nc")
    assert sl.load(tmp_path / "fit.nc").spec.parameterization == mixed

    separation = json.loads(auto.idata.sample_stats.attrs[SEPARATION_ATTR])
    assert set(separation) == {"E", "E[dataset]", "E[seed]"}
    assert separation["E[dataset]"] >= WELL_SEPARATED
    assert separation["E"] == separation["E[seed]"] < BARELY_SEPARATED
    # a fit that sampled E non-centred is told to share E by seed only, and to centre
    # E's dataset offsets
    advice = divergence_advice({"E": "noncentred"}, separation)
    assert "the data barely tell the groups of ['E by seed'] apart" in advice
    assert "vary E by ['dataset'] alone" in advice
    assert "the groups of ['E[dataset]'] are well measured and clearly different" in advice
    assert "(parameterization={'E[dataset]': 'centred', 'E[seed]': 'noncentred'})" in advice


def test_dense_mass_blocks_hold_the_offsets_in_the_form_a_fit_samples():
    """A block may name a pooled parameter's offsets in either form: the mass matrix holds
    the one the program samples. Blocks written for the non-centred form once left a
    centred "auto" fit's offsets out of their block, silently: hitchhiker2024's (e)
    backtest then took 1,023 leapfrog steps per draw against 132 with the choice given."""
    from scalinglaws.engine.program import Unravel, _mass_mask

    centred = Unravel({"E": (), "E_sd_dataset": (), "E_offset_dataset": (3,), "sigma": ()})
    by_z = _mass_mask((("E", "E_sd_dataset", "E_z_dataset"),), centred, 6)
    by_offset = _mass_mask((("E", "E_sd_dataset", "E_offset_dataset"),), centred, 6)
    np.testing.assert_array_equal(by_z, by_offset)
    assert by_z[:5, :5].all() and not by_z[5, :5].any()


def test_dense_mass_naming_a_site_the_model_does_not_sample_is_an_error(sweep, compilations):
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"},
                            parameterization="auto")
    for fit in (lambda: model.fit(sweep, dense_mass=[("E", "A", "E_offset_dataset")]),
                lambda: model.fit_many([sweep, sweep], dense_mass=[("E", "A")])):
        with pytest.raises(ScalingLawError, match=r"dense_mass names \['A'\], which this "
                                                  r"model does not sample; it samples"):
            compilations(fit)
        assert compilations.count == 0
