"""Every registered OOD detector, smoke-tested from the registry, and checked against direct maths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visaudit.errors import UnknownNameError
from visaudit.metrics.ood import auroc
from visaudit.ood import DETECTORS
from visaudit.ood.detectors import Arrays, FitData, ash_s, make_detector, score_all

EXPECTED = {"msp", "maxlogit", "energy", "odin", "mahalanobis", "vim", "knn", "react", "ash"}


def _toy(seed=0, n=600, d=32, c=5):
    """Class clusters in a ReLU feature space with a linear head fitted to them (ID),
    plus far-away features (OOD)."""
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.normal(0, 2, (c, d)))
    y = rng.integers(0, c, n)
    feats = np.maximum(centres[y] + rng.normal(0, 0.5, (n, d)), 0)
    w = centres - centres.mean(0)
    b = rng.normal(0, 0.1, c)
    ood = np.maximum(rng.normal(0, 2, (n // 2, d)), 0)
    return feats, y, w, b, ood


@pytest.fixture(scope="module")
def toy():
    feats, y, w, b, ood = _toy()
    fit = FitData(feats[:300] @ w.T + b, feats[:300], y[:300], w, b)
    id_eval = Arrays(feats[300:] @ w.T + b, feats[300:])
    ood_arr = Arrays(ood @ w.T + b, ood)
    return fit, id_eval, ood_arr


def test_registry_lists_every_detector_without_importing_them():
    assert EXPECTED <= set(DETECTORS.names())
    with pytest.raises(UnknownNameError, match="mahalanobis"):
        DETECTORS.get("mahalanobis2")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_detector_scores_from_the_registry(name, toy):
    fit, id_eval, ood_arr = toy
    det = make_detector(name).fit(fit)
    if det.runs_model:  # ODIN's scores come from the model pass; the detector passes them on
        id_eval = Arrays(id_eval.logits, id_eval.features, {"odin": np.linspace(0.5, 1, len(id_eval))})
        ood_arr = Arrays(ood_arr.logits, ood_arr.features, {"odin": np.linspace(0.1, 0.6, len(ood_arr))})
    s_id, s_ood = det.score(id_eval), det.score(ood_arr)
    assert s_id.shape == (len(id_eval),) and s_ood.shape == (len(ood_arr),)
    assert np.isfinite(s_id).all() and np.isfinite(s_ood).all()
    # the toy OOD features are far from every class cluster: every detector must rank them lower
    assert auroc(s_id, s_ood) > 0.8, name


def test_odin_without_its_model_pass_raises(toy):
    from visaudit.errors import VisauditError

    with pytest.raises(VisauditError, match="input-perturbation"):
        make_detector("odin").score(toy[1])


def test_logit_detectors_match_torch(toy):
    _, id_eval, _ = toy
    z = torch.tensor(id_eval.logits)
    assert np.allclose(make_detector("msp").score(id_eval), torch.softmax(z, 1).max(1).values.numpy())
    assert np.allclose(make_detector("maxlogit").score(id_eval), z.max(1).values.numpy())
    assert np.allclose(make_detector("energy").score(id_eval), torch.logsumexp(z, 1).numpy())


def test_mahalanobis_matches_explicit_distances(toy):
    fit, id_eval, _ = toy
    det = make_detector("mahalanobis").fit(fit)
    x, y = fit.features, fit.labels
    means = np.stack([x[y == c].mean(0) for c in np.unique(y)])
    centred = x - means[y]
    prec = np.linalg.pinv(centred.T @ centred / len(x))
    f = id_eval.features[:20]
    want = -np.array([min((v - m) @ prec @ (v - m) for m in means) for v in f])
    assert np.allclose(det.score(Arrays(id_eval.logits[:20], f)), want, rtol=1e-6, atol=1e-6)


def test_knn_matches_brute_force(toy):
    fit, id_eval, _ = toy
    det = make_detector("knn", {"k": 7}).fit(fit)
    bank = fit.features / np.linalg.norm(fit.features, axis=1, keepdims=True)
    q = id_eval.features[:15] / np.linalg.norm(id_eval.features[:15], axis=1, keepdims=True)
    d = np.linalg.norm(q[:, None, :] - bank[None], axis=2)
    want = -np.sort(d, axis=1)[:, 6]
    assert np.allclose(det.score(Arrays(id_eval.logits[:15], id_eval.features[:15])), want, atol=1e-5)


def test_react_and_ash_recompute_logits_from_shaped_features(toy):
    fit, id_eval, _ = toy
    react = make_detector("react", {"percentile": 80}).fit(fit)
    c = np.percentile(fit.features, 80)
    z = np.minimum(id_eval.features, c) @ fit.head_weight.T + fit.head_bias
    assert np.allclose(react.score(id_eval), torch.logsumexp(torch.tensor(z), 1).numpy())
    f = np.array([[4.0, 0.0, 1.0, 3.0, 2.0]])
    out = ash_s(f, percentile=60)  # keep the top 2 of 5: 4 and 3, scale exp(10 / 7)
    assert np.allclose(out, np.array([[4.0, 0, 0, 3.0, 0]]) * np.exp(10 / 7))


def test_vim_penalises_features_outside_the_principal_subspace():
    rng = np.random.default_rng(1)
    d, c = 16, 4
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    w, b = rng.normal(size=(c, d)), np.zeros(c)
    low = rng.normal(size=(400, 4)) * 5 @ basis[:, :4].T  # features in a 4-dim subspace (origin 0)
    noisy = low + rng.normal(0, 0.05, low.shape)
    fit = FitData(noisy @ w.T, noisy, np.zeros(400, int), w, b)
    det = make_detector("vim", {"dim": 4}).fit(fit)
    energy = make_detector("energy")
    inside = Arrays(low[:10] @ w.T, low[:10])
    outside_f = low[:10] + 3 * basis[:, 8]
    outside = Arrays(outside_f @ w.T, outside_f)
    gap_in = energy.score(inside) - det.score(inside)
    gap_out = energy.score(outside) - det.score(outside)
    assert (gap_in >= 0).all() and (gap_out > 10 * gap_in.max()).all()


def test_score_all_fits_once_and_scores_every_set(toy):
    fit, id_eval, ood_arr = toy
    out = score_all(["msp", "knn", "vim"], fit, {"id": id_eval, "far": ood_arr})
    assert set(out) == {"msp", "knn", "vim"} and set(out["knn"]) == {"id", "far"}
