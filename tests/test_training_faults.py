"""fit under faults: divergence, inputs that overflow the dtype, mismatched output layers, Ctrl-C,
and arguments that would otherwise fail far from where they were given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import plugnet
from plugnet.arrays import check_finite

ROOT = Path(__file__).resolve().parents[1]


def _classes(n: int = 40, features: int = 3, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, features)), np.arange(n) % classes


def _net(layers: list[dict[str, object]], **kwargs: object) -> plugnet.Sequential:
    return plugnet.Sequential(layers, **{"error": "cross_entropy", "seed": 0, **kwargs})


def _sine() -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-3, 3, 200).reshape(-1, 1)
    return x, np.sin(x)


def _regression_net(lr: float) -> plugnet.Sequential:
    return plugnet.Sequential(
        [{"type": "dense", "units": 16, "activation": "tanh"}, {"type": "dense", "units": 1}],
        error="square",
        optimizer=f"sgd(lr={lr})",
        seed=0,
    )


# -- divergence -----------------------------------------------------------------------------------


def test_a_diverging_run_stops_at_once_naming_epoch_batch_and_learning_rate() -> None:
    x, t = _sine()
    net = _regression_net(1e6)
    with pytest.raises(plugnet.NonFiniteLossError) as caught:
        net.fit(x, t, epochs=50, batch_size=32, verbose=0)
    error = caught.value
    message = str(error)
    assert f"epoch {error.epoch + 1}/50, batch {error.batch + 1}" in message
    assert "smaller learning rate (lr=1e+06)" in message
    assert error.epoch == 0 and error.batch < 7  # at once, not after 50 silent epochs
    assert isinstance(error, FloatingPointError)
    assert error.history is net.history
    assert error.history.epoch == []


def test_the_history_before_divergence_is_kept() -> None:
    x, t = _sine()

    class Explode(plugnet.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            if epoch == 2:
                self.network.optimizer.lr = 1e8  # type: ignore[attr-defined]

    net = _regression_net(0.01)
    with pytest.raises(plugnet.NonFiniteLossError) as caught:
        net.fit(x, t, epochs=20, batch_size=32, verbose=0, callbacks=[Explode()])
    assert caught.value.epoch == 3
    assert caught.value.history.epoch == [0, 1, 2]
    assert all(np.isfinite(caught.value.history.history["loss"]))


# -- inputs checked after the cast ----------------------------------------------------------------


@pytest.mark.parametrize("where", ["x", "t"])
def test_values_that_overflow_float32_are_refused_by_name(where: str) -> None:
    x, t = _sine()
    x, t = x.copy(), t.copy()
    (x if where == "x" else t)[5, 0] = 1e300
    net = plugnet.Sequential([{"type": "dense", "units": 1}], error="square", seed=0)
    with pytest.raises(ValueError, match=rf"{where} holds 1e\+300 at index \(5, 0\), which is too "
                       r"large for float32.*dtype='float64'"):  # fmt: skip
        net.fit(x, t, epochs=1, verbose=0)
    assert not net.built
    wide = plugnet.Sequential(
        [{"type": "dense", "units": 1}], error="mean_absolute", seed=0, dtype="float64"
    )
    wide.fit(x / 1e290, t / 1e290, epochs=1, verbose=0)  # fine in float64


def test_nan_inputs_are_still_refused_with_their_count() -> None:
    x, t = _classes()
    x[3, 1] = np.nan
    x[7, 0] = np.inf
    net = _net([{"type": "dense", "units": 3, "activation": "softmax"}])
    with pytest.raises(ValueError, match=r"x holds 2 NaN or infinite values \(the first at index "
                       r"\(3, 1\)\)"):  # fmt: skip
        net.fit(x, t, epochs=1, verbose=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("where", [(0, 0), (1234, 17), (-1, -1)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_large_inputs_are_checked_whole(dtype: str, where: tuple[int, int], bad: float) -> None:
    """Past 65536 values the check sums rows with BLAS (plugnet.arrays._all_finite): a NaN or an
    infinity anywhere is still found, and huge finite values whose sums overflow are not one."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 40)).astype(dtype)
    t = rng.integers(0, 3, 2000)
    x[where] = bad
    net = _net([{"type": "dense", "units": 3, "activation": "softmax"}], dtype=dtype)
    with pytest.raises(ValueError, match=r"x holds 1 NaN or infinite values"):
        net.fit(x, t, epochs=1, verbose=0)
    x[where] = 0.0
    x[::2] = np.finfo(dtype).max / 2  # finite, but every sum of two of them overflows to inf
    check_finite(x, "x")  # accepted


