"""What a learner sees at a prompt or a notebook cell: reprs and HTML of layers, models and
histories, summary() once, History.plot() as a figure, and dir(plugnet)."""

from __future__ import annotations

import os
import rlcompleter
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import plugnet
from plugnet import History, Model, Sequential
from plugnet_builtins.layers import Dense


def built(spec: object, shape: tuple[int, ...]) -> object:
    layer = plugnet.layer(spec)
    layer.build(shape, rng=np.random.default_rng(0), dtype=np.dtype(np.float32))
    return layer


# -- components ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ({"type": "dense", "units": 64, "activation": "relu"},
         "Dense(units=64, activation='relu')"),
        ("dense(units=3)", "Dense(units=3)"),
        ("dense(units=3, initializer='he', use_bias=False)",
         "Dense(units=3, initializer='he', use_bias=False)"),
        ("dense(units=2, activation='leaky_relu(alpha=0.2)')",
         "Dense(units=2, activation='leaky_relu(alpha=0.2)')"),
        ("conv2d(filters=4, kernel_size=3, padding='same')",
         "Conv2D(filters=4, kernel_size=3, padding='same')"),
        ("lstm(units=5)", "LSTM(units=5)"),
        ("dropout(rate=0.5)", "Dropout(rate=0.5)"),
        ("add", "Add()"),
    ],
)  # fmt: skip
def test_a_layer_reads_as_the_arguments_that_differ_from_the_defaults(
    spec: object, text: str
) -> None:
    assert repr(plugnet.layer(spec)) == text


def test_other_components_read_the_same_way() -> None:
    assert repr(plugnet.activation("leaky_relu")) == "LeakyReLU()"
    assert repr(plugnet.activation("leaky_relu(alpha=0.3)")) == "LeakyReLU(alpha=0.3)"
    assert repr(plugnet.initializer("he(distribution='uniform')")) == ("He(distribution='uniform')")
    assert repr(plugnet.optimizer("adam(lr=0.01)")) == "Adam(lr=0.01)"


def test_equal_components_hash_equal_whatever_their_repr_leaves_out() -> None:
    chosen = Dense(units=3)  # xavier, picked by the layer: not in the repr
    given = Dense(units=3, initializer="xavier")
    assert chosen == given and hash(chosen) == hash(given)
    assert repr(chosen) == "Dense(units=3)"
    assert repr(given) == "Dense(units=3, initializer='xavier')"
    assert Dense(units=3) != Dense(units=4)


def test_a_layer_html_lists_its_parameters_once_built() -> None:
    assert plugnet.layer("dense(units=2)")._repr_html_() == "<code>Dense(units=2)</code>"
    html = built("dense(units=2)", (3,))._repr_html_()
    assert html.startswith("<code>Dense(units=2)</code><table>")
    assert "<td>w</td><td>(3, 2)</td><td>6</td>" in html and "<td>b</td><td>(2,)</td>" in html


# -- models --------------------------------------------------------------------------------------


def stack() -> Sequential:
    return Sequential(
        [{"type": "dense", "units": 4, "name": "<hidden>"}, "dense(units=2, activation='softmax')"],
        error="cross_entropy",
    )


def graph() -> Model:
    return Model(
        [
            {"type": "dense", "units": 3, "inputs": ["left"], "name": "a&b"},
            {"type": "dense", "units": 3, "inputs": ["right"], "name": "b"},
            {"type": "add", "inputs": ["a&b", "b"]},
        ],
        inputs=["left", "right"],
        error="square",
    )


def test_a_model_repr_names_its_layers_and_once_built_its_shapes_and_size() -> None:
    net = stack()
    assert repr(net) == "Sequential(2 layers: <hidden>, dense_1; not built yet)"
    net.build((5,))
    assert repr(net) == "Sequential(2 layers: <hidden>, dense_1; (N, 5) -> (N, 2); 34 parameters)"
    model = graph()
    model.build({"left": (2,), "right": (4,)})
    assert repr(model) == (
        "Model(inputs: left, right; 3 layers: a&b, b, add_1; (N, 2), (N, 4) -> (N, 3); "
        "24 parameters)"
    )


def test_a_long_model_repr_names_its_first_layers() -> None:
    net = Sequential([f"dense(units={i + 1})" for i in range(12)], error="square")
    assert repr(net).startswith("Sequential(12 layers: dense_1, dense_2,")
    assert "dense_8, ... (4 more); not built yet)" in repr(net)


def test_a_model_html_is_the_summary_table_escaped() -> None:
    net = stack()
    unbuilt = net._repr_html_()
    assert "<td>&lt;hidden&gt;</td><td" in unbuilt and "<td>?</td>" in unbuilt
    assert "total parameters: 0 (not built yet)" in unbuilt
    net.build((5,))
    html = net._repr_html_()
    assert "<hidden>" not in html
    assert "<th>layer</th><th>type</th><th>output shape</th><th>params</th></tr>" in html
    assert "<td>(N, 4)</td><td>24</td>" in html and "total parameters: 34" in html
    # The type cell carries the layer's configuration, escaped for the attribute.
    assert 'title="Dense(units=2, activation=&#x27;softmax&#x27;)">Dense</td>' in html

    model = graph()
    model.build({"left": (2,), "right": (4,)})
    html = model._repr_html_()
    assert "<th>inputs</th>" in html and "<td>a&amp;b, b</td>" in html and "<td>left</td>" in html


