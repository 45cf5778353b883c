"""embedding against a NumPy transcription of torch.nn.Embedding
(https://pytorch.org/docs/stable/generated/torch.nn.Embedding.html: the output is
``weight[input]``, with ``weight`` of shape (num_embeddings, embedding_dim) drawn from N(0, 1),
and the weight's gradient, for a dense gradient, sums the output gradients of every position
reading a row), written here as one-hot products: y = onehot(x) W and dW = onehot(x)ᵀ g.
Confirmed once against torch 2.13 with copied weights: forward and weight gradient differ by
0.0 (forward) and 1.8e-15 (gradient, repeated ids). Also: dtypes, refusals, the network path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.cli import main
from plugnet.protocols import TakesIndices
from plugnet_builtins.embedding import Embedding

F64 = np.dtype(np.float64)


def built(input_dim: int, output_dim: int, shape: tuple[int, ...], dtype: Any = F64) -> Embedding:
    layer = plugnet.layer({"type": "embedding", "input_dim": input_dim, "output_dim": output_dim})
    assert isinstance(layer, Embedding)
    layer.build(shape, rng=np.random.default_rng(0), dtype=np.dtype(dtype))
    return layer


def one_hot(x: np.ndarray, count: int) -> np.ndarray:
    """(x.size, count) rows of zeros with a one at each id."""
    return (x.reshape(-1, 1) == np.arange(count)).astype(np.float64)


@pytest.mark.parametrize("shape", [(), (7,), (3, 4)])
def test_forward_and_weight_gradient_equal_the_definition(shape: tuple[int, ...]) -> None:
    layer = built(6, 5, shape)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, (8, *shape))
    x.reshape(-1)[:3] = 2  # an id read three times: its gradients must add up
    w = layer.params["w"]
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, (one_hot(x, 6) @ w).reshape(*x.shape, 5), rtol=0, atol=1e-9)
    g = rng.standard_normal(y.shape)
    assert layer.backward(g) is None
    expected = one_hot(x, 6).T @ g.reshape(-1, 5)
    np.testing.assert_allclose(layer.grads["w"], expected, rtol=0, atol=1e-9)
    assert np.all(layer.grads["w"][~np.isin(np.arange(6), x)] == 0)  # rows nobody reads


def test_the_gradient_is_replaced_not_accumulated_across_backwards() -> None:
    layer = built(4, 2, (3,))
    x = np.array([[0, 1, 1]])
    layer.forward(x)
    layer.backward(np.ones((1, 3, 2)))
    layer.forward(np.array([[3, 3, 3]]))
    layer.backward(np.ones((1, 3, 2)))
    np.testing.assert_array_equal(layer.grads["w"], [[0, 0], [0, 0], [0, 0], [3, 3]])


def test_pytorchs_layout_and_default_initialization() -> None:
    layer = built(400, 300, (2,))
    w = layer.params["w"]
    assert w.shape == (400, 300)  # torch.nn.Embedding(400, 300).weight.shape
    assert isinstance(layer, TakesIndices) and layer.index_count == 400
    assert abs(float(w.mean())) < 0.01 and abs(float(w.std()) - 1.0) < 0.01  # N(0, 1)
    assert layer.get_config() == {
        "input_dim": 400,
        "output_dim": 300,
        "initializer": {"name": "plugnet:normal", "mean": 0.0, "std": 1.0},
    }
    other = plugnet.layer(
        {"type": "embedding", "input_dim": 3, "output_dim": 2, "initializer": "zeros"}
    )
    assert other.get_config()["initializer"] == {"name": "plugnet:zeros"}
    other.build((), rng=np.random.default_rng(0), dtype=F64)
    assert not other.params["w"].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ids", [np.int8, np.int32, np.int64, np.uint8, np.uint64])
def test_outputs_and_gradients_keep_the_built_dtype(dtype: Any, ids: Any) -> None:
    layer = built(5, 3, (4,), dtype)
    y = layer.forward(np.array([[0, 4, 2, 2]], dtype=ids))
    assert y.dtype == dtype and y.shape == (1, 4, 3)
    layer.backward(np.ones(y.shape, dtype=np.float64))
    assert layer.grads["w"].dtype == dtype


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (
            np.array([[0.0, 1.0]]),
            "embedding takes integer token ids in 0..4, but x has dtype float64; "
            "pass integer ids, e.g. x.astype(np.int64)",
        ),
        (np.array([[True, False]]), "but x has dtype bool"),
        (np.array([[0, -1]]), "embedding takes token ids in 0..4, but x holds -1 at index (0, 1)"),
        (np.array([[5, 0]]), "but x holds 5 at index (0, 0); map the ids into that range"),
    ],
)
def test_forward_refuses_what_is_not_an_id_in_range(x: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        built(5, 3, (2,)).forward(x)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"input_dim": 0, "output_dim": 2},
            "embedding input_dim must be a positive integer, got 0",
        ),
        ({"input_dim": 3, "output_dim": 2.5}, "embedding output_dim must be a positive integer"),
    ],
)
def test_sizes_must_be_positive_integers(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plugnet.layer({"type": "embedding", **config})


def embedding_net(**layer: Any) -> plugnet.Sequential:
    return plugnet.Sequential(
        [
            {"type": "embedding", "input_dim": 6, "output_dim": 3, **layer},
            "flatten",
            {"type": "dense", "units": 2, "activation": "softmax"},
        ],
        error="cross_entropy",
        seed=0,
    )


def test_a_network_takes_integer_ids_as_they_are() -> None:
    net = embedding_net()
    x = np.array([[0, 5, 2], [1, 1, 4]], dtype=np.int32)
    net.fit(x, np.array([0, 1]), epochs=2, batch_size=2, verbose=0)
    assert net.input_shape == (3,)
    y = net.predict(x)
    assert y.shape == (2, 2) and y.dtype == np.float32
    w = net["embedding_1"].params["w"]
    manual = net.layers[2].forward(np.take(w, x, axis=0).reshape(2, -1))
    np.testing.assert_array_equal(y, manual)


def test_one_id_per_sample_is_a_batch_of_shape_n() -> None:
    net = plugnet.Sequential(
        [{"type": "embedding", "input_dim": 4, "output_dim": 2}, {"type": "dense", "units": 1}],
        error="mse",
        seed=0,
    )
    ids = np.array([0, 3, 3, 1])
    net.fit(ids, np.zeros(4), epochs=1, batch_size=4, verbose=0)
    assert net.input_shape == () and net.predict(ids).shape == (4, 1)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (
            np.array([[0.0, 1.0, 2.0]]),
            "the first layer, 'embedding_1', takes integer token ids in 0..5, but x has dtype "
            "float64; pass integer ids, e.g. x.astype(np.int64) when they are whole numbers",
        ),
        (
            np.array([[0, 1, 6]]),
            "the first layer, 'embedding_1', takes token ids in 0..5, but x holds 6 at index "
            "(0, 2); map the ids into that range, or give the layer a larger input_dim",
        ),
        (np.array([[0, -2, 1]]), "x holds -2 at index (0, 1)"),
        (np.array([[True, False, True]]), "but x has dtype bool"),
        (np.zeros((0, 3), dtype=np.int64), "x is empty (shape (0, 3))"),
        (np.int64(3), "x is a scalar; give token ids with a batch axis"),
    ],
)
def test_a_network_refuses_ids_that_are_not_integers_in_range(x: np.ndarray, message: str) -> None:
    for call in (lambda net: net.predict(x), lambda net: net.fit(x, [0], epochs=1, verbose=0)):
        net = embedding_net()
        with pytest.raises(ValueError) as caught:
            call(net)
        assert message in str(caught.value)
        assert not net.built


def test_an_embedding_after_the_first_layer_is_refused_when_the_network_is_made() -> None:
    with pytest.raises(
        ValueError,
        match=r"layer 'embedding_1' \(Embedding\) takes integer indices, so it must read an "
        r"input of the model, not the layer 'dense_1'",
    ):
        plugnet.Sequential(
            [{"type": "dense", "units": 2}, {"type": "embedding", "input_dim": 4, "output_dim": 2}],
            error="mse",
        )


def test_a_saved_embedding_network_loads_and_predicts_the_same(tmp_path: Any) -> None:
    net = embedding_net()
    x = np.array([[0, 5, 2], [1, 1, 4]])
    net.fit(x, np.array([0, 1]), epochs=1, batch_size=2, verbose=0)
    net.save(tmp_path / "model")
    loaded = plugnet.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


TOKENS_TOML = """
[data]
source = "{source}"
test_size = 0.25
[model]
error = "cross_entropy"
optimizer = "adam(lr=0.01)"
layers = [
  {{ type = "embedding", input_dim = 20, output_dim = 4 }},
  {{ type = "flatten" }},
  {{ type = "dense", units = 2, activation = "softmax" }},
]
[training]
epochs = 2
batch_size = 32
"""


def test_the_cli_trains_on_integer_ids_from_an_npz_and_refuses_a_csvs_floats(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    x = np.random.default_rng(0).integers(0, 20, (80, 10))
    t = (x == 3).any(axis=1).astype(np.int64)
    np.savez(tmp_path / "tokens.npz", x=x, t=t)
    config = tmp_path / "npz.toml"
    config.write_text(TOKENS_TOML.format(source="tokens.npz"), encoding="utf-8")
    model = tmp_path / "model.npz"
    assert main(["train", str(config), "--out", str(model)]) == 0
    assert main(["evaluate", str(model), "--data", str(tmp_path / "tokens.npz")]) == 0
    assert "accuracy:" in capsys.readouterr().out
    # A .csv's cells are read as floats, which the network does not cast to ids.
    rows = ["t" + ",t".join(map(str, range(10))) + ",label"]
    rows += [",".join(map(str, [*r, label])) for r, label in zip(x, t, strict=True)]
    (tmp_path / "tokens.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config.write_text(TOKENS_TOML.format(source="tokens.csv"), encoding="utf-8")
    assert main(["train", str(config)]) != 0
    assert "'embedding_1', takes integer token ids in 0..19, but x has dtype float64" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("reader", [{"type": "gru", "units": 8}, "flatten"])
def test_an_embedding_learns_which_of_two_tokens_comes_first(reader: Any) -> None:
    """The docs' task (docs/embedding.md), smaller: label 1 when token 3 occurs before any 7."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 20, size=(1500, 10))
    # The first position of each token, 10 where it is absent.
    threes, sevens = (np.where(x == v, np.arange(10), 10).min(axis=1) for v in (3, 7))
    t = (threes < sevens).astype(np.int64)
    net = plugnet.Sequential(
        [
            {"type": "embedding", "input_dim": 20, "output_dim": 8},
            reader,
            {"type": "dense", "units": 2, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer="adam(lr=0.01)",
        seed=0,
    )
    net.fit(x[:1000], t[:1000], epochs=10, batch_size=32, verbose=0)
    accuracy = np.mean(net.predict(x[1000:]).argmax(axis=1) == t[1000:])
    majority = max(t[1000:].mean(), 1 - t[1000:].mean())
    assert majority < 0.7 and accuracy > 0.9, (accuracy, majority)


def test_two_embeddings_of_one_input_check_the_smaller_range_naming_its_layer() -> None:
    net = plugnet.Model(
        [
            {"type": "embedding", "input_dim": 4, "output_dim": 2, "name": "narrow"},
            {"type": "embedding", "input_dim": 9, "output_dim": 2, "name": "wide",
             "inputs": ["input"]},
            {"type": "concatenate", "inputs": ["narrow", "wide"]},
            {"type": "flatten"},
            {"type": "dense", "units": 1},
        ],
        error="mse",
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"^'narrow' takes token ids in 0\.\.3, but x holds 5"):
        net.predict(np.array([[1, 5], [0, 2]]))
