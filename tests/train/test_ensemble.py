"""Ensemble: probability averaging, weighted votes, bagging, scores and checkpoints."""

import numpy as np
import pytest

import bpnn
from bpnn import nn


class FixedScores:
    """A stand-in member that returns given outputs (to test the combining rules alone)."""

    def __init__(self, outputs, loss=None):
        self.outputs, self.loss = np.asarray(outputs), loss

    def predict(self, x, batch_size=None):
        return self.outputs


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _data(n=120, seed=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    y = (x[:, 0] - x[:, 1] > 0).astype("int64") + (x[:, 2] > 0.7)
    return x, y.astype("int64")


def _build():
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    return bpnn.Model(net, "cross_entropy", "adam", metrics=["accuracy"], lr=0.02)


def test_mean_averages_probabilities_with_weights():
    a = np.array([[2.0, 0.0, -1.0], [0.0, 0.5, 0.0]], dtype="float32")
    b = np.array([[-1.0, 3.0, 0.0], [1.0, 0.0, 0.0]], dtype="float32")
    ensemble = bpnn.Ensemble([FixedScores(a, nn.CrossEntropyLoss()),
                              FixedScores(b, nn.CrossEntropyLoss())], weights=[3, 1])
    got = ensemble.predict(None)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, 0.75 * _softmax(a) + 0.25 * _softmax(b), rtol=1e-6)
    # Raw outputs (e.g. regression with MSE) are averaged as they are.
    raw = bpnn.Ensemble([FixedScores(a, nn.MSELoss()), FixedScores(b, nn.MSELoss())])
    np.testing.assert_array_equal(raw.predict(None), 0.5 * a + 0.5 * b)


def test_vote_is_weighted_and_ties_go_to_the_lowest_class():
    votes_for = {0: [[1, 0, 0]], 1: [[0, 1, 0]], 2: [[0, 0, 1]]}
    members = [FixedScores(votes_for[c]) for c in (2, 1, 1)]
    assert bpnn.Ensemble(members, method="vote").predict(None).tolist() == [1]
    assert bpnn.Ensemble(members, method="vote", weights=[3, 1, 1]).predict(None).tolist() == [2]
    tie = [FixedScores(votes_for[2]), FixedScores(votes_for[1])]
    assert bpnn.Ensemble(tie, method="vote").predict(None).tolist() == [1]


def test_bagging_is_reproducible_and_members_differ():
    x, y = _data()
    options = dict(n_members=3, epochs=3, batch_size=16, verbose=0, seed=10)
    first = bpnn.Ensemble.fit_bagging(_build, x, y, **options)
    second = bpnn.Ensemble.fit_bagging(_build, x, y, **options)
    for mine, theirs in zip(first.predict_members(x), second.predict_members(x), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    outputs = first.predict_members(x)
    assert not np.array_equal(outputs[0], outputs[1])
    assert len(first.histories) == 3 and len(first.histories[0].history["loss"]) == 3
    # Member i = seed (10 + i), build, then bootstrap rows from the same generator.
    bpnn.manual_seed(11)
    solo = _build()
    rows = bpnn.backend.get_rng().integers(0, len(x), len(x))
    assert len(np.unique(rows)) < len(x)  # a bootstrap sample repeats rows
    solo.fit(x[rows], y[rows], epochs=3, batch_size=16, verbose=0)
    np.testing.assert_array_equal(solo.predict(x), first.models[1].predict(x))


def test_evaluate_matches_scores_computed_by_hand():
    x, y = _data()
    ensemble = bpnn.Ensemble.fit_bagging(_build, x, y, n_members=3, bootstrap=False, epochs=2,
                                         batch_size=16, verbose=0)
    probabilities = ensemble.predict(x)
    scores = ensemble.evaluate(x, y)
    assert scores["accuracy"] == pytest.approx(np.mean(probabilities.argmax(1) == y))
    expected_loss = -np.mean(np.log(probabilities[np.arange(len(y)), y]))
    assert scores["loss"] == pytest.approx(expected_loss, rel=1e-5)
    members = ensemble.evaluate_members(x, y)
    for model, member_scores in zip(ensemble.models, members, strict=True):
        own = model.evaluate(x, y)
        assert member_scores["accuracy"] == pytest.approx(own["accuracy"])
        assert member_scores["loss"] == pytest.approx(own["loss"], rel=1e-5)
    voted = bpnn.Ensemble(ensemble.models, method="vote")
    labels = voted.predict(x)
    assert set(voted.evaluate(x, y)) == {"accuracy"}
    assert voted.evaluate(x, y)["accuracy"] == pytest.approx(np.mean(labels == y))


def test_networks_as_members():
    x, _ = _data(n=8)
    nets = [nn.Sequential(nn.Linear(5, 3)), nn.Sequential(nn.Linear(5, 3))]
    got = bpnn.Ensemble(nets).predict(x)
    expected = 0.5 * nets[0](bpnn.tensor(x)).numpy() + 0.5 * nets[1](bpnn.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_ensemble_checkpoint_round_trip(tmp_path):
    x, y = _data()
    models = []
    for seed in (1, 2):
        bpnn.manual_seed(seed)
        model = _build()
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        models.append(model)
    ensemble = bpnn.Ensemble([*models, nn.Sequential(nn.Linear(5, 3))], method="vote",
                             weights=[2, 1, 1])
    bpnn.manual_seed(0)
    state = bpnn.get_rng_state()
    loaded = bpnn.load(bpnn.save(ensemble, tmp_path / "ensemble.bpnn"))
    assert bpnn.get_rng_state() == state
    assert loaded.method == "vote" and loaded.weights == ensemble.weights
    assert isinstance(loaded.models[0], bpnn.Model) and isinstance(loaded.models[2], nn.Module)
    np.testing.assert_array_equal(loaded.predict(x), ensemble.predict(x))
    for mine, theirs in zip(loaded.predict_members(x), ensemble.predict_members(x), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one model"):
        bpnn.Ensemble([])
    with pytest.raises(ValueError, match="method must be 'mean' or 'vote', got 'median'"):
        bpnn.Ensemble([FixedScores([[1.0, 0.0]])], method="median")
    with pytest.raises(ValueError, match="got 1 weights for 2 models"):
        bpnn.Ensemble([FixedScores([[1.0]]), FixedScores([[1.0]])], weights=[1])
    with pytest.raises(ValueError, match="non-negative"):
        bpnn.Ensemble([FixedScores([[1.0]])], weights=[-1])
    with pytest.raises(TypeError, match="member 0 is a str"):
        bpnn.Ensemble(["model.bpnn"])
    mixed = bpnn.Ensemble([FixedScores([[1.0, 0.0]]), FixedScores([[1.0, 0.0, 0.0]])])
    with pytest.raises(ValueError, match="disagree on the output shape"):
        mixed.predict(None)
    with pytest.raises(ValueError, match="n_members must be a positive integer, got 0"):
        bpnn.Ensemble.fit_bagging(_build, *_data(), n_members=0)
