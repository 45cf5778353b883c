"""Graph models: layers that name their inputs, merge layers fed lists, and a backward that
adds the gradients of every branch. The merge layer here is a third party's (registered through
the hook, as a plugin would), so the engine is tested on the contract alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet._registry import Registry
from plugnet.network import Model, Sequential
from plugnet.testing import check_model_gradients
from tests.conftest import make_plugin


class Sum:
    """A third party's merge layer: y = Σ x_i, so every input's gradient is the output's."""

    merges_inputs = True

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.grads: dict[str, Any] = {}
        self.count = 0

    def build(self, input_shapes: Any, *, rng: Any, dtype: Any) -> tuple[int, ...]:
        shapes = {tuple(s) for s in input_shapes}
        if len(shapes) != 1:
            raise ValueError(f"the inputs' shapes differ: {list(input_shapes)}")
        self.count = len(input_shapes)
        return tuple(input_shapes[0])

    def forward(self, xs: Any, *, training: bool) -> Any:
        return sum(xs[1:], start=xs[0])

    def backward(self, grad: Any) -> list[Any]:
        return [grad] * self.count

    def get_config(self) -> dict[str, Any]:
        return {}


@pytest.fixture
def registry(fresh_registry: Registry) -> Registry:
    def register_layers(register: Any) -> None:
        register(Sum, "sum")

    fresh_registry.add_plugin(
        make_plugin("graphtest", register_layers=register_layers), provider="graphtest"
    )
    return fresh_registry


def dense(name: str, units: int = 6, activation: str = "tanh", **extra: Any) -> dict[str, Any]:
    return {"type": "dense", "units": units, "activation": activation, "name": name, **extra}


def residual(registry: Registry, **options: Any) -> Model:
    """input → h1 → h2; sum(h1, h2) → out: h1's output branches to h2 and to the sum."""
    return Model(
        [
            dense("h1"),
            dense("h2"),
            {"type": "sum", "name": "skip", "inputs": ["h1", "h2"]},
            dense("out", units=3, activation="softmax"),
        ],
        error="cross_entropy",
        seed=1,
        registry=registry,
        **options,
    )


RNG = np.random.default_rng(0)
X = RNG.standard_normal((24, 4))
LABELS = RNG.integers(0, 3, 24)
T = np.eye(3)[LABELS]


def test_the_gradients_of_every_branch_are_added(registry: Registry) -> None:
    net = residual(registry, dtype="float64")
    net.build((4,))
    assert check_model_gradients(net, X, T) < 1e-8
    # The same value read twice by one merge (y = h + h) gets both branches' gradients.
    twice = Model(
        [dense("h"), {"type": "sum", "inputs": ["h", "h"]}, dense("out", 3, "softmax")],
        error="cross_entropy",
        dtype="float64",
        registry=registry,
    )
    twice.build((4,))
    check_model_gradients(twice, X, T)
    # Branches that leave the input separately and meet at the output.
    fork = Model(
        [
            dense("a", inputs=["input"]),
            dense("b", activation="sigmoid", inputs=["input"]),
            dense("c", inputs=["a"]),
            {"type": "sum", "name": "meet", "inputs": ["a", "b", "c"]},
            dense("out", 3, "softmax"),
        ],
        error="cross_entropy",
        dtype="float64",
        registry=registry,
    )
    fork.build((4,))
    check_model_gradients(fork, X, T)


def test_the_layers_run_in_topological_order_whatever_their_listing(registry: Registry) -> None:
    layers = [
        dense("out", 3, "softmax", inputs=["skip"]),
        {"type": "sum", "name": "skip", "inputs": ["h1", "h2"]},
        dense("h2", inputs=["h1"]),
        dense("h1", inputs=["input"]),
    ]
    shuffled = Model(layers, error="cross_entropy", seed=1, registry=registry, dtype="float64")
    assert [shuffled.layer_names[i] for i in shuffled.wiring.order] == ["h1", "h2", "skip", "out"]
    shuffled.build((4,))
    check_model_gradients(shuffled, X, T)


def test_a_chain_model_trains_exactly_as_a_sequential(registry: Registry) -> None:
    layers = [dense("h1"), dense("out", 3, "softmax")]
    chain = Model(layers, error="cross_entropy", seed=5, registry=registry)
    stack = Sequential(layers, error="cross_entropy", seed=5, registry=registry)
    assert chain.wiring.is_chain
    first = chain.fit(X, LABELS, epochs=3, batch_size=8, verbose=0)
    second = stack.fit(X, LABELS, epochs=3, batch_size=8, verbose=0)
    assert first.history == second.history
    np.testing.assert_array_equal(chain.predict(X), stack.predict(X))


