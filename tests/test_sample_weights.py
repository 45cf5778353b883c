"""fit(class_weight=..., sample_weight=...): the weighted loss and its gradient against NumPy
transcriptions of PyTorch's weighted losses, "balanced" against scikit-learn, weights that change
nothing or remove a sample, weights through the shuffle and validation, and bad weights."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

import plugnet
from plugnet.configurable import Configurable
from plugnet.protocols import Array, PerSampleError
from plugnet.testing import check_error_function
from plugnet_builtins.errors import MeanSquared, row_sums


def softmax(a: Array) -> Array:
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def torch_cross_entropy(logits: Array, labels: Array, weight: Array) -> tuple[float, Array]:
    """``torch.nn.CrossEntropyLoss(weight=weight, reduction="mean")(logits, labels)`` and its
    gradient with respect to the logits, transcribed from
    https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html:
    l_n = −w_{y_n} log softmax(x_n)_{y_n}, and the mean is Σ_n l_n / Σ_n w_{y_n}.
    (NLLLoss(weight=w) on log_softmax is the same, as its page says.)"""
    w = weight[labels]
    p = softmax(logits)
    one_hot = np.eye(logits.shape[1])[labels]
    loss = float(np.sum(-w * np.log(p[np.arange(len(labels)), labels])) / w.sum())
    return loss, w[:, None] * (p - one_hot) / w.sum()


def torch_weighted_mse(y: Array, t: Array, w: Array) -> tuple[float, Array]:
    """``(F.mse_loss(y, t, reduction="none").mean(dim=1) * w).sum() / w.sum()`` and its gradient
    with respect to y (https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html: the
    unreduced loss is (y − t)² elementwise)."""
    per_sample = ((y - t) ** 2).mean(axis=1)
    return float(np.dot(per_sample, w) / w.sum()), w[:, None] * 2 * (y - t) / y.shape[1] / w.sum()


def one_layer(
    units: int, activation: str, error: str, lr: float = 0.5, *, fused: bool = True
) -> plugnet.Sequential:
    """One dense layer; with ``fused=False`` its activation is a layer of its own, so the
    output step is the chain dE/dy → the activation's backward, not a fused backward."""
    layers: list[Any] = [{"type": "dense", "units": units, "activation": activation}]
    if not fused:
        layers = [
            {"type": "dense", "units": units},
            {"type": "activation", "activation": activation},
        ]
    return plugnet.Sequential(
        layers,
        error=error,
        optimizer=f"sgd(lr={lr})",
        seed=0,
        dtype="float64",
    )


def data(n: int = 12, features: int = 3, classes: int = 4, seed: int = 1) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)), rng.integers(0, classes, n)


# -- against PyTorch's weighted losses -------------------------------------------------------


@pytest.mark.parametrize("fused", [True, False])
def test_class_weighted_cross_entropy_is_pytorchs_weighted_cross_entropy(fused: bool) -> None:
    x, labels = data()
    weight = np.array([0.5, 2.0, 1.0, 3.0])
    net = one_layer(4, "softmax", "cross_entropy", fused=fused)
    net.build((3,))
    w0, b0 = net.params["dense_1.w"].copy(), net.params["dense_1.b"].copy()
    expected_loss, grad_logits = torch_cross_entropy(x @ w0 + b0, labels, weight)

    history = net.fit(
        x, labels, class_weight=dict(enumerate(weight)), epochs=1, batch_size=len(x),
        shuffle=False, verbose=0,
    )  # fmt: skip
    # One full-batch SGD step: the logged loss is the step's, the parameters moved by lr·grad.
    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(net.params["dense_1.w"], w0 - 0.5 * x.T @ grad_logits, 1e-12, 1e-12)
    np.testing.assert_allclose(net.params["dense_1.b"], b0 - 0.5 * grad_logits.sum(0), 1e-12, 1e-12)