# -- output layers that cannot feed their error function ------------------------------------------


@pytest.mark.parametrize(
    ("last", "fix"),
    [
        ({"type": "dense", "units": 3}, "activation='softmax'"),  # logits, as in PyTorch
        ({"type": "dense", "units": 3, "activation": "relu"}, "activation='softmax'"),
        ({"type": "dense", "units": 3, "activation": "sigmoid"}, "activation='softmax'"),
        ({"type": "dense", "units": 1, "activation": "sigmoid"}, "binary_cross_entropy"),
        ({"type": "dense", "units": 1, "activation": "softmax"}, "binary_cross_entropy"),
    ],
)
def test_cross_entropy_needs_a_distribution_per_row(last: dict[str, object], fix: str) -> None:
    x, t = _classes()
    if last["units"] == 1:
        t = t % 2
    net = _net([{"type": "dense", "units": 8, "activation": "tanh"}, last])
    rng_state = net.rng.bit_generator.state
    with pytest.raises(ValueError, match="output layer 'dense_2' cannot feed the error") as caught:
        net.fit(x, t, epochs=5, verbose=0)
    assert fix in str(caught.value)
    assert net.optimizer.iterations == 0  # type: ignore[attr-defined]
    assert not net.built  # a first fit that fails changes nothing
    assert net.rng.bit_generator.state == rng_state


def test_binary_cross_entropy_needs_outputs_in_the_unit_interval() -> None:
    x, t = _classes()
    net = _net([{"type": "dense", "units": 1}], error="binary_cross_entropy")
    with pytest.raises(ValueError, match=r"outputs must lie in \[0, 1\].*activation='sigmoid'"):
        net.fit(x, t % 2, epochs=1, verbose=0)


def test_cross_entropy_refuses_multi_hot_targets() -> None:
    x, _ = _classes()
    t = np.zeros((len(x), 3))
    t[:, :2] = 1
    net = _net([{"type": "dense", "units": 3, "activation": "softmax"}])
    with pytest.raises(ValueError, match=r"one-hot rows or distributions.*binary_cross_entropy"):
        net.fit(x, t, epochs=1, verbose=0)


@pytest.mark.parametrize(
    ("activation", "error", "labels"),
    [
        ("softmax", "cross_entropy", 3),
        ("log_softmax", "nll", 3),
        ("softmax", "kl_divergence", 3),
        ("sigmoid", "binary_cross_entropy", 2),
        ("identity", "square", 3),
    ],
)
def test_matching_output_layers_train(activation: str, error: str, labels: int) -> None:
    x, t = _classes()
    units = 1 if labels == 2 else 3
    net = _net([{"type": "dense", "units": units, "activation": activation}], error=error)
    history = net.fit(x, t % labels, epochs=3, verbose=0)
    assert len(history.epoch) == 3


# -- class labels as floats -----------------------------------------------------------------------


def test_integral_float_labels_train_exactly_as_integer_labels() -> None:
    x, t = _classes()
    layers = [{"type": "dense", "units": 3, "activation": "softmax"}]
    as_int = _net(layers).fit(x, t, epochs=3, verbose=0)
    as_float = _net(layers).fit(x, t.astype(float), epochs=3, verbose=0)
    assert as_float.history == as_int.history
    net = _net(layers)
    net.fit(x, t.astype(np.float32), epochs=1, verbose=0)
    assert net.evaluate(x, t.astype(float)) == net.evaluate(x, t)


def test_fractional_float_labels_are_refused_with_the_first_one() -> None:
    x, t = _classes()
    labels = t.astype(float)
    labels[4] = 1.5
    net = _net([{"type": "dense", "units": 3, "activation": "softmax"}])
    with pytest.raises(ValueError, match=r"t\[4\] = 1.5 is not a whole number"):
        net.fit(x, labels, epochs=1, verbose=0)


# -- arguments named where they were given --------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_a_bad_seed_is_named(seed: object) -> None:
    with pytest.raises(ValueError, match=r"seed must be None or an integer >= 0"):
        _net([{"type": "dense", "units": 3, "activation": "softmax"}], seed=seed)


