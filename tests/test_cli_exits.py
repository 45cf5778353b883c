"""How the CLI ends when it cannot finish: a reader that closes the pipe early (`| head`) and
Ctrl-C. Each case runs ``python -m plugnet`` as a subprocess; tests/test_installed_faults.py
covers a plugin that fails under PLUGNET_STRICT_PLUGINS=1 and one interrupted while loading."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import plugnet
from plugnet.cli import BROKEN_PIPE, INTERRUPTED, _guarded, build_parser

PLUGNET = [sys.executable, "-m", "plugnet"]
POSIX_ONLY = pytest.mark.skipif(os.name == "nt", reason="POSIX pipes and signals")


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGNET_")}
    return {**env, "PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1", **extra}


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small untrained model for the digits data set (64 inputs, 10 outputs)."""
    net = plugnet.Sequential(
        [{"type": "dense", "units": 10, "activation": "softmax"}], error="cross_entropy", seed=0
    )
    net.build((64,))
    path = tmp_path_factory.mktemp("model") / "digits.npz"
    net.save(str(path))
    return path


def test_the_exit_statuses_are_documented_in_the_help() -> None:
    text = " ".join(build_parser().format_help().split())
    assert "Exit status: 0 on success" in text
    assert "PLUGNET_STRICT_PLUGINS=1" in text
    assert f"{INTERRUPTED} when interrupted (Ctrl-C)" in text
    assert f"{BROKEN_PIPE} when the program reading the output stops early" in text
    assert (INTERRUPTED, BROKEN_PIPE) == (128 + 2, 128 + 13)  # 128 + SIGINT, 128 + SIGPIPE


def test_a_plugin_error_of_several_lines_is_printed_as_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def run(args: argparse.Namespace) -> int:
        raise plugnet.PluginError(
            "plugnet plugin 'bad' failed to load: PluginValidationError: Plugin 'bad:Bad'\n"
            "hookimpl definition: register_activations(registr)\n"
        )

    assert _guarded("train", run)(argparse.Namespace()) == 2
    assert capsys.readouterr().err == (
        "plugnet train: error: plugnet plugin 'bad' failed to load: PluginValidationError: "
        "Plugin 'bad:Bad'; hookimpl definition: register_activations(registr)\n"
    )


@POSIX_ONLY
@pytest.mark.parametrize(
    "argv",
    [["plugins", "--json", "--all"], ["plugins", "--all"], ["plugins", "--kind", "activation"]],
)
def test_a_closed_stdout_ends_quietly(argv: list[str]) -> None:
    """The reader is gone before plugnet writes anything: every write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [*PLUGNET, *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=environment(),
            text=True,
            check=False,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (BROKEN_PIPE, "")


@POSIX_ONLY
def test_json_piped_to_head_exits_quietly() -> None:
    script = f"{' '.join(PLUGNET)} plugins --json --all | head -1; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=environment(), check=False
    )
    assert result.stdout == "{\n"
    assert result.stderr == ""
    # Exactly 0 when the whole report fit into the pipe before head exited, else SIGPIPE's.
    assert result.returncode in (0, BROKEN_PIPE)


@POSIX_ONLY
def test_predict_to_stdout_piped_to_head_exits_quietly(digits_model: Path) -> None:
    """1797 rows of 10 columns (about 200 kB) do not fit into a pipe's 64 kB: the writes after
    head exits fail, hence status 141 rather than 0."""
    command = f"{' '.join(PLUGNET)} predict {digits_model} --data digits"
    result = subprocess.run(
        ["bash", "-c", f"{command} | head -1; exit ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        env=environment(),
        check=False,
    )
    assert result.stdout == "class,y_0,y_1,y_2,y_3,y_4,y_5,y_6,y_7,y_8,y_9\n"
    assert (result.returncode, result.stderr) == (BROKEN_PIPE, "")


@POSIX_ONLY
def test_ctrl_c_during_training_ends_with_a_short_message_and_status_130(
    tmp_path: Path,
) -> None:
    config = tmp_path / "long.toml"
    config.write_text(
        textwrap.dedent(
            """
            [data]
            source = "spiral"
            n = 200
            [model]
            seed = 0
            error = "cross_entropy"
            layers = [{ type = "dense", units = 3, activation = "softmax" }]
            [training]
            epochs = 1000000
            verbose = 0
            """
        ),
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [*PLUGNET, "train", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(PYTHONUNBUFFERED="1"),
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # printed once the data is loaded: training is next
        assert first.startswith("spiral: 600 samples"), first
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == INTERRUPTED
    assert stderr == "plugnet: interrupted\n"
    assert rest == ""
