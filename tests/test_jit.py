"""The optional compiled kernels (plugnet_builtins.jit, numba from the jit extra): both paths,
compiled and NumPy, pass the layer kit's checks and agree with each other; the switch and its
errors; numba is imported only when a kernel is needed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.testing import check_layer
from plugnet_builtins import jit

pytest.importorskip("numba")  # in the test extra; the NumPy path is tested without it too

ROOT = Path(__file__).resolve().parents[1]
PATHS = pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "jit"])
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])

# Specs whose layers have compiled kernels, with inputs that take them (images, stride 1).
KIT_CASES = [
    ("batch_norm", (3, 4, 5)),
    ({"type": "batch_norm", "momentum": 0.5}, (2, 3, 3)),
    ({"type": "lstm", "units": 3}, (4, 2)),
    ({"type": "lstm", "units": 2, "return_sequences": True}, (3, 3)),
    ({"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same"}, (2, 5, 5)),
    ({"type": "conv2d", "filters": 2, "kernel_size": (3, 2), "use_bias": False}, (2, 5, 6)),
    ({"type": "conv2d", "filters": 2, "kernel_size": 3, "stride": 2}, (2, 7, 7)),
    ({"type": "conv1d", "filters": 2, "kernel_size": 3, "padding": "same"}, (3, 8)),
    # pools whose windows tile the input exactly
    ({"type": "max_pool2d", "pool_size": 2}, (3, 4, 6)),
    ({"type": "max_pool2d", "pool_size": (3, 3)}, (2, 6, 9)),
    ({"type": "avg_pool2d", "pool_size": 2}, (3, 4, 6)),
    ({"type": "avg_pool2d", "pool_size": (2, 3)}, (2, 4, 6)),
    ({"type": "max_pool1d", "pool_size": 2}, (3, 8)),
]


@PATHS
@pytest.mark.parametrize(("spec", "input_shape"), KIT_CASES)
def test_layer_kit_passes_on_both_paths(compiled: bool, spec: Any, input_shape: tuple) -> None:
    with jit.use(compiled):
        check_layer(spec, input_shape=input_shape)


def run_both(spec: Any, x: np.ndarray, *, training: bool = True, seed: int = 2) -> list[list]:
    """Forward, backward twice (a second backward of one forward), and the gradients, on
    the NumPy path and on the compiled one, each with identically built layers."""
    results = []
    for compiled in (False, True):
        with jit.use(compiled):
            layer = plugnet.layer(spec)
            layer.build(x.shape[1:], rng=np.random.default_rng(1), dtype=x.dtype)
            for value in layer.params.values():  # not the initial γ = 1, β = b = 0
                value[...] += np.random.default_rng(3).uniform(0.5, 1.5, value.shape)
            y = layer.forward(x, training=training)
            g = np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype)
            dx, again = layer.backward(g), layer.backward(g)
            grads = [layer.grads[key].copy() for key in sorted(layer.grads)]
            buffers = [value.copy() for _, value in sorted(getattr(layer, "buffers", {}).items())]
            results.append([y, dx, again, *grads, *buffers])
    return results


def assert_agree(numpy_path: list, compiled: list, dtype: Any) -> None:
    tolerance = 1e-4 if dtype == np.float32 else 1e-11
    for a, b in zip(numpy_path, compiled, strict=True):
        assert b.dtype == a.dtype and b.shape == a.shape
        scale = max(1.0, float(np.abs(a).max()))
        np.testing.assert_allclose(b, a, rtol=0, atol=tolerance * scale)


@DTYPES
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(8, 3, 5, 7), (16, 4, 40, 40)])
def test_batch_norm_paths_agree(dtype: Any, training: bool, shape: tuple) -> None:
    # 40 × 40 rows are longer than one summation block (ROW_BLOCK, 1024 values)
    x = (np.random.default_rng(0).standard_normal(shape) * 3 + 5).astype(dtype)
    assert_agree(*run_both("batch_norm", x, training=training), dtype)


@DTYPES
@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_paths_agree(dtype: Any, return_sequences: bool) -> None:
    x = (np.random.default_rng(0).standard_normal((7, 6, 3)) * 2).astype(dtype)
    spec = {"type": "lstm", "units": 5, "return_sequences": return_sequences}
    assert_agree(*run_both(spec, x), dtype)


CONV_CASES = [
    ((32, 16, 4, 4), {"filters": 32, "kernel_size": 3, "padding": "same"}),
    ((3, 2, 6, 5), {"filters": 3, "kernel_size": 3, "padding": 1, "use_bias": False}),
    ((2, 3, 7, 6), {"filters": 2, "kernel_size": (3, 2), "stride": 2, "padding": "same"}),
    ((2, 2, 5, 6), {"filters": 2, "kernel_size": (2, 3), "activation": "tanh"}),
]


@DTYPES
@pytest.mark.parametrize(("shape", "config"), CONV_CASES)
def test_conv2d_paths_agree(dtype: Any, shape: tuple, config: dict) -> None:
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    assert_agree(*run_both({"type": "conv2d", **config}, x), dtype)


POOLS = [
    {"type": "max_pool2d", "pool_size": 2},
    {"type": "max_pool2d", "pool_size": (2, 3)},
    {"type": "avg_pool2d", "pool_size": 2},
    {"type": "avg_pool2d", "pool_size": 3},
]


@DTYPES
@pytest.mark.parametrize("spec", POOLS, ids=lambda spec: f"{spec['type']}{spec['pool_size']}")
def test_pool_paths_agree_on_ties_nan_and_infinity(dtype: Any, spec: dict) -> None:
    """The compiled pools give each window's gradient to the same element as the NumPy code:
    the first maximum in row-major order, none for a window holding a NaN; ties, −∞ and +∞
    included. Their values and gradients are equal, not just close."""
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, size=(5, 3, 6, 6)).astype(dtype)  # many ties
    x[0, 0, 0, 0], x[0, 1, 2, 3], x[1, 0] = np.nan, np.inf, -np.inf
    x[2, 2, 4:, 4:] = np.nan
    numpy_path, compiled = run_both(spec, x)
    for a, b in zip(numpy_path, compiled, strict=True):
        assert b.dtype == a.dtype
        if spec["type"] == "max_pool2d":
            np.testing.assert_array_equal(b, a)
        else:  # the same sums in the same order, but the compiler may fuse a multiply-add
            np.testing.assert_allclose(b, a, rtol=1e-6)


@pytest.mark.parametrize("kind", ["max_pool2d", "avg_pool2d"])
def test_pools_take_the_numpy_code_where_the_kernels_do_not_fit(kind: str) -> None:
    """Windows that leave rows over, a non-contiguous input, padding: the NumPy code, also
    under jit.use(True); and a gradient the kernels do not take after a compiled forward."""
    rng = np.random.default_rng(0)
    with jit.use(True):
        layer = plugnet.layer({"type": kind, "pool_size": 2})
        layer.build((3, 6, 6), rng=rng, dtype=np.dtype(np.float32))
        x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
        layer.forward(x)
        assert layer.kernels is not None
        g = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
        compiled = layer.backward(g)
        for other in (np.asfortranarray(g), g.astype(np.float16)):
            np.testing.assert_allclose(layer.backward(other), compiled, rtol=1e-3)
        assert layer.backward(g.astype(np.float64)).dtype == np.float64
        layer.forward(np.asfortranarray(x))
        assert layer.kernels is None
        odd = plugnet.layer({"type": kind, "pool_size": 2})
        odd.build((3, 7, 6), rng=rng, dtype=np.dtype(np.float32))
        odd.forward(rng.standard_normal((4, 3, 7, 6)).astype(np.float32))
        assert odd.kernels is None
        padded = plugnet.layer({"type": kind, "pool_size": 2, "padding": 1})
        padded.build((3, 6, 6), rng=rng, dtype=np.dtype(np.float32))
        padded.forward(x)
        assert padded.kernels is None


def test_the_no_winner_marks_agree() -> None:
    from plugnet_builtins import _jit_kernels, pooling

    assert pooling.NO_WINNER == _jit_kernels.NO_WINNER


def test_paths_keep_nan_and_infinity_where_numpy_does() -> None:
    """fastmath here never assumes finite values: a NaN or an infinity in the input lands
    where the NumPy code puts it, not silently on a number."""
    x = np.random.default_rng(0).standard_normal((4, 2, 3, 3)).astype(np.float32)
    x[1, 0, 1, 1] = np.nan
    for spec, data in (("batch_norm", x), ({"type": "lstm", "units": 3}, x[:, 0])):
        numpy_path, compiled = run_both(spec, data)
        for a, b in zip(numpy_path, compiled, strict=True):
            np.testing.assert_array_equal(np.isnan(b), np.isnan(a))
            np.testing.assert_array_equal(np.isinf(b), np.isinf(a))


def test_float32_tanh_is_close_and_saturates() -> None:
    kernels = jit.kernels()
    assert kernels is not None
    grid = np.linspace(-12, 12, 240_001, dtype=np.float32)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -3e-4, 9.0, -9.5], np.float32)
    for values in (grid, special):
        out = np.empty_like(values)
        kernels.tanh(values, out)
        exact = np.tanh(values.astype(np.float64))
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, exact, rtol=0, atol=3e-7)
        assert np.all(np.abs(out[~np.isnan(values)]) <= 1)
    np.testing.assert_array_equal(out[1:6], np.tanh(special[1:6]))  # ±1, ±0, 1e-30: exact
    assert np.isnan(out[0])
    doubles = np.linspace(-5, 5, 1001)
    twice = np.empty_like(doubles)
    kernels.tanh(doubles, twice)
    np.testing.assert_allclose(twice, np.tanh(doubles), rtol=1e-15, atol=0)


def test_use_switches_and_restores() -> None:
    with jit.use(False):
        assert not jit.enabled() and jit.kernels() is None
        with jit.use(True):
            assert jit.enabled()
        assert not jit.enabled()


def test_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGNET_JIT", "0")
    assert jit.kernels() is None
    layer = plugnet.layer("batch_norm")
    layer.build((2, 3, 3), rng=np.random.default_rng(0), dtype=np.dtype(np.float32))
    layer.forward(np.ones((2, 2, 3, 3), np.float32), training=True)
    assert layer.kernels is None
    monkeypatch.setenv("PLUGNET_JIT", "1")
    assert jit.kernels() is not None
    monkeypatch.setenv("PLUGNET_JIT", "yes")
    with pytest.raises(ValueError, match=r"PLUGNET_JIT='yes' is not a setting: use 1 .* 0"):
        jit.kernels()
    with jit.use(False):  # an explicit choice does not read the variable
        assert jit.kernels() is None


def run_python(code: str, *path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PLUGNET_")}
    entries = [*map(str, path), str(ROOT / "core"), str(ROOT / "plugins")]
    environment.update(env, PYTHONPATH=os.pathsep.join(entries))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


IMAGES = """
    import sys, warnings
    import numpy as np
    import plugnet
    from plugnet_builtins import jit
    layer = plugnet.layer("batch_norm")
    layer.build((2, 3, 3), rng=np.random.default_rng(0), dtype=np.dtype(np.float32))
    print("numba before:", "numba" in sys.modules)
    y = layer.forward(np.arange(36, dtype=np.float32).reshape(2, 2, 3, 3), training=True)
    print("numba after:", "numba" in sys.modules, "compiled:", layer.kernels is not None)
    print("y:", float(abs(y).sum()))
