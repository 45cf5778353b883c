"""`plugnet train`, `plugnet evaluate` and `plugnet predict`, in-process and as a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import plugnet
from plugnet.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

TINY = """
[data]
source = "spiral"
n = 30
classes = 3
noise = 0.1
test_size = 0.25
validation_split = 0.2
random_state = 0

[model]
seed = 0
error = "cross_entropy"
optimizer = "adam(lr=0.02)"
layers = [
  { type = "dense", units = 32, activation = "relu" },
  { type = "dense", units = 3, activation = "softmax" },
]

[training]
epochs = 5
batch_size = 16
verbose = 0
"""


def score(out: str, line: str) -> float:
    match = re.search(rf"^{line}: ([0-9.]+)$", out, re.MULTILINE)
    assert match is not None, f"no '{line}:' line in:\n{out}"
    return float(match[1])


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


@pytest.fixture
def trained(tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    model = tmp_path / "model.npz"
    assert main(["train", str(tiny), "--out", str(model)]) == 0
    capsys.readouterr()
    return model


def test_train_writes_model_and_plot_and_prints_scores(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, plot = tmp_path / "model.npz", tmp_path / "curves.png"
    assert main(["train", str(tiny), "--out", str(model), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "spiral: 90 samples, 2 features, 3 classes; 53 training / 14 validation / 23 test"
    )
    for part in ("train", "validation", "test"):
        assert 0.0 <= score(out, f"{part} accuracy") <= 1.0
        assert score(out, f"{part} loss") >= 0.0
    assert f"saved the model to {model}" in out and f"wrote the learning curves to {plot}" in out
    assert plot.read_bytes().startswith(b"\x89PNG")
    net = plugnet.load(model)
    assert net.input_shape == (2,) and net.output_shape == (3,)


def test_train_is_reproducible_and_flags_override(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = []
    for _ in range(2):
        assert main(["train", str(tiny), "--epochs", "2", "--verbose", "2"]) == 0
        runs.append(capsys.readouterr().out)
    strip = [re.sub(r"\(\d+\.\d s\)", "", r) for r in runs]
    assert strip[0] == strip[1]
    assert "epoch 2/2" in runs[0] and "epoch 3/" not in runs[0]
    assert main(["train", str(tiny), "--epochs", "2", "--seed", "1"]) == 0
    assert capsys.readouterr().out != runs[0]


def test_output_table_paths_are_relative_to_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "runs").mkdir()
    config = tmp_path / "c.toml"
    config.write_text(TINY + '[output]\nmodel = "runs/m.npz"\nplot = "runs/c.png"\n', "utf-8")
    assert main(["train", str(config), "--epochs", "1"]) == 0
    capsys.readouterr()
    assert (tmp_path / "runs" / "m.npz").is_file() and (tmp_path / "runs" / "c.png").is_file()


def test_evaluate_on_a_file_and_as_json(
    tmp_path: Path, trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = plugnet.datasets.spiral(n=10, noise=0.1, seed=9)
    np.savez(tmp_path / "held_out.npz", x=data.x, y=data.t)
    assert main(["evaluate", str(trained), "--data", str(tmp_path / "held_out.npz")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("samples: 30\n") and 0 <= score(out, "accuracy") <= 1
    assert "split: all of " in out  # a file is scored whole
    assert main(["evaluate", str(trained), "--data", "spiral", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # a data set by name: its test split (75 of 300), never the training part
    assert report["samples"] == 75 and set(report) >= {"loss", "accuracy", "model", "data"}
    assert (report["split"], report["seed"]) == ("test", 0)


def test_predict_to_npz_csv_and_stdout(
    tmp_path: Path, trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = plugnet.datasets.spiral(n=4, seed=1).x
    expected = plugnet.load(trained).predict(x)
    np.savez(tmp_path / "x.npz", x=x)
    assert main(["predict", str(trained), "--data", str(tmp_path / "x.npz")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "class,y_0,y_1,y_2" and len(printed) == 13  # class outputs: the class
    table = np.loadtxt(printed[1:], delimiter=",")
    np.testing.assert_allclose(table[:, 1:], expected, rtol=1e-6)
    np.testing.assert_array_equal(table[:, 0], expected.argmax(axis=1))

    out = tmp_path / "p.npz"
    assert (
        main(["predict", str(trained), "--data", str(tmp_path / "x.npz"), "--out", str(out)]) == 0
    )
    assert f"wrote 12 predictions to {out}" in capsys.readouterr().out
    with np.load(out, allow_pickle=False) as saved:
        assert saved.files == ["y"]
        np.testing.assert_array_equal(saved["y"], expected)

    # a CSV with a label column (named or not): the column is dropped
    header = "a,b,label\n"
    rows = "".join(f"{a},{b},0\n" for a, b in x)
    (tmp_path / "x.csv").write_text(header + rows, encoding="utf-8")
    (tmp_path / "x2.csv").write_text(header.replace("label", "c") + rows, encoding="utf-8")
    for name in ("x.csv", "x2.csv"):
        csv_out = tmp_path / f"p-{name}"
        assert (
            main(["predict", str(trained), "--data", str(tmp_path / name), "--out", str(csv_out)])
            == 0
        )
        written = np.loadtxt(csv_out, delimiter=",", skiprows=1)  # class, then y_0..y_2
        np.testing.assert_allclose(written[:, 1:], expected, rtol=1e-6)
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "{model}", "--data", "{tmp}/none.npz"], "none.npz: no such data file"),
        (["evaluate", "{tmp}/none.npz", "--data", "xor"], "none.npz: no such model file"),
        (["evaluate", "{model}", "--data", "digitz"], "unknown data source 'digitz'"),
        (["evaluate", "{model}", "--data", "sine"], "x has per-sample shape (1,), but the network"),
        (["predict", "{model}", "--data", "spiral", "--out", "{tmp}/p.txt"], "a .npz or .csv"),
        (["predict", "{model}", "--data", "spiral", "--out", "{tmp}/no/p.npz"], "no directory"),
    ],
)
def test_evaluate_and_predict_errors(
    tmp_path: Path,
    trained: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    args = [a.format(model=trained, tmp=tmp_path) for a in argv]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"plugnet {argv[0]}: error: ")
    assert message in captured.err and "Traceback" not in captured.err


def test_bad_config_exits_2_with_the_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace("units = 32", 'units = "ten"'), encoding="utf-8")
    assert main(["train", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"plugnet train: error: {bad}: model.layers[0].units: expected a positive integer, "
        f"got 'ten'\n"
    )


def test_bad_outputs_are_refused_before_training(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(tiny), "--out", str(tmp_path / "missing" / "m.npz")]) == 2
    captured = capsys.readouterr()
    assert "no directory" in captured.err and captured.out == ""


def test_data_that_does_not_fit_the_network_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(TINY.replace("units = 3,", "units = 2,"), encoding="utf-8")
    assert main(["train", str(config)]) == 2
    assert "labels must lie in 0..1" in capsys.readouterr().err


def test_subprocess_exit_codes(tmp_path: Path, tiny: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "plugnet", "train", str(tiny), "--out", str(tmp_path / "m.npz")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert 0 <= score(ok.stdout, "test accuracy") <= 1
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace('error = "cross_entropy"', 'error = "crossentropy_x"'), "utf-8")
    failed = subprocess.run(
        [sys.executable, "-m", "plugnet", "train", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 2
    assert failed.stderr.startswith(f"plugnet train: error: {bad}: model.error: unknown error")
    assert "Traceback" not in failed.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "plugnet", "train"], capture_output=True, text=True, timeout=120
    )
    assert usage.returncode == 2 and "CONFIG.toml" in usage.stderr


def test_digits_example_for_two_epochs(capsys: pytest.CaptureFixture[str]) -> None:
    start = time.perf_counter()
    assert main(["train", str(EXAMPLES / "digits.toml"), "--epochs", "2", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digits: 1797 samples, 64 features, 10 classes; 1347 training / 450 test")
    assert score(out, "test accuracy") > 0.8
    assert time.perf_counter() - start < 10


def test_a_diverging_run_exits_1_in_one_line_and_saves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "diverge.toml"
    config.write_text(
        '[data]\nsource = "sine"\n'
        '[model]\nerror = "square"\noptimizer = "sgd(lr=1e6)"\nseed = 0\n'
        'layers = [{ type = "dense", units = 16, activation = "tanh" }, '
        '{ type = "dense", units = 1 }]\n'
        "[training]\nepochs = 50\nverbose = 0\n",
        encoding="utf-8",
    )
    out = tmp_path / "model.npz"
    assert main(["train", str(config), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("plugnet train: error: the loss became ")
    assert "smaller learning rate" in err
    assert not out.exists()