def test_sample_weighted_mean_squared_is_the_normalized_weighted_mean() -> None:
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((10, 3)), rng.standard_normal((10, 2))
    weights = rng.uniform(0.0, 2.0, 10)
    weights[4] = 0.0
    net = one_layer(2, "linear", "mean_squared", lr=0.25)
    net.build((3,))
    w0, b0 = net.params["dense_1.w"].copy(), net.params["dense_1.b"].copy()
    expected_loss, grad_y = torch_weighted_mse(x @ w0 + b0, t, weights)

    history = net.fit(
        x, t, sample_weight=weights, epochs=1, batch_size=10, shuffle=False, verbose=0
    )
    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(net.params["dense_1.w"], w0 - 0.25 * x.T @ grad_y, 1e-12, 1e-12)
    np.testing.assert_allclose(net.params["dense_1.b"], b0 - 0.25 * grad_y.sum(0), 1e-12, 1e-12)
    evaluated = net.evaluate(x, t, sample_weight=weights)["loss"]
    assert evaluated == pytest.approx(torch_weighted_mse(net.predict(x), t, weights)[0], 1e-12)


def test_class_weight_and_sample_weight_multiply() -> None:
    x, labels = data()
    class_weight = {0: 2.0, 3: 0.5}  # classes 1 and 2 weigh 1
    sample_weight = np.random.default_rng(4).uniform(0.1, 1.0, len(x))
    table = np.array([2.0, 1.0, 1.0, 0.5])
    both, product = (
        one_layer(4, "softmax", "cross_entropy"),
        one_layer(4, "softmax", "cross_entropy"),
    )
    options: dict[str, Any] = {"epochs": 2, "batch_size": 5, "verbose": 0}
    both.fit(x, labels, class_weight=class_weight, sample_weight=sample_weight, **options)
    product.fit(x, labels, sample_weight=table[labels] * sample_weight, **options)
    for name in both.params:
        np.testing.assert_array_equal(both.params[name], product.params[name])


# -- "balanced", ones and zeros -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "units"),
    [
        (np.array([0, 0, 0, 1, 2, 2, 0, 1, 1, 0]), 3),
        (np.array([0, 0, 3, 3, 3, 3, 3, 0]), 4),  # classes 1 and 2 absent
        (np.array([1, 1, 1, 0]), 1),  # one sigmoid unit: classes 0 and 1
    ],
)
def test_balanced_is_scikit_learns_compute_class_weight(labels: Array, units: int) -> None:
    from plugnet.weights import class_weight_table

    t = labels[:, None].astype(float) if units == 1 else np.eye(units)[labels]
    present = np.unique(labels)
    expected = compute_class_weight("balanced", classes=present, y=labels)
    table = class_weight_table("balanced", t)
    np.testing.assert_allclose(table[present], expected, rtol=1e-15)
    assert np.all(np.delete(table, present) == 0)  # nothing weighs a class without samples


def test_balanced_weights_train_on_the_training_part_only() -> None:
    x, labels = data(n=20)
    net = one_layer(4, "softmax", "cross_entropy")
    explicit = one_layer(4, "softmax", "cross_entropy")
    train = labels[:15]  # validation_split=0.25 holds out the last 5
    present = np.unique(train)
    balanced = compute_class_weight("balanced", classes=present, y=train)
    table = dict(zip(present.tolist(), balanced, strict=True))
    options: dict[str, Any] = {"epochs": 2, "batch_size": 4, "validation_split": 0.25}
    a = net.fit(x, labels, class_weight="balanced", verbose=0, **options)
    b = explicit.fit(x, labels, class_weight=table, verbose=0, **options)
    assert a.history["loss"] == pytest.approx(b.history["loss"], rel=1e-12)
    for name in net.params:
        np.testing.assert_allclose(net.params[name], explicit.params[name], rtol=1e-12)


