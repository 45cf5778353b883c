"""Convolutional networks end to end: training flags, save/load with batch_norm, the first
layer's skipped input gradient, and the digits_cnn.toml example."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.cli import main
from plugnet.network import Sequential

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
X = np.random.default_rng(0).standard_normal((40, 2, 6, 6)).astype(np.float32)
T = np.random.default_rng(1).integers(0, 3, 40)


def cnn(seed: int = 0) -> Sequential:
    return Sequential(
        [
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
            {"type": "batch_norm", "name": "bn"},
            {"type": "activation", "activation": "relu"},
            {"type": "max_pool2d", "pool_size": 2},
            {"type": "conv2d", "filters": 3, "kernel_size": 2, "stride": 1},
            {"type": "avg_pool2d", "pool_size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 8, "activation": "relu"},
            {"type": "batch_norm"},
            {"type": "dropout", "rate": 0.25},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer="adam(lr=0.01)",
        seed=seed,
    )


def test_fit_trains_with_batch_statistics_and_predict_uses_running_ones() -> None:
    net = cnn()
    net.fit(X, T, epochs=2, batch_size=8, verbose=0)
    bn = net["bn"]
    running = {k: v.copy() for k, v in bn.buffers.items()}  # type: ignore[attr-defined]
    assert not np.allclose(running["running_mean"], 0.0)  # fit passed training=True
    first = net.predict(X)
    np.testing.assert_array_equal(net.predict(X), first)  # no dropout, no batch statistics
    net.evaluate(X, T)
    for key, value in running.items():  # predict and evaluate passed training=False
        np.testing.assert_array_equal(bn.buffers[key], value)  # type: ignore[attr-defined]
    assert net.output_shapes[:7] == [(4, 6, 6), (4, 6, 6), (4, 6, 6), (4, 3, 3), (3, 2, 2),
                                     (3, 1, 1), (3,)]  # fmt: skip


def test_save_and_load_round_trip_a_cnn_with_batch_norm_bit_identically(tmp_path: Path) -> None:
    net = cnn()
    net.fit(X, T, epochs=2, batch_size=8, verbose=0)
    net.save(tmp_path / "cnn.npz")
    loaded = plugnet.load(tmp_path / "cnn.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    for a, b in zip(net.layers, loaded.layers, strict=True):
        assert a == b
        for key, value in getattr(a, "buffers", {}).items():
            np.testing.assert_array_equal(b.buffers[key], value)
    with np.load(tmp_path / "cnn.npz") as archive:
        assert {"buffers/bn.running_mean", "buffers/bn.running_var"} <= set(archive.files)
    # the random state is restored too: dropout draws the same masks, training goes on alike
    net.fit(X, T, epochs=1, batch_size=8, verbose=0)
    loaded.fit(X, T, epochs=1, batch_size=8, verbose=0)
    for name, value in net.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)


def test_a_first_conv2d_skips_its_input_gradient() -> None:
    net = cnn()
    net.build(X.shape[1:])
    first = net._backward_methods[0]  # the backward the engine calls for layer 0
    assert isinstance(first, functools.partial) and first.keywords == {"need_input_grad": False}


def score(out: str, line: str) -> float:
    match = re.search(rf"^{line}: ([0-9.]+)$", out, re.MULTILINE)
    assert match is not None, f"no '{line}:' line in:\n{out}"
    return float(match[1])


def test_digits_cnn_example_trains_through_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("sklearn")
    model = tmp_path / "cnn.npz"
    args: list[Any] = ["train", str(EXAMPLES / "digits_cnn.toml"), "--epochs", "2"]
    assert main([*args, "--verbose", "0", "--out", str(model)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digits: 1797 samples, 64 features, 10 classes; 1347 training / 450 test")
    assert score(out, "test accuracy") > 0.85
    assert plugnet.load(model).output_shapes[0] == (1, 8, 8)