def test_summary_prints_once_and_returns_none_or_with_print_fn_none_returns_the_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    net = stack()
    net.build((5,))
    assert net.summary() is None
    printed = capsys.readouterr().out
    assert printed.count("total parameters: 34") == 1
    lines: list[str] = []
    assert net.summary(print_fn=lines.append) is None
    text = net.summary(print_fn=None)
    assert capsys.readouterr().out == ""
    assert lines == [text] and printed == text + "\n"


# -- histories -----------------------------------------------------------------------------------


def history(epochs: int, keys: tuple[str, ...] = ("loss", "accuracy", "val_loss")) -> History:
    record = History()
    for epoch in range(epochs):
        record.on_epoch_end(epoch, {key: 1.0 / (epoch + 1 + i) for i, key in enumerate(keys)})
    return record


def test_a_history_repr_and_html_table_of_its_last_epochs() -> None:
    record = history(10)
    assert repr(record) == "History(epochs=10, keys=[loss, accuracy, val_loss])"
    html = record._repr_html_()
    assert "(the last 5 epochs)" in html and html.count("<tr><td>") == 5
    assert "<tr><td>6</td>" in html and "<tr><td>10</td><td>0.1</td>" in html
    assert "<tr><td>5</td>" not in html
    assert "<th>epoch</th><th>loss</th><th>accuracy</th><th>val_loss</th>" in html
    assert repr(History()) == "History(epochs=0, keys=[])"
    assert History()._repr_html_() == "<table><caption>History(epochs=0, keys=[])</caption></table>"


def test_a_history_html_escapes_keys_and_aligns_a_key_logged_late() -> None:
    record = history(2, keys=("loss",))
    record.on_epoch_end(2, {"loss": 0.25, "a<b": 0.5})
    html = record._repr_html_()
    assert "<th>a&lt;b</th>" in html
    assert "<tr><td>1</td><td>1</td><td></td></tr>" in html
    assert "<tr><td>3</td><td>0.25</td><td>0.5</td></tr>" in html


def test_plot_without_a_path_returns_a_closed_figure() -> None:
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    backend = matplotlib.get_backend()
    open_before = plt.get_fignums()
    figure = history(3).plot()
    assert isinstance(figure, Figure)
    assert plt.get_fignums() == open_before  # closed: a notebook shows it once, as the value
    assert [axis.get_title() for axis in figure.axes] == ["loss", "accuracy"]
    loss = figure.axes[0]
    assert [line.get_label() for line in loss.get_lines()] == ["training", "validation"]
    assert loss.get_yscale() == "linear" and matplotlib.get_backend() == backend


def test_plot_picks_metrics_and_a_log_scale() -> None:
    record = history(3)
    figure = record.plot(metrics=["accuracy"], logy=True)
    assert [axis.get_title() for axis in figure.axes] == ["accuracy"]
    assert figure.axes[0].get_yscale() == "log"
    assert [a.get_title() for a in record.plot(metrics="loss").axes] == ["loss"]
    with pytest.raises(ValueError, match=r"got \['val_loss'\]; name one or more of loss, accuracy"):
        record.plot(metrics=["val_loss"])
    with pytest.raises(ValueError, match=r"got \[\]; name one or more of"):
        record.plot(metrics=[])


def test_plot_to_a_path_with_options_writes_the_file(tmp_path: Path) -> None:
    target = history(3).plot(tmp_path / "log.png", metrics=["loss"], logy=True)
    assert target.read_bytes().startswith(b"\x89PNG")


# -- dir(plugnet) --------------------------------------------------------------------------------


def test_dir_lists_every_public_name_the_lazy_ones_too() -> None:
    names = dir(plugnet)
    assert set(plugnet.__all__) <= set(names) and set(plugnet._LAZY) <= set(names)
    assert names == sorted(names)
    assert not {"Any", "TYPE_CHECKING", "annotations", "_version", "_LAZY"} & set(names)
    assert "errors" in names  # an imported public submodule, as for any package


def test_dir_in_a_fresh_interpreter_and_the_repl_completes_lazy_names() -> None:
    code = (
        "import sys, plugnet; names = dir(plugnet); "
        "print('Sequential' in names, 'Model' in names, 'numpy' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(plugnet.__file__).parent.parent)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.split() == ["True", "True", "False"]  # listed, and import plugnet stays cheap
    completer = rlcompleter.Completer({"plugnet": plugnet})
    matches = [completer.complete("plugnet.S", i) for i in range(4)]
    assert "plugnet.Sequential(" in matches and "plugnet.SpecError(" in matches
