"""Hostile and tiny configs and data files: every outcome is a Config or a ConfigError (a
ValueError naming the file, for data files), quickly and in bounded memory; the smallest configs
train or say which key to change.

The property tests are derandomized, so every run tries the same cases, and each call is timed.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plugnet
from plugnet import config as config_module
from plugnet import datasets
from plugnet.cli import main
from plugnet.config import (
    DATA_KEYS,
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_SIZE,
    MODEL_KEYS,
    OUTPUT_KEYS,
    SECTIONS,
    TRAINING_KEYS,
    Config,
    ConfigError,
    load_config,
    loads_config,
)
from tests import _bounds as bounds
from tests._bounds import traced

CALL_LIMIT_S = 0.5
PROPERTY = settings(
    derandomize=True,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MODEL = """
[model]
error = "cross_entropy"
layers = [{ type = "dense", units = 2, activation = "softmax" }]
"""


@pytest.fixture(scope="module", autouse=True)
def warm_registry() -> None:
    plugnet.activation("relu")


def time_limit(seconds: float = CALL_LIMIT_S) -> AbstractContextManager[None]:
    return bounds.time_limit(seconds)


def outcome(call: Callable[[], Config]) -> Config | ConfigError:
    with time_limit():
        try:
            return call()
        except ConfigError as exc:
            assert len(str(exc)) < 2000, "messages stay short whatever the input"
            return exc


def config_error(text: str) -> ConfigError:
    with time_limit(), pytest.raises(ConfigError) as caught:
        loads_config(text)
    return caught.value


# -- nesting, size, garbage ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("a = " + "[" * 100_000 + "]" * 100_000, "a", 1),
        ("a = " + "[" * 100_000, "a", 1),
        ("x = 1\n\n[model]\nlayers = [\n" + "[" * 100_000, "model.layers", 5),
        ("[training]\nearly_stopping = " + "{ a = " * 30_000, "training.early_stopping", 2),
        ("[[a.b]]\nc = " + "[{ d = " * 30_000, "a.b.c", 2),
    ],
)
def test_deep_nesting_is_refused_before_toml_parses_it(text: str, key: str, line: int) -> None:
    error = config_error(text)
    assert error.key == key
    assert f"line {line}: arrays and inline tables nest more than {MAX_CONFIG_DEPTH} deep" in str(
        error
    )


def test_brackets_in_strings_and_comments_do_not_count() -> None:
    deep = "[" * 100
    text = f"# {deep}\n[data]\nsource = \"{deep}\"\nlabel_column = '{deep}'\n"
    text += f'n = """\n{deep}"""\n' + MODEL
    error = config_error(text)
    assert error.key == "data.source" and "unknown data source" in str(error)


def test_nesting_that_the_scan_misses_is_still_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(config_module, "MAX_CONFIG_DEPTH", 10**9)  # the scan lets it through
    error = config_error("a = " + "[" * 100_000 + "]" * 100_000)
    assert "arrays and inline tables nest more than" in str(error) and error.key == ""


def test_a_config_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    file = tmp_path / "big.toml"
    file.write_bytes(b"# " + b"x" * MAX_CONFIG_SIZE + b"\n")
    with time_limit(), pytest.raises(ConfigError, match=r"big\.toml: larger than 256 KiB"):
        load_config(file)
    with time_limit(), pytest.raises(ConfigError, match="larger than 256 KiB"):
        loads_config(" " * (MAX_CONFIG_SIZE + 1))


def test_binary_garbage_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "garbage.toml"
    file.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(ConfigError, match=r"garbage\.toml: not UTF-8 text \(invalid start byte"):
        load_config(file)
    file.write_bytes(b"\x00\x01[data]\x00 = \x7f")
    with pytest.raises(ConfigError, match=r"garbage\.toml: not valid TOML"):
        load_config(file)


def test_an_integer_too_long_to_convert_is_a_config_error() -> None:
    assert "not valid TOML" in str(config_error("a = 1" + "0" * 5000))


def test_a_megabyte_config_is_handled_quickly_in_bounded_memory() -> None:
    filler = "x" * (MAX_CONFIG_SIZE - 1000)
    for text, key in [
        (f'[data]\nsource = "{filler}"\n{MODEL}', "data.source"),
        (f'[data]\nsource = "xor"\n{filler} = 1\n{MODEL}', "data.xxxxxxxx"),
        (f'[data]\nsource = "{filler}.csv"\n{MODEL}', "data.source"),
        (f'[data]\nsource = "xor"\n[model]\nerror = "{filler[:5000]}"', "model.error"),
    ]:
        error = config_error(text)  # timed
        assert error.key.startswith(key) and len(str(error)) < 1000
        # apart: tracing slows tomllib's loop over each character tenfold
        with traced() as measured, pytest.raises(ConfigError):
            loads_config(text)
        assert measured.peak < 4 * MAX_CONFIG_SIZE, f"peak {measured.peak} bytes"


def test_paths_the_file_system_refuses() -> None:
    text = MODEL + f'[data]\nsource = "{"a" * 300}.csv"\n'
    assert "no such data file" in str(config_error(text))
    text = MODEL + '[data]\nsource = "xor"\n[output]\nmodel = "~no_such_user_xq/m.npz"\n'
    error = config_error(text)
    assert error.key == "output.model" and "cannot expand '~'" in str(error)


def test_hostile_component_specs_in_a_config() -> None:
    text = '[data]\nsource = "xor"\n[model]\nerror = "cross_entropy"\nlayers = ["LAYER"]\n'
    for spec, message in [
        ("a" + " " * 4000 + "!", "cannot parse spec"),
        ("dense(units=2, activation='relu(self=1)')", "(argument 'self'): unknown parameter"),
        ("dense(units=2, use_bias=1)", "(argument 'use_bias'): expected true or false, got 1"),
        ("x" * 10_000, "specs are limited to 4096"),
    ]:
        error = config_error(text.replace("LAYER", spec))
        assert error.key.startswith("model.layers[0]") and message in str(error)


# -- the smallest configs ------------------------------------------------------------------------


def train(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    status = main(["train", str(path), "--verbose", "0"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    ("source", "error", "units", "summary"),
    [
        ("xor", "cross_entropy", 2, "xor: 4 samples, 2 features, 2 classes; 4 training\n"),
        ("spiral", "cross_entropy", 3, "spiral: 300 samples, 2 features, 3 classes; 225 training"),
        ("sine", "square", 1, "sine: 200 samples, 1 features, regression targets; 150 training"),
    ],
)
def test_the_smallest_configs_train(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    source: str,
    error: str,
    units: int,
    summary: str,
) -> None:
    text = f'[data]\nsource = "{source}"\n[model]\nerror = "{error}"\n'
    activation = "softmax" if error == "cross_entropy" else "identity"
    text += f'layers = [{{ type = "dense", units = {units}, activation = "{activation}" }}]\n'
    status, out, err = train(tmp_path, text, capsys)
    assert (status, err) == (0, "")
    assert out.startswith(summary) and "train loss: " in out


def test_a_config_feeding_logits_to_cross_entropy_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '[data]\nsource = "xor"\n[model]\nerror = "cross_entropy"\n'
    text += 'layers = [{ type = "dense", units = 2 }]\n'
    status, _out, err = train(tmp_path, text, capsys)
    assert status == 2
    assert err.count("\n") == 1 and "cannot feed the error function" in err
    assert "activation='softmax'" in err


@pytest.mark.parametrize(
    ("data", "key", "fixes"),
    [
        ('source = "xor"\ntest_size = 0.25', "data.test_size",
         "Set data.test_size = 0 to train on all 4 samples, set data.stratify = false or raise "
         "data.n."),
        ('source = "xor"\nn = 8\ntest_size = 0\nvalidation_split = 0.1', "data.validation_split",
         "Set data.validation_split = 0 to train on all 8 samples"),
        ('source = "sine"\nn = 1\ntest_size = 0.5', "data.test_size",
         "Set data.test_size = 0 to train on all 1 samples or raise data.n."),
        ('source = "spiral"\nn = 1\nvalidation_split = 0.5', "data.validation_split",
         "only 1 sample"),
    ],
)  # fmt: skip
def test_a_split_that_cannot_be_made_names_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: str, key: str, fixes: str
) -> None:
    text = f"[data]\n{data}\n[model]\nerror = \"square\"\nlayers = ['dense(units=2)']\n"
    status, out, err = train(tmp_path, text, capsys)
    assert status == 2 and out == ""
    assert err.startswith(f"plugnet train: error: {tmp_path / 'run.toml'}: {key}: ")
    assert fixes in err and err.count("\n") == 1


def test_only_the_default_test_size_gives_way() -> None:
    data = datasets.xor()
    default = loads_config('[data]\nsource = "xor"\n' + MODEL).data
    parts = default.split(data)
    assert parts.test is None and len(parts.train) == 4
    explicit = loads_config('[data]\nsource = "xor"\ntest_size = 0.5\n' + MODEL).data
    parts = explicit.split(data)
    assert parts.test is not None and (len(parts.train), len(parts.test)) == (2, 2)
    spiral = loads_config('[data]\nsource = "spiral"\n' + MODEL).data
    parts = spiral.split(datasets.spiral())
    assert parts.test is not None and len(parts.test) == 75


# -- data files ------------------------------------------------------------------------------------


def test_a_csv_field_over_the_csv_limit_names_the_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "wide.csv"
    file.write_text("a,label\n1,0\n" + "9" * (csv.field_size_limit() + 1) + ",1\n")
    with time_limit(), pytest.raises(ValueError, match=r"wide\.csv: line 3: not a readable CSV"):
        datasets.load(file)


def test_a_binary_csv_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "binary.csv"
    file.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(ValueError, match=r"binary\.csv: not UTF-8 text"):
        datasets.load(file)
    file.write_bytes(b"a,label\n\x00,1\n")
    with pytest.raises(ValueError, match=r"binary\.csv: row 2, column 'a'"):
        datasets.load(file)


def test_a_long_unknown_source_is_named_briefly() -> None:
    with time_limit(), pytest.raises(LookupError) as caught:
        datasets.load("x" * 1_000_000)
    assert len(str(caught.value)) < 500 and "(1000000 characters)" in str(caught.value)


# -- properties -----------------------------------------------------------------------------------

KNOWN = {
    "data": DATA_KEYS,
    "model": MODEL_KEYS,
    "training": TRAINING_KEYS,
    "output": OUTPUT_KEYS,
}
keys = st.sampled_from(sorted({k for ks in KNOWN.values() for k in ks})) | st.text(max_size=6)
scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(
        ["xor", "spiral", "sine", "x.csv", "relu", "dense", "square", "adam(lr=1e-3)",
         "dense(units=2)", "cross_entropy", "float64", "val_loss", "~x/y"]
    )
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
documents = st.dictionaries(
    st.sampled_from([*SECTIONS, "extra"]),
    st.dictionaries(keys, values, max_size=5),
    max_size=4,
)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def toml_document(document: dict[str, dict[str, Any]]) -> str:
    lines = []
    for section, table in document.items():
        lines.append(f"[{section}]")
        lines.extend(f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


@PROPERTY
@given(st.text(max_size=400))
def test_property_any_text_is_a_config_or_a_config_error(text: str) -> None:
    outcome(lambda: loads_config(text))


@PROPERTY
@given(st.text(alphabet="[]{}=\"'#\n ,.abdelorst0123456789", max_size=400))
def test_property_toml_like_text_is_a_config_or_a_config_error(text: str) -> None:
    outcome(lambda: loads_config(text))


@PROPERTY
@given(documents)
def test_property_random_documents_are_a_config_or_a_config_error(
    document: dict[str, dict[str, Any]],
) -> None:
    outcome(lambda: loads_config(toml_document(document)))


@PROPERTY
@given(st.binary(max_size=400))
def test_property_any_file_is_a_config_or_a_config_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        file = Path(directory) / "run.toml"
        file.write_bytes(content)
        result = outcome(lambda: load_config(file))
        if isinstance(result, ConfigError):
            assert result.file == file