@pytest.mark.parametrize(
    ("layers", "options", "match"),
    [
        (
            [dense("h1"), dense("out", inputs=["h9"])],
            {},
            r"layer 'out' reads 'h9', which is neither an input of the model \('input'\) nor a "
            r"layer; the layers are 'h1', 'out'",
        ),
        (
            [dense("a", inputs=["c"]), dense("b", inputs=["a"]), dense("c", inputs=["b"])],
            {},
            r"the layers form a cycle: 'b' reads 'a', 'c' reads 'b', 'a' reads 'c'",
        ),
        ([dense("a", inputs=["a"])], {}, r"cycle: 'a' reads 'a'"),
        (
            [dense("a"), dense("b", inputs=["input"])],
            {},
            r"the layers 'a', 'b' are read by no other layer, but a model has one output",
        ),
        (
            [dense("a")],
            {"inputs": ["x", "y"]},
            r"the model's input 'y' is read by no layer",
        ),
        (
            [dense("a"), dense("b", inputs=["input", "a"])],
            {},
            r"layer 'b' \(Dense\) reads one value, but its inputs name 2: 'input', 'a'; merge "
            r"them first",
        ),
        (
            [dense("a"), {"type": "sum", "name": "s", "inputs": ["a"]}],
            {},
            r"layer 's' \(Sum\) merges values but reads only 'a'",
        ),
        ([dense("x")], {"inputs": ["x"]}, r"'x' names both a model input and a layer"),
        ([dense("a", inputs=[])], {}, r"layer 'a''s inputs must be a non-empty list of names"),
        ([dense("a", inputs=[3])], {}, r"non-empty list of names \(strings\), got \[3\]"),
    ],
)
def test_a_bad_graph_is_refused_when_built_naming_the_layers(
    registry: Registry, layers: list[Any], options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        Model(layers, error="square", registry=registry, **options)


def test_shapes_that_do_not_fit_are_refused_naming_the_layer(registry: Registry) -> None:
    net = Model(
        [dense("h1", units=8), dense("h2", units=5), {"type": "sum", "inputs": ["h1", "h2"]}],
        error="square",
        registry=registry,
    )
    with pytest.raises(
        ValueError, match=r"layer 'sum_1' cannot read 'h1' \(N, 8\), 'h2' \(N, 5\): the inputs'"
    ):
        net.build((4,))
    assert not net.built
    # and through fit, which leaves nothing half-built
    with pytest.raises(ValueError, match="layer 'sum_1' cannot read"):
        net.fit(X, X[:, :1], epochs=1, verbose=0)
    assert not net.built


def test_a_sequential_refuses_named_inputs(registry: Registry) -> None:
    with pytest.raises(ValueError, match=r"each layer of a Sequential reads the one before"):
        Sequential([dense("a"), dense("b", inputs=["input"])], error="square", registry=registry)


def test_fit_evaluate_predict_metrics_and_callbacks_work_on_a_graph(registry: Registry) -> None:
    net = residual(registry, metrics=["accuracy", "f1(average='macro')"])
    stop = plugnet.EarlyStopping(monitor="val_loss", patience=1)
    history = net.fit(
        X, LABELS, epochs=40, batch_size=8, validation_split=0.25, callbacks=[stop], verbose=0
    )
    assert {"loss", "accuracy", "f1", "val_loss", "val_accuracy", "val_f1"} <= set(history.history)
    assert len(history.epoch) < 40 or stop.stopped_epoch == 0
    scores = net.evaluate(X, LABELS)
    assert set(scores) == {"loss", "accuracy", "f1"} and 0 <= scores["accuracy"] <= 1
    assert net.predict(X).shape == (24, 3)
    assert net["skip"].count == 2 and net[2] is net["skip"]


def test_the_summary_lists_what_each_layer_reads(registry: Registry) -> None:
    net = residual(registry)
    net.build((4,))
    text = net.summary(print_fn=None)
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "type", "output", "shape", "params", "inputs"]
    assert lines[4].split() == ["skip", "Sum", "(N,", "6)", "0", "h1,", "h2"]
    assert "total parameters: 93" in text  # 4·6+6, 6·6+6, 6·3+3
    # a Sequential's summary is as it was, without the column
    stack = Sequential([dense("h1")], error="square", registry=registry)
    assert "inputs" not in stack.summary(print_fn=None)


def test_the_mermaid_diagram_draws_every_value_read(registry: Registry) -> None:
    diagram = residual(registry).to_mermaid().splitlines()
    assert diagram[0] == "flowchart TD"
    assert '    v0[/"input"/]' in diagram
    assert '    v3["skip<br/><small>Sum</small>"]' in diagram
    arrows = [line.strip() for line in diagram if "-->" in line]
    assert arrows == ["v0 --> v1", "v1 --> v2", "v1 --> v3", "v2 --> v3", "v3 --> v4"]