def test_all_ones_weights_give_exactly_the_unweighted_trajectory() -> None:
    x, labels = data(n=50)
    options: dict[str, Any] = {"epochs": 3, "batch_size": 8, "verbose": 0}
    nets = [
        plugnet.Sequential(
            [
                {"type": "dense", "units": 6, "activation": "relu"},
                {"type": "dense", "units": 4, "activation": "softmax"},
            ],
            error="cross_entropy",
            optimizer="adam(lr=0.01)",
            seed=5,
        )
        for _ in range(3)
    ]
    plain = nets[0].fit(x, labels, **options)
    ones = nets[1].fit(x, labels, sample_weight=np.ones(50), **options)
    unit_classes = nets[2].fit(x, labels, class_weight={c: 1.0 for c in range(4)}, **options)
    for net in nets[1:]:
        for name in nets[0].params:
            np.testing.assert_array_equal(net.params[name], nets[0].params[name])
    for history in (ones, unit_classes):
        assert history.history["loss"] == pytest.approx(plain.history["loss"], rel=1e-6)
        assert history.history["accuracy"] == plain.history["accuracy"]


def test_a_zero_weight_is_training_without_the_sample() -> None:
    x, labels = data(n=12)
    weights = np.ones(12)
    weights[[3, 7]] = 0.0
    keep = weights > 0
    weighted, without = (
        one_layer(4, "softmax", "cross_entropy"),
        one_layer(4, "softmax", "cross_entropy"),
    )
    a = weighted.fit(x, labels, sample_weight=weights, epochs=3, batch_size=12, verbose=0)
    b = without.fit(x[keep], labels[keep], epochs=3, batch_size=10, verbose=0)
    for name in weighted.params:
        np.testing.assert_allclose(weighted.params[name], without.params[name], 1e-13, 1e-15)
    every = one_layer(4, "softmax", "cross_entropy")
    every.fit(x, labels, epochs=3, batch_size=12, verbose=0)
    assert not np.allclose(weighted.params["dense_1.w"], every.params["dense_1.w"])
    assert a.history["loss"] == pytest.approx(b.history["loss"], rel=1e-13)


def test_a_batch_of_zero_weights_takes_no_step() -> None:
    x, labels = data(n=8)
    weights = np.array([0, 0, 0, 0, 1, 1, 1, 1.0])
    net = one_layer(4, "softmax", "cross_entropy")
    seen: list[float] = []

    class Spy(plugnet.Callback):
        def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
            seen.append(logs["loss"])

    net.fit(x, labels, sample_weight=weights, batch_size=4, shuffle=False, verbose=0,
            callbacks=[Spy()])  # fmt: skip
    assert net.optimizer.iterations == 1  # the first batch weighs nothing
    assert np.isnan(seen[0]) and np.isfinite(seen[1])


# -- weights follow the data ----------------------------------------------------------------


class WeightLedger(Configurable):
    """A metric that records which weight came with which target (the targets are sample ids)."""

    targets: ClassVar[Literal["values"]] = "values"

    def __init__(self) -> None:
        self.pairs: list[tuple[float, float]] = []

    def reset(self) -> None:
        pass

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        assert sample_weight is not None
        self.pairs += list(zip(t[:, 0].tolist(), np.asarray(sample_weight).tolist(), strict=True))

    def result(self) -> float:
        return 0.0


def test_weights_follow_the_shuffle_and_the_validation_split() -> None:
    ids = np.arange(30, dtype=float)[:, None]
    weights = 1.0 + ids[:, 0] / 100  # each sample's own weight
    ledger = WeightLedger()
    net = plugnet.Sequential(
        [{"type": "dense", "units": 1, "activation": "linear"}],
        error="mse", optimizer="sgd(lr=1e-4)", metrics=[ledger], seed=0, dtype="float64",
    )  # fmt: skip
    net.fit(ids, ids, sample_weight=weights, epochs=3, batch_size=7, validation_split=0.2,
            verbose=0)  # fmt: skip
    assert len(ledger.pairs) == 3 * (24 + 6)
    assert all(w == 1.0 + i / 100 for i, w in ledger.pairs)
    assert {i for i, _ in ledger.pairs} == set(range(30))  # the held-out six were validated
    ordered = [i for i, _ in ledger.pairs[:24]]
    assert ordered != sorted(ordered)  # the epoch was shuffled