def test_callbacks_must_be_a_list_of_callbacks() -> None:
    x, t = _classes()
    net = _net([{"type": "dense", "units": 3, "activation": "softmax"}])
    stop = plugnet.EarlyStopping(monitor="loss")
    with pytest.raises(ValueError, match=r"callbacks must be a list.*callbacks=\[EarlyStopping"):
        net.fit(x, t, epochs=1, verbose=0, callbacks=stop)  # type: ignore[arg-type]
    # A string is a callback by name now (issue 13); an object that is neither is refused.
    with pytest.raises(ValueError, match="callbacks holds a int, which is not a callback"):
        net.fit(x, t, epochs=1, verbose=0, callbacks=[42])  # type: ignore[list-item]
    with pytest.raises(plugnet.UnknownComponentError, match="early_stoping"):
        net.fit(x, t, epochs=1, verbose=0, callbacks=["early_stoping"])
    assert not net.built


@pytest.mark.parametrize(
    ("keyword", "value", "pattern"),
    [
        ("epochs", 10**20, "epochs must be at most 1,000,000,000"),
        ("epochs", 0, "epochs must be a positive integer"),
        ("batch_size", 2.0, "batch_size must be a positive integer"),
        ("validation_split", True, "validation_split must be a fraction"),
    ],
)
def test_training_settings_are_named(keyword: str, value: object, pattern: str) -> None:
    x, t = _classes()
    net = _net([{"type": "dense", "units": 3, "activation": "softmax"}])
    with pytest.raises(ValueError, match=pattern):
        net.fit(x, t, **{"epochs": 1, "verbose": 0, keyword: value})  # type: ignore[arg-type]


# -- Ctrl-C never tears the model -----------------------------------------------------------------

_INTERRUPTED = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    import numpy as np
    import plugnet

    class Stop(Exception):
        pass

    class StopAfter(plugnet.Callback):
        def __init__(self, steps):
            self.steps, self.seen = steps, 0
        def on_train_begin(self, logs):
            if self.steps == 0:  # nothing to replay (the assertions below report it)
                raise Stop
        def on_batch_end(self, batch, logs):
            self.seen += 1
            if self.seen == self.steps:
                raise Stop

    class InterruptAfter(plugnet.Callback):
        # SIGINT `delay` seconds after training began, not after the network was made: on a
        # loaded machine, building and checking can take longer than the delay.
        def __init__(self, delay):
            self.timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
        def on_train_begin(self, logs):
            self.timer.start()

    def network():
        return plugnet.Sequential(
            [{"type": "dense", "units": 64, "activation": "relu"},
             {"type": "dense", "units": 64, "activation": "relu"},
             {"type": "dense", "units": 64, "activation": "relu"},
             {"type": "dense", "units": 4, "activation": "softmax"}],
            error="cross_entropy", optimizer="adam(lr=1e-3)", seed=0)

    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((512, 32)), rng.integers(0, 4, 512)
    delays = np.random.default_rng(int(sys.argv[1])).uniform(0.05, 0.6, int(sys.argv[2]))
    results = []
    for delay in delays:
        net = network()
        interrupt = InterruptAfter(delay)
        try:
            net.fit(x, t, epochs=10**6, batch_size=16, verbose=0, callbacks=[interrupt])
            raise AssertionError("fit ended without the interrupt")
        except KeyboardInterrupt:
            pass
        interrupt.timer.join()
        steps = int(net.optimizer.get_state()["iterations"])
        replay = network()
        try:
            replay.fit(x, t, epochs=10**6, batch_size=16, verbose=0, callbacks=[StopAfter(steps)])
        except Stop:
            pass
        same = all(np.array_equal(net.params[k], replay.params[k]) for k in net.params)
        state, again = net.optimizer.get_state(), replay.optimizer.get_state()
        same_state = state.keys() == again.keys() and all(
            np.array_equal(state[k], again[k]) for k in state
        )
        results.append({"steps": steps, "params": same, "state": same_state,
                         "history": getattr(net, "history", None) is not None})
    print(json.dumps(results))
    """
)


def test_ctrl_c_during_fit_leaves_parameters_and_optimizer_at_the_same_step(
    tmp_path: Path,
) -> None:
    script = tmp_path / "interrupted.py"
    script.write_text(_INTERRUPTED)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT / "plugins")])}
    done = subprocess.run(
        [sys.executable, str(script), "0", "12"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == 12
    assert all(r["steps"] > 0 for r in results), results
    torn = [r for r in results if not (r["params"] and r["state"])]
    assert not torn, f"{len(torn)} of {len(results)} interrupts tore the model: {torn}"
    assert all(r["history"] for r in results)


def test_fit_leaves_the_sigint_handler_as_it_found_it() -> None:
    import signal

    x, t = _classes()
    before = signal.getsignal(signal.SIGINT)
    _net([{"type": "dense", "units": 3, "activation": "softmax"}]).fit(x, t, epochs=1, verbose=0)
    assert signal.getsignal(signal.SIGINT) is before