def test_a_graph_saves_and_loads_as_a_graph(registry: Registry, tmp_path: Path) -> None:
    net = residual(registry)
    net.fit(X, LABELS, epochs=2, batch_size=8, verbose=0)
    config = net.get_config()
    assert config["inputs"] == ["input"]
    assert [r["inputs"] for r in config["layers"]] == [["input"], ["h1"], ["h1", "h2"], ["skip"]]
    path = tmp_path / "residual.npz"
    net.save(path)
    loaded = plugnet.load(path, registry=registry)
    assert type(loaded) is Model and loaded.layer_inputs == net.layer_inputs
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    # the optimizer state and the random state came too: training goes on alike
    net.fit(X, LABELS, epochs=1, batch_size=8, verbose=0)
    loaded.fit(X, LABELS, epochs=1, batch_size=8, verbose=0)
    for name, value in net.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)
    # a Sequential's file still loads as a Sequential, without the graph keys
    stack = Sequential([dense("h1"), dense("out", 3, "softmax")], error="cross_entropy")
    stack.fit(X, LABELS, epochs=1, verbose=0)
    assert "inputs" not in stack.get_config()
    stack.save(tmp_path / "stack.npz")
    assert type(plugnet.load(tmp_path / "stack.npz")) is Sequential


def test_a_tampered_graph_file_is_refused(registry: Registry, tmp_path: Path) -> None:
    import io
    import zipfile

    net = residual(registry)
    net.fit(X, LABELS, epochs=1, verbose=0)
    path = tmp_path / "residual.npz"
    net.save(path)

    def tampered(change: Any) -> Path:
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        config_name = next(n for n in members if n.startswith("__config__"))
        raw = np.lib.format.read_array(io.BytesIO(members[config_name]))
        config = json.loads(raw.tobytes())
        change(config)
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.frombuffer(json.dumps(config).encode(), np.uint8))
        members[config_name] = buffer.getvalue()
        out = tmp_path / "tampered.npz"
        with zipfile.ZipFile(out, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return out

    def cycle(config: dict[str, Any]) -> None:
        config["layers"][0]["inputs"] = ["skip"]

    def unread(config: dict[str, Any]) -> None:
        config["inputs"] = ["input", "extra"]

    def bad_reads(config: dict[str, Any]) -> None:
        config["layers"][1]["inputs"] = "h1"

    def chain_with_reads(config: dict[str, Any]) -> None:
        del config["inputs"]

    for change, match in [
        (cycle, r"the layers form a cycle: 'skip' reads 'h1', 'h1' reads 'skip'|cycle"),
        (unread, r"input_shape .* is not a list|the model's input 'extra' is read by no layer"),
        (bad_reads, r"a layer record's inputs are not 1 to 1024 names"),
        (chain_with_reads, r"a layer record's inputs are not 1 to 1024 names"),
    ]:
        with pytest.raises(plugnet.ModelFileError, match=match) as caught:
            plugnet.load(tampered(change), registry=registry)
        assert str(caught.value).startswith(str(tmp_path / "tampered.npz"))


def two_inputs(registry: Registry, **options: Any) -> Model:
    return Model(
        [
            dense("a", inputs=["left"]),
            dense("b", inputs=["right"]),
            {"type": "sum", "name": "both", "inputs": ["a", "b"]},
            dense("out", 3, "softmax"),
        ],
        inputs=["left", "right"],
        error="cross_entropy",
        seed=2,
        registry=registry,
        **options,
    )


def test_a_model_with_two_inputs_takes_a_dict(registry: Registry, tmp_path: Path) -> None:
    right = RNG.standard_normal((24, 2))
    data = {"left": X, "right": right}
    net = two_inputs(registry)
    history = net.fit(data, LABELS, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    assert "val_loss" in history.history
    assert net.input_shape == {"left": (4,), "right": (2,)}
    assert net.predict(data).shape == (24, 3)
    assert set(net.evaluate(data, LABELS)) == {"loss", "accuracy"}
    net.save(tmp_path / "two.npz")
    loaded = plugnet.load(tmp_path / "two.npz", registry=registry)
    np.testing.assert_array_equal(loaded.predict(data), net.predict(data))
    exact = two_inputs(registry, dtype="float64")
    exact.build({"left": (4,), "right": (2,)})
    check_model_gradients(exact, (X, right), T)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (X, r"the model has inputs \['left', 'right'\]; give x as a dict"),
        ({"left": X}, r"x is a dict with keys \['left'\], but the model's inputs are"),
        ({"left": X, "right": X[:5, :2]}, r"different numbers of samples: 'left' 24, 'right' 5"),
        ({"left": X, "right": np.full((24, 2), np.nan)}, r"x\['right'\] holds 48 NaN"),
    ],
)
def test_bad_inputs_of_a_two_input_model_are_refused(
    registry: Registry, x: Any, match: str
) -> None:
    net = two_inputs(registry)
    with pytest.raises(ValueError, match=match):
        net.fit(x, LABELS, epochs=1, verbose=0)
    assert not net.built