def test_validation_is_weighted_only_by_its_third_element() -> None:
    x, labels = data(n=20)
    xv, lv = data(n=10, seed=9)
    wv = np.random.default_rng(5).uniform(0.0, 3.0, 10)
    net = one_layer(4, "softmax", "cross_entropy")
    plain = net.fit(x, labels, validation_data=(xv, lv), class_weight="balanced", verbose=0)
    assert plain.history["val_loss"][0] == net.evaluate(xv, lv)["loss"]
    weighted = net.fit(x, labels, validation_data=(xv, lv, wv), verbose=0)
    scores = net.evaluate(xv, lv, sample_weight=wv)
    assert weighted.history["val_loss"][0] == scores["loss"] != net.evaluate(xv, lv)["loss"]
    assert weighted.history["val_accuracy"][0] == scores["accuracy"]


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"sample_weight": np.ones(11)}, r"sample_weight has shape \(11,\); .* shape \(12,\)"),
        ({"sample_weight": np.ones((12, 1))}, r"sample_weight has shape \(12, 1\)"),
        ({"sample_weight": [1.0] * 11 + [-1.0]}, r"sample_weight\[11\] is -1\.0; .* >= 0"),
        ({"sample_weight": [1.0] * 11 + [np.nan]}, r"sample_weight\[11\] is nan; .* finite"),
        ({"sample_weight": np.zeros(12)}, r"sample_weight is 0 for every sample"),
        ({"sample_weight": np.ones(12, dtype=bool)}, r"sample_weight has dtype bool"),
        ({"sample_weight": ["1"] * 12}, r"sample_weight has dtype <U1"),
        ({"class_weight": {4: 1.0}}, r"class_weight has the key 4; .* 0 to 3"),
        ({"class_weight": {True: 1.0}}, r"class_weight has the key True"),
        ({"class_weight": {"0": 1.0}}, r"class_weight has the key '0'"),
        ({"class_weight": {0: -2}}, r"class_weight\[0\] is -2; .* finite number >= 0"),
        ({"class_weight": {0: float("inf")}}, r"class_weight\[0\] is inf"),
        ({"class_weight": {0: "2"}}, r"class_weight\[0\] is '2'"),
        ({"class_weight": "balance"}, r"must be a dict .* or 'balanced', got 'balance'"),
        ({"class_weight": [1.0, 2.0]}, r"class_weight must be a dict .* got a list"),
        ({"class_weight": {c: 0.0 for c in range(4)}}, r"gives every training sample weight 0"),
        ({"validation_data": (np.ones((3, 3)), [0, 1, 2], [1.0, -1, 1])},
         r"validation_data\[2\]\[1\] is -1\.0"),
        ({"validation_data": (np.ones((3, 3)), [0, 1, 2], 1, 2)}, r"pair .* or a triple"),
        ({"sample_weight": [1.0] * 9 + [0.0] * 3, "validation_split": 0.25},
         r"sample_weight is 0 for every sample that validation_split holds out"),
    ],
)  # fmt: skip
def test_bad_weights_are_refused_naming_the_argument(options: dict[str, Any], match: str) -> None:
    x, labels = data()
    net = one_layer(4, "softmax", "cross_entropy")
    with pytest.raises(ValueError, match=match):
        net.fit(x, labels, verbose=0, **options)
    assert net.optimizer.iterations == 0


@pytest.mark.parametrize("weights", [np.ones(3), np.zeros(4)])
def test_train_step_refuses_weights_that_do_not_fit_the_batch(weights: Array) -> None:
    x, labels = data(n=4)
    net = one_layer(4, "softmax", "cross_entropy")
    net.build((3,))
    with pytest.raises(ValueError, match=r"sample_weight has shape .* one weight >= 0 per sample"):
        net.train_step(x, np.eye(4)[labels], weights)
    assert net.optimizer.iterations == 0


