"""Model disagreement: the scores against plain loops and SciPy, and the store-only ranking
against the same ranking recomputed from the models on the same real CIFAR-10 images."""

from __future__ import annotations

import numpy as np
import pytest

import visaudit
from visaudit.errors import VisauditError
from visaudit.metrics import disagreement as dis
from visaudit.report.disagreement import rank_disagreement

A, B = "cifar10_resnet20", "cifar10_resnet56"
PROBS = {"accuracy": {"store_probs": True}}


def _random_probs(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    z = rng.normal(size=(n, c)) * 3
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _pair_loop(pa: np.ndarray, pb: np.ndarray) -> list[float]:
    out = []
    for a, b in zip(pa.tolist(), pb.tolist()):
        top = max(range(len(a)), key=lambda k: (a[k], -k))  # first index on ties
        out.append(a[top] - b[top])
    return out


def test_scores_match_plain_loops_and_scipy_jensen_shannon():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(0)
    pa, pb, pc = (_random_probs(rng, 40, 7) for _ in range(3))
    np.testing.assert_allclose(dis.pair_score(pa, pb), _pair_loop(pa, pb), atol=1e-12)
    pairs = [(pa, pb), (pb, pa), (pa, pc), (pc, pa), (pb, pc), (pc, pb)]
    ref = np.mean([_pair_loop(x, y) for x, y in pairs], axis=0)
    np.testing.assert_allclose(dis.mean_pair_score([pa, pb, pc]), ref, atol=1e-12)
    # scipy gives the square root of the two-distribution divergence (natural log by default)
    js_ref = [jensenshannon(a, b) ** 2 for a, b in zip(pa, pb)]
    np.testing.assert_allclose(dis.js_score([pa, pb]), js_ref, atol=1e-10)
    assert (dis.js_score([pa, pb, pc]) <= np.log(3) + 1e-12).all()
    np.testing.assert_allclose(dis.js_score([pa, pa]), 0.0, atol=1e-12)


def test_ranking_breaks_ties_by_sample_id_and_bad_input_is_refused():
    assert dis.ranking(np.array([0.5, 0.9, 0.5]), ["b", "a", "a0"]) == [1, 2, 0]
    with pytest.raises(ValueError, match="at least two"):
        dis.mean_pair_score([np.ones((2, 3)) / 3])
    with pytest.raises(ValueError, match="shape"):
        dis.js_score([np.ones((2, 3)) / 3, np.ones((2, 4)) / 4])
    with pytest.raises(ValueError, match="exactly two"):
        dis.score("pair", [np.ones((2, 3)) / 3] * 3)


def _recomputed(ids: list[str], score: str) -> tuple[list[str], np.ndarray]:
    """The ranking from the two models run here on the stored images, with a plain loop."""
    import torch

    from visaudit.data.catalog import open_dataset
    from visaudit.models import load_model

    probs = []
    for name in (A, B):
        model = load_model(name).eval()
        ds = open_dataset("cifar10-test").bind(model.info.preprocess())
        pos = {s: i for i, s in enumerate(ds.ids)}
        x = torch.stack([torch.from_numpy(np.asarray(ds[pos[s]][0])).float() / 255 for s in ids])
        with torch.no_grad():
            probs.append(torch.softmax(model(x), 1).double().numpy())
    if score == "pair":
        values = np.asarray(_pair_loop(probs[0], probs[1]))
    else:  # mean over the two ordered pairs
        values = (np.asarray(_pair_loop(probs[0], probs[1])) + np.asarray(_pair_loop(probs[1], probs[0]))) / 2
    order = sorted(range(len(ids)), key=lambda i: (-values[i], ids[i]))
    return [ids[i] for i in order], values[order]


@pytest.mark.slow
@pytest.mark.parametrize("score", ["pair", "mean_pair"])
def test_store_ranking_is_the_ranking_recomputed_from_the_models(tmp_path, score):
    res = visaudit.audit(
        [A, B], "accuracy", "cifar10-test", store=tmp_path, max_images=64, workers=0, probe_config=PROBS
    )
    assert [r["status"] for r in res.records] == ["ok", "ok"], [r.get("error") for r in res.records]
    ranked = rank_disagreement(tmp_path, [A, B], dataset="cifar10-test", score=score)
    t = ranked.table
    assert len(t) == 64 and ranked.cell["max_images"] == 64
    ids, values = _recomputed(sorted(t["sample_id"]), score)
    assert list(t["sample_id"]) == ids
    np.testing.assert_allclose(t["score"].to_numpy(), values, atol=1e-5)
    assert t["score"].iloc[0] > 0.5  # the two ResNets do disagree strongly on some real images
    if score == "pair":  # the command line prints the same ranking
        from tests.helpers import run_cli

        out = run_cli("disagree", "--store", str(tmp_path), "-m", A, "-m", B, "--score", "pair", "--top", "3")
        assert out.returncode == 0, out.stderr
        assert t["sample_id"].iloc[0] in out.stdout and t["sample_id"].iloc[3] not in out.stdout
        bad = run_cli("disagree", "--store", str(tmp_path), "-m", A, "-m", "cifar10_resnet32")
        assert bad.returncode == 2 and "store_probs" in bad.stderr


@pytest.mark.slow
def test_models_audited_on_different_subsets_are_refused_listing_what_is_shared(tmp_path):
    visaudit.audit(A, "accuracy", "cifar10-test", store=tmp_path, max_images=16, workers=0, probe_config=PROBS)
    visaudit.audit(B, "accuracy", "cifar10-test", store=tmp_path, max_images=24, workers=0, probe_config=PROBS)
    with pytest.raises(VisauditError) as err:
        rank_disagreement(tmp_path, [A, B])
    msg = str(err.value)
    assert "share no dataset cell" in msg and "16 images" in msg and "24 images" in msg and "shared: nothing" in msg
    visaudit.audit(B, "accuracy", "cifar10-test", store=tmp_path, max_images=16, workers=0)  # no probabilities
    with pytest.raises(VisauditError, match="without store_probs"):
        rank_disagreement(tmp_path, [A, B], max_images=16)
    with pytest.raises(VisauditError, match="store_probs"):
        rank_disagreement(tmp_path, [A, "cifar10_resnet32"])
    with pytest.raises(VisauditError, match="at least two"):
        rank_disagreement(tmp_path, [A])


@pytest.mark.slow
def test_optimised_disagreement_stays_in_the_ball_and_its_gap_is_the_models_own(resnet20):
    """The optimiser on two real ResNets: inside the ball and the box, the reported gap equals
    p_A(k) - p_B(k) recomputed at the returned points, and never below the start."""
    import torch

    from tests.test_attributions import real_cifar_batch
    from visaudit.attacks.disagreement import maximise_disagreement
    from visaudit.attacks.threat import inside
    from visaudit.models import load_model

    other = load_model(B).eval()
    x, _ = real_cifar_batch(4, resnet20)
    y = torch.zeros(4, dtype=torch.long)  # airplane for every image
    pa = lambda z: torch.softmax(resnet20(z), 1)  # noqa: E731
    pb = lambda z: torch.softmax(other(z), 1)  # noqa: E731
    for norm, eps in (("linf", 2 / 255), ("l2", 0.25)):
        out = maximise_disagreement(pa, pb, x, y, norm=norm, eps=eps, n_iter=5)
        assert inside(out.x_adv, x, eps, norm).all()
        with torch.no_grad():
            ref = pa(out.x_adv)[:, 0] - pb(out.x_adv)[:, 0]
            start = pa(x)[:, 0] - pb(x)[:, 0]
        torch.testing.assert_close(out.gap, ref, atol=1e-5, rtol=0)
        torch.testing.assert_close(out.gap_clean, start, atol=1e-5, rtol=0)
        assert (out.gap >= out.gap_clean - 1e-6).all() and out.gap.mean() > out.gap_clean.mean()
    with pytest.raises(ValueError, match="eps"):
        maximise_disagreement(pa, pb, x, y, eps=0.0)


@pytest.mark.slow
def test_disagreement_probe_opens_a_gap_between_the_two_resnets(tmp_path):
    cfg = {"disagreement": {"other": B, "eps": 0.25, "n_iter": 10, "gallery": 2}}
    res = visaudit.audit(A, "disagreement", "cifar10-test", store=tmp_path, max_images=16, workers=0, probe_config=cfg)
    rec = res.records[0]
    assert rec["status"] == "ok", rec.get("error")
    from visaudit.engine.store import Store

    t = Store(tmp_path).samples(rec["key"])
    assert (t["distance"] <= 0.25 + 1e-5).all()
    assert (t["optimised_gap"] >= t["clean_gap"] - 1e-6).all()
    assert rec["metrics"]["optimised_gap"] > rec["metrics"]["clean_gap"] + 0.2
    assert rec["keyed_by"]["inputs"]["other"]["weights_sha256"]  # model B keys the job
    from tests.test_probe_payloads import payload_problems
    from visaudit.probes.disagreement import DisagreementData

    assert payload_problems(rec["data"], DisagreementData) == []
    assert [i["label"] for i in rec["data"]["gallery"][0]["images"]] == ["original", "optimised", "difference"]
    with pytest.raises(VisauditError, match="radius eps must be > 0"):
        visaudit.audit(A, "disagreement", "cifar10-test", store=tmp_path, probe_config={"disagreement": {"eps": 0}})
    other = visaudit.audit(
        A,
        "disagreement",
        "cifar10-test",
        store=tmp_path,
        max_images=2,
        probe_config={"disagreement": {"other": "efficientnet_lite0"}},
    )
    assert "do not share a label space" in other.records[0]["error"]["message"]