def test_only_layers_with_something_trainable_upstream_run_backward(registry: Registry) -> None:
    net = Model(
        [
            dense("frozen", inputs=["input"], trainable=False),
            dense("side", inputs=["input"]),
            {"type": "sum", "name": "meet", "inputs": ["frozen", "side"]},
            dense("out", 3, "softmax"),
        ],
        error="cross_entropy",
        registry=registry,
    )
    net.build((4,))
    backward = {net.layer_names[i]: method for i, method in net._backward_methods.items()}
    # the frozen first layer has nothing to learn and nothing upstream: it is skipped;
    # "side" learns but has nothing upstream, so it skips its dE/dx (SkipsInputGrad)
    assert set(backward) == {"side", "meet"}
    assert backward["side"].keywords == {"need_input_grad": False}  # type: ignore[attr-defined]
    before = net["frozen"].params["w"].copy()
    net.fit(X, LABELS, epochs=2, verbose=0)
    np.testing.assert_array_equal(net["frozen"].params["w"], before)
    net["frozen"].trainable = True  # rewired on the next step
    net.fit(X, LABELS, epochs=1, verbose=0)
    assert not np.array_equal(net["frozen"].params["w"], before)


ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_picture_is_the_residual_examples_graph() -> None:
    from plugnet.config import load_config

    net = load_config(ROOT / "examples" / "digits_residual.toml").model.build()
    text = (ROOT / "docs" / "graphs.md").read_text(encoding="utf-8")
    block = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block.rstrip("\n") == net.to_mermaid()


@pytest.mark.parametrize(
    ("config", "floor"), [("digits_residual.toml", 0.85), ("digits_residual_cnn.toml", 0.85)]
)
def test_the_residual_examples_train_through_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, config: str, floor: float
) -> None:
    import re

    from plugnet.cli import main

    pytest.importorskip("sklearn")
    model = tmp_path / "model.npz"
    args = ["train", str(ROOT / "examples" / config), "--epochs", "3", "--verbose", "0"]
    assert main([*args, "--out", str(model)]) == 0
    out = capsys.readouterr().out
    match = re.search(r"^test accuracy: ([0-9.]+)$", out, re.MULTILINE)
    assert match is not None and float(match[1]) > floor, out
    loaded = plugnet.load(model)
    assert type(loaded) is Model and any(len(reads) == 2 for reads in loaded.layer_inputs)
    # the saved graph scores through the CLI as any model does: the same test accuracy
    assert main(["evaluate", str(model), "--data", "digits"]) == 0
    scored = re.search(r"^accuracy: ([0-9.]+)$", capsys.readouterr().out, re.MULTILINE)
    assert scored is not None and scored[1] == match[1]


class Doubled(Sum):
    """A merge layer whose backward is wrong: it sends back twice the gradient."""

    def backward(self, grad: Any) -> list[Any]:
        return [2 * grad] * self.count


def test_the_kit_checks_each_layer_of_a_graph_on_the_shapes_it_reads(registry: Registry) -> None:
    from plugnet.testing import ConformanceError, check_model_layers

    net = Model(
        [
            dense("h1", units=3),
            dense("h2", units=3),
            {"type": "concatenate", "name": "both", "inputs": ["h1", "h2"]},
            dense("out", 2, "softmax"),
        ],
        error="cross_entropy",
        registry=registry,
    )
    with pytest.raises(ValueError, match="not built yet"):
        check_model_layers(net)
    net.build((5,))
    check_model_layers(net)  # concatenate is checked on [(3,), (3,)], out on (6,)
    broken = Model(
        [dense("h1", units=3), dense("h2", units=3), Doubled(), dense("out", 2, "softmax")],
        layer_inputs=[None, None, ["h1", "h2"], None],
        error="cross_entropy",
        registry=registry,
    )
    broken.build((5,))
    with pytest.raises(ConformanceError, match=r"layer 'doubled_1': .*input gradient of xs\[0\]"):
        check_model_layers(broken)


def test_a_graphs_config_rebuilds_as_a_graph_and_not_as_a_sequential(registry: Registry) -> None:
    config = residual(registry).get_config()
    rebuilt = Model.from_config(config, registry=registry)
    assert type(rebuilt) is Model and rebuilt.layer_inputs == residual(registry).layer_inputs
    with pytest.raises(ValueError, match=r"the config is a graph model's .* plugnet.Model"):
        Sequential.from_config(config, registry=registry)
    chain = Sequential([dense("h1")], error="square", registry=registry).get_config()
    assert type(Model.from_config(chain, registry=registry)) is Sequential