def test_class_weight_needs_class_targets() -> None:
    rng = np.random.default_rng(0)
    net = one_layer(2, "linear", "mse")
    with pytest.raises(ValueError, match=r"class_weight needs class targets .* give sample_weight"):
        net.fit(
            rng.standard_normal((5, 3)), rng.standard_normal((5, 2)), class_weight={0: 2.0},
            verbose=0,
        )  # fmt: skip


class SumOnly(Configurable):
    """An error function without per_sample."""

    def forward(self, y: Array, t: Array) -> float:
        return float(np.sum((y - t) ** 2) / y.shape[0])

    def backward(self, y: Array, t: Array) -> Array:
        return 2 * (y - t) / y.shape[0]


def test_an_error_function_without_per_sample_refuses_weights() -> None:
    assert not isinstance(SumOnly(), PerSampleError)
    net = plugnet.Sequential([{"type": "dense", "units": 2}], error=SumOnly(), seed=0)
    x, t = np.ones((4, 3)), np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"SumOnly has no per_sample\(y, t\).*PerSampleError"):
        net.fit(x, t, sample_weight=np.ones(4), verbose=0)
    with pytest.raises(ValueError, match=r"SumOnly has no per_sample"):
        net.evaluate(x, t, sample_weight=np.ones(4))
    net.fit(x, t, verbose=0)  # without weights it trains


# -- the conformance kit's weights check ----------------------------------------------------


class SummedPerSample(MeanSquared):
    """per_sample as row sums: its mean is not forward (which divides by y.size)."""

    def per_sample(self, y: Array, t: Array) -> Array:
        return row_sums((y - t) ** 2)


class BatchCoupled(MeanSquared):
    """Each sample's error depends on the whole batch's mean: row scaling is then wrong, though
    the mean of per_sample is still forward."""

    def per_sample(self, y: Array, t: Array) -> Array:
        d = y - t
        centred = d - d.mean(axis=0)
        return (centred**2).mean(axis=1) + (d**2).mean(axis=1) - (centred**2).mean(axis=1).mean()

    def forward(self, y: Array, t: Array) -> float:
        return float(np.mean(self.per_sample(y, t)))


@pytest.mark.parametrize(
    ("error", "match"),
    [
        (SummedPerSample(), r"weights.*mean of per_sample against forward"),
        (BatchCoupled(), r"weights.*weighted gradient"),
    ],
)
def test_the_kit_catches_a_wrong_per_sample(error: Any, match: str) -> None:
    with pytest.raises(AssertionError, match=match) as caught:
        check_error_function(error)
    assert "weights" in str(caught.value)


def test_every_builtin_error_function_has_per_sample() -> None:
    for name in plugnet.available("error_function"):
        assert isinstance(plugnet.get("error_function", name), PerSampleError), name


@pytest.mark.parametrize("error", ["cross_entropy", "kl_divergence"])
def test_the_weighted_gradient_is_exact_through_a_batch_coupled_layer(error: str) -> None:
    """Row scaling happens in dE/dy, so it holds through batch norm, whose output rows depend
    on the whole batch: the parameters' gradients against finite differences of E_w."""
    from plugnet.testing.gradients import assert_close, numerical_gradient

    x, labels = data(n=7)
    t = np.eye(4)[labels]
    weights = np.random.default_rng(6).uniform(0.0, 2.0, 7)
    net = plugnet.Sequential(
        [{"type": "dense", "units": 5, "activation": "tanh"}, {"type": "batch_norm"},
         {"type": "dense", "units": 4, "activation": "softmax"}],
        error=error, seed=0, dtype="float64",
    )  # fmt: skip
    net.build((3,))
    per_sample = net.error.per_sample

    def weighted_error(_: Array) -> float:
        y = net.forward(x, training=True)
        return float(np.dot(weights, per_sample(y, t)) / weights.sum())

    net.backward(net.forward(x, training=True), t, weights)
    for name, param in net.params.items():
        numeric = numerical_gradient(weighted_error, param, in_place=True)
        assert_close(net.grads[name], numeric, what=name, rtol=1e-6, atol=1e-8)
