"""plugnet.sklearn: the estimators under scikit-learn's own checks, and with clone, GridSearchCV,
cross_val_score, Pipeline, nested set_params, seeds and pickling, on small data."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import plugnet
from plugnet.sklearn import PlugnetClassifier, PlugnetRegressor

SMALL = ("dense(units=8, activation='relu')",)

# The check that cannot pass at float32, the default dtype, with the reason. At float64 it passes:
# its 15 samples (about 30 repeated) fit in one batch, and one full batch weighted by w is
# exactly the mean over the samples repeated w times. (Subset and row-order invariance hold at
# float32 only to BLAS rounding, ~1e-7 relative, the checks' rtol: they pass here, so they are
# not marked.)
FLOAT32_EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "float32: weighting and repeating samples sum the same terms in another order, equal "
        "only to float32 rounding (~1e-7 relative), and the check's tolerance is rtol=1e-7"
    ),
}
# Checks that scikit-learn skips itself when an optional dependency is missing here.
SKIPPED_WITHOUT_DEPENDENCY = {
    "check_sample_weights_pandas_series": "pandas is not installed",
    "check_classifier_data_not_an_array": "pandas is not installed",
    "check_regressor_data_not_an_array": "pandas is not installed",
    "check_array_api_input": "SCIPY_ARRAY_API is not set",
}
# Enough training for the checks' score thresholds (accuracy > 0.83, R² > 0.5).
CHECKED = {"epochs": 20, "optimizer": "adam(lr=0.01)", "random_state": 0}


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("estimator_class", [PlugnetClassifier, PlugnetRegressor])
def test_scikit_learn_estimator_checks(estimator_class: Any, dtype: str) -> None:
    expected = FLOAT32_EXPECTED_FAILED_CHECKS if dtype == "float32" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checks' own warnings (DataConversionWarning, ...)
        results = check_estimator(
            estimator_class(SMALL, dtype=dtype, **CHECKED),
            expected_failed_checks=expected,
            on_skip=None,
            on_fail=None,
        )
    by_status: dict[str, set[str]] = {}
    for result in results:
        by_status.setdefault(result["status"], set()).add(result["check_name"])
    failed = [f"{r['check_name']}: {r['exception']!r}" for r in results if r["status"] == "failed"]
    assert failed == []
    assert by_status.get("xfail", set()) == set(expected)
    assert by_status.get("skipped", set()) <= set(SKIPPED_WITHOUT_DEPENDENCY)
    for result in results:
        if result["status"] == "skipped":
            assert SKIPPED_WITHOUT_DEPENDENCY[result["check_name"]] in str(result["exception"])
    assert len(by_status["passed"]) >= 50


def test_grid_search_over_nested_keys_in_a_pipeline(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    pipeline = make_pipeline(StandardScaler(), PlugnetClassifier(SMALL, epochs=15, random_state=0))
    grid = {
        "plugnetclassifier__optimizer__lr": [1e-4, 0.03],
        "plugnetclassifier__layers__0__units": [2, 16],
    }
    search = GridSearchCV(pipeline, grid, cv=3).fit(x, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["plugnetclassifier__optimizer__lr"] == 0.03  # 1e-4 barely moves
    assert search.best_score_ > 0.8
    best = search.best_estimator_[-1]
    assert best.optimizer == {"type": "adam", "lr": 0.03}
    assert best.layers[0]["type"] == "dense" and best.layers[0]["activation"] == "relu"
    assert best.model_.layers[0].units == best.layers[0]["units"]
    assert pipeline[-1].layers == SMALL  # the searched copies changed, not the original
    assert search.score(x, y) > 0.8


def test_cross_val_score_and_clone(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    model = make_pipeline(
        StandardScaler(),
        PlugnetClassifier(SMALL, epochs=30, optimizer="adam(lr=0.03)", random_state=0),
    )
    scores = cross_val_score(model, x, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    fitted = model.fit(x, y)[-1]
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "model_") and hasattr(fitted, "model_")


def test_the_same_random_state_gives_the_same_network(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    first = PlugnetClassifier(SMALL, epochs=3, random_state=7).fit(x, y)
    once = first.predict_proba(x)
    again = first.fit(x, y).predict_proba(x)  # fit starts afresh: same seed, same network
    other = PlugnetClassifier(SMALL, epochs=3, random_state=8).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(once, again)
    assert not np.allclose(once, other)
    # A RandomState draws each fit's seed, as in scikit-learn.
    drawn = [
        PlugnetClassifier(SMALL, epochs=1, random_state=np.random.RandomState(0))
        .fit(x, y)
        .model_.seed
        for _ in range(2)
    ]
    assert drawn[0] == drawn[1] and isinstance(drawn[0], int)


def test_classifier_attributes_and_string_labels(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = PlugnetClassifier((), epochs=2, random_state=0).fit(x, labels)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.n_features_in_ == 4
    assert len(clf.history_.epoch) == 2 and "loss" in clf.history_.history
    assert clf.model_.layers[-1].units == 3  # the output layer fit added: one unit per class
    proba = clf.predict_proba(x)
    assert proba.shape == (150, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert set(clf.predict(x)) <= set(clf.classes_)
    with pytest.raises(ValueError, match="needs at least 2 classes in y, but y holds only one"):
        PlugnetClassifier(epochs=1).fit(x[:10], labels[:10])


def test_regressor_single_and_several_targets(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = iris
    one = make_pipeline(
        StandardScaler(),
        PlugnetRegressor(SMALL, epochs=30, optimizer="adam(lr=0.03)", random_state=0),
    )
    one.fit(x[:, :3], x[:, 3])  # petal width from the other three measurements
    assert one.predict(x[:, :3]).shape == (150,)
    assert one.score(x[:, :3], x[:, 3]) > 0.85
    two = PlugnetRegressor((), epochs=2, random_state=0).fit(x[:, :2], x[:, 2:])
    assert two.predict(x[:, :2]).shape == (150, 2)
    assert two.n_outputs_ == 2 and two.model_.layers[-1].units == 2


def test_validation_split_callbacks_and_metrics_reach_fit(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = iris
    clf = PlugnetClassifier(
        SMALL,
        epochs=50,
        validation_split=0.2,
        callbacks=["early_stopping(patience=1, min_delta=10.0)"],
        metrics=["accuracy", "f1(average='macro')"],
        random_state=0,
    ).fit(x, y)
    assert {"val_loss", "f1", "val_f1"} <= set(clf.history_.history)
    assert len(clf.history_.epoch) < 50  # stopped by the callback


def test_nested_set_params(iris: tuple[np.ndarray, np.ndarray]) -> None:
    layers = ["dense(units=8, activation='relu')", {"type": "dropout", "rate": 0.1}]
    clf = PlugnetClassifier(layers, optimizer="sgd(lr=0.1, momentum=0.9)")
    clf.set_params(optimizer__lr=0.5, layers__0__units=4, layers__1__rate=0.2, error__eps=None)
    assert clf.optimizer == {"type": "sgd", "lr": 0.5, "momentum": 0.9}
    assert clf.layers == [
        {"type": "dense", "units": 4, "activation": "relu"},
        {"type": "dropout", "rate": 0.2},
    ]
    assert clf.error == {"type": "cross_entropy", "eps": None}  # the default error's spec
    assert layers[0] == "dense(units=8, activation='relu')" and layers[1]["rate"] == 0.1
    clf.set_params(layers__1="dense(units=3)", optimizer="adam", epochs=2)
    assert clf.layers[1] == "dense(units=3)" and clf.optimizer == "adam" and clf.epochs == 2
    # Both in one call: the whole value first, then its argument.
    clf.set_params(optimizer="rmsprop", optimizer__lr=0.01)
    assert clf.optimizer == {"type": "rmsprop", "lr": 0.01}
    assert clf.get_params()["optimizer"] == {"type": "rmsprop", "lr": 0.01}


@pytest.mark.parametrize(
    ("estimator", "params", "message"),
    [
        (PlugnetClassifier(SMALL), {"layers__1__units": 4}, r"'1' is not the index of a hidden"),
        (PlugnetClassifier(SMALL), {"layers__x": 4}, r"'x' is not the index of a hidden layer"),
        (
            PlugnetClassifier(SMALL),
            {"layers__0__activation__alpha": 0.1},
            r"cannot set layers__0__activation__alpha: 'activation__alpha' is not an argument",
        ),
        (
            PlugnetClassifier(optimizer=plugnet.optimizer("adam")),
            {"optimizer__lr": 0.1},
            r"optimizer is a Adam instance, whose arguments are its own; give optimizer as a spec",
        ),
        (PlugnetClassifier(optimizer="adam(lr="), {"optimizer__lr": 0.1}, r"cannot parse spec"),
        (PlugnetClassifier(), {"optimiser__lr": 0.1}, r"Invalid parameter 'optimiser'"),
    ],
)
def test_bad_nested_keys_are_refused(estimator: Any, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        estimator.set_params(**params)


def test_fit_refuses_bad_parameters_naming_them(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    with pytest.raises(ValueError, match=r"layers must be a list of hidden-layer specs"):
        PlugnetClassifier("dense(units=8)").fit(x, y)
    with pytest.raises(ValueError, match=r"random_state must be None or an integer >= 0, got -1"):
        PlugnetClassifier(random_state=-1).fit(x, y)
    with pytest.raises(ValueError, match=r"epochs"):
        PlugnetClassifier(epochs=0).fit(x, y)


def test_fit_never_changes_the_specs_it_was_given(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    layer = plugnet.layer("dense(units=5, activation='tanh')")
    clf = PlugnetClassifier([layer], epochs=1, random_state=0).fit(x, y)
    assert clf.model_.layers[0] is not layer  # a copy per fit, so every fit starts fresh
    assert clf.layers[0] is layer and not layer.params  # the given instance stays unbuilt


def test_a_fitted_estimator_pickles_through_the_model_config(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = iris
    model = make_pipeline(StandardScaler(), PlugnetClassifier(SMALL, epochs=2, random_state=0))
    model.fit(x, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(x), model.predict_proba(x))
    assert restored[-1].history_.history == model[-1].history_.history
    assert restored[-1].history_.network is restored[-1].model_
    assert model[-1].history_.network is model[-1].model_  # pickling changed nothing


def test_without_scikit_learn_the_import_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import plugnet\n"
        "try:\n"
        "    import plugnet.sklearn\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "needs scikit-learn >= 1.6" in result.stdout
    assert 'pip install "plugnet[sklearn]"' in result.stdout


def test_import_plugnet_does_not_import_scikit_learn() -> None:
    code = "import sys, plugnet; plugnet.Sequential; print('sklearn' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
