"""scikit-learn's own estimator checks over the four bpnn estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from bpnn import nn
from bpnn.sklearn import MLPClassifier, MLPRegressor, NeuralNetClassifier, NeuralNetRegressor


def small_mlp(n_features_in, n_classes=None, n_outputs=None, hidden=16):
    """A one-hidden-layer network sized from the data."""
    return nn.Sequential(nn.Linear(n_features_in, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_classes or n_outputs))


def small_regressor(n_features_in, n_outputs, hidden=16):
    return small_mlp(n_features_in, n_outputs=n_outputs, hidden=hidden)


ESTIMATORS = [
    MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, learning_rate_init=0.01,
                  random_state=0),
    MLPRegressor(hidden_layer_sizes=(16,), max_iter=100, learning_rate_init=0.01,
                 random_state=0),
    NeuralNetClassifier(small_mlp, epochs=20, random_state=0),
    NeuralNetRegressor(small_regressor, epochs=20, random_state=0),
]


#: Checks that cannot pass, with the reason. The MLPs pass this one: on the checks' small data
#: sets "auto" batches are the full set, and weights are normalised as scikit-learn does.
NEURAL_NET_EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data":
        "mini-batches of 32 drawn in shuffled order: a sample of weight 2 is not the same "
        "update as the sample twice in different batches (scikit-learn runs this check on its "
        "own MLP only with full-batch settings)",
}


def expected_failed_checks(estimator):
    if isinstance(estimator, (NeuralNetClassifier, NeuralNetRegressor)):
        return NEURAL_NET_EXPECTED_FAILURES
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