"""


def test_numba_is_imported_only_when_a_kernel_is_needed() -> None:
    result = run_python(IMAGES)
    assert result.returncode == 0, result.stderr
    assert "numba before: False" in result.stdout
    assert "numba after: True compiled: True" in result.stdout


@pytest.fixture
def broken_numba(tmp_path: Path) -> Path:
    """A ``numba`` package that is found but fails to import, as an incompatible one does."""
    package = tmp_path / "numba"
    package.mkdir()
    (package / "__init__.py").write_text('raise ImportError("Numba needs NumPy 1.0 or less")\n')
    return tmp_path


def test_a_broken_numba_warns_once_and_the_numpy_code_runs(broken_numba: Path) -> None:
    reference = run_python(IMAGES, PLUGNET_JIT="0")
    result = run_python(
        IMAGES + "    layer.forward(np.ones((2, 2, 3, 3), np.float32))\n", broken_numba
    )
    assert result.returncode == 0, result.stderr
    assert "compiled: False" in result.stdout
    assert result.stdout.splitlines()[-1] == reference.stdout.splitlines()[-1]  # same y
    assert result.stderr.count("RuntimeWarning") == 1
    assert "numba does not import (ImportError: Numba needs NumPy 1.0 or less)" in result.stderr
    assert "PLUGNET_JIT=0 to silence this" in result.stderr


def test_required_kernels_without_a_working_numba_say_what_to_install(broken_numba: Path) -> None:
    result = run_python(IMAGES, broken_numba, PLUGNET_JIT="1")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: the compiled kernels are required (PLUGNET_JIT=1")
    assert 'pip install "plugnet[jit]"' in last


@DTYPES
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_conv2d_in_chunks_matches_the_whole_batch(
    dtype: Any, use_bias: bool, lanes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled path walks a large batch in chunks of samples (conv.CHUNK_COLUMN_BYTES),
    shared among ``lanes`` threads (plugnet_builtins._lanes); here 3 samples a chunk over 10,
    the last chunk of each lane shorter, against the NumPy path's one batch."""
    from plugnet_builtins import _lanes, conv

    monkeypatch.setattr(_lanes, "_override", [lanes])

    shape = (10, 3, 9, 8)
    per_sample = 3 * 3 * 3 * 9 * (8 + 2) * np.dtype(dtype).itemsize  # C·kh·kw·Ho·Wp
    monkeypatch.setattr(conv, "CHUNK_COLUMN_BYTES", 3 * per_sample)
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    spec = {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"}
    spec["use_bias"] = use_bias
    numpy_path, compiled = run_both(spec, x)
    assert_agree(numpy_path, compiled, dtype)
    with jit.use(True):
        layer = plugnet.layer(spec)
        layer.build(shape[1:], rng=np.random.default_rng(1), dtype=np.dtype(dtype))
        layer.forward(x, training=True)
        assert layer.chunk == 3
        g = np.random.default_rng(2).standard_normal((10, 4, 9, 8))
        assert layer.backward(g.astype(dtype), need_input_grad=False) is None
        grads = {key: value.copy() for key, value in layer.grads.items()}
        # a gradient of another dtype takes the whole-batch code, which rebuilds the columns
        dx = layer.backward(g.astype(np.float32 if dtype == np.float64 else np.float64))
    assert dx.shape == shape
    for key, value in grads.items():
        np.testing.assert_allclose(layer.grads[key], value, rtol=1e-5, atol=1e-5)
    # backward keeps the forward's choice, whatever the switch says by then
    with jit.use(True):
        layer.forward(x, training=True)
        compiled_dx = layer.backward(g.astype(dtype))
    with jit.use(False):
        numpy_dx = layer.backward(g.astype(dtype))  # a second backward of the same forward
    assert layer.chunk == 3
    np.testing.assert_array_equal(numpy_dx, compiled_dx)


@DTYPES
@pytest.mark.parametrize("lanes", [1, 2])
@pytest.mark.parametrize("need_input_grad", [True, False])
def test_conv1d_in_chunks_matches_the_whole_batch(
    dtype: Any, lanes: int, need_input_grad: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """conv1d's one-row kernel walks whole padded rows in chunks too (3 samples a chunk over
    10), and its dx then comes from Conv2D's col2im, not its own transposed convolution."""
    from plugnet_builtins import _lanes, conv

    monkeypatch.setattr(_lanes, "_override", [lanes])
    shape = (10, 3, 12)
    per_sample = 3 * 3 * (12 + 2) * np.dtype(dtype).itemsize  # C·k·Lp
    monkeypatch.setattr(conv, "CHUNK_COLUMN_BYTES", 3 * per_sample)
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    spec = {"type": "conv1d", "filters": 4, "kernel_size": 3, "padding": "same"}
    numpy_path, compiled = run_both(spec, x)
    assert_agree(numpy_path, compiled, dtype)
    with jit.use(True):
        layer = plugnet.layer(spec)
        layer.build(shape[1:], rng=np.random.default_rng(1), dtype=np.dtype(dtype))
        y = layer.forward(x, training=True)
        assert layer.chunk == 3
        dx = layer.backward(np.ones_like(y), need_input_grad=need_input_grad)
    assert (dx is None) == (not need_input_grad)
    with jit.use(False):
        reference = plugnet.layer(spec)
        reference.build(shape[1:], rng=np.random.default_rng(1), dtype=np.dtype(dtype))
        reference.forward(x, training=True)
        expected_dx = reference.backward(np.ones_like(y), need_input_grad=need_input_grad)
    for key, value in reference.grads.items():
        np.testing.assert_allclose(layer.grads[key], value, rtol=1e-5, atol=1e-5)
    if need_input_grad:
        np.testing.assert_allclose(dx, expected_dx, rtol=1e-5, atol=1e-5)
