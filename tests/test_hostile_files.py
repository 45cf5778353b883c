"""Hostile model files: every one is refused with ModelFileError naming the file, quickly and
without allocating much more than the file's size; damaged genuine files load identically or
not at all. Hand-built cases first, then hypothesis-driven flips, truncations, splices and
config rewrites of a real saved model."""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plugnet
from plugnet.cli import main
from plugnet.network import Sequential
from plugnet.serialization import (
    CONFIG_KEY,
    MAX_CONFIG_BYTES,
    MAX_MEMBERS,
    model_config,
)
from tests._bounds import traced
from tests._zipcraft import Member, members_of, npy, npy_header, with_member, write_zip

X = np.random.default_rng(0).standard_normal((40, 5))
T = np.random.default_rng(1).integers(0, 3, 40)
CONFIG = f"{CONFIG_KEY}.npy"
WEIGHTS = "params/hidden.w.npy"

# A load may use this much memory beyond a small multiple of the file's size: the Python objects
# of a parsed config and a rebuilt network, and the 1 MiB read chunks.
ALLOWANCE = 4 * 2**20
SIZE_FACTOR = 6
SECONDS = 1.0


def build_model(seed: int = 3, optimizer: str = "adam(lr=0.01)") -> Sequential:
    net = Sequential(
        [
            {"type": "dense", "units": 8, "activation": "relu", "name": "hidden"},
            {"type": "batch_norm"},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer=optimizer,
        seed=seed,
    )
    net.fit(X, T, epochs=1, batch_size=16, verbose=0)
    return net


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def original(folder: Path) -> Sequential:
    return build_model()


@pytest.fixture(scope="module")
def genuine(folder: Path, original: Sequential) -> Path:
    path = folder / "genuine.npz"
    original.save(path)
    plugnet.load(path)  # the registry and every import are warm before anything is measured
    return path


@pytest.fixture(scope="module")
def other(folder: Path) -> bytes:
    """Another genuine model's file, for splicing."""
    path = folder / "other.npz"
    build_model(seed=5, optimizer="momentum(lr=0.05)").save(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def members(genuine: Path) -> list[Member]:
    return members_of(genuine)


@pytest.fixture(scope="module")
def config(genuine: Path) -> dict[str, Any]:
    with zipfile.ZipFile(genuine) as archive:
        raw = np.lib.format.read_array(io.BytesIO(archive.read(CONFIG)))
    return json.loads(raw.tobytes())


def config_member(value: Any) -> bytes:
    text = value if isinstance(value, (str, bytes)) else json.dumps(value)
    raw = text.encode() if isinstance(text, str) else text
    return npy(np.frombuffer(raw, dtype=np.uint8))


def identity(net: Sequential) -> dict[str, Any]:
    """Everything that makes a model this model: its whole config (which records every array's
    checksum and the random state) and its predictions."""
    return {
        **model_config(net, net.get_state(copy=False)["arrays"]),
        "predictions": net.predict(X).tobytes(),
    }


def attempt(path: Path, case: str) -> tuple[Any, int]:
    """Load ``path`` under tracemalloc; the model or the exception, and the peak in bytes.
    Asserts the time and memory bounds."""
    size = path.stat().st_size
    with traced() as measured:
        try:
            outcome: Any = plugnet.load(path)
        except Exception as exc:
            outcome = exc
    assert measured.seconds < SECONDS, f"{case}: loading took {measured.seconds:.2f} s"
    peak = measured.peak
    assert peak <= SIZE_FACTOR * size + ALLOWANCE, f"{case}: peak {peak} B for a {size} B file"
    return outcome, peak


def refused(path: Path, case: str, match: str) -> str:
    """Assert that loading ``path`` raises ModelFileError naming it, matching ``match``."""
    outcome, _ = attempt(path, case)
    assert isinstance(outcome, plugnet.ModelFileError), f"{case}: got {outcome!r}"
    message = str(outcome)
    assert outcome.path == path and message.startswith(f"{path}: "), message
    assert re.search(match, message), f"{case}: {message!r} does not match {match!r}"
    assert outcome.__suppress_context__ or outcome.__context__ is None  # no foreign traceback
    return message


# -- hand-built hostile files ---------------------------------------------------------------------


def test_a_deflated_member_declaring_one_and_a_half_gigabytes(
    folder: Path, members: list[Member]
) -> None:
    """1.5 GB of zeros deflate to 1.5 MB; np.load inflated all of it before failing. The CRC is
    left 0: a reader must refuse the member from its declared method and size, before inflating
    anything."""
    header = npy_header((375_000_000,), "<f4")
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(bytes(2**24)) + packer.flush(zlib.Z_FULL_FLUSH)
    count = 1_500_000_000 // 2**24
    rest = 1_500_000_000 - count * 2**24
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = (
        head.compress(header)
        + head.flush(zlib.Z_FULL_FLUSH)
        + block * count
        + packer.compress(bytes(rest))
        + packer.flush()
    )
    bomb = folder / "bomb.npz"
    write_zip(
        bomb,
        with_member(
            members, WEIGHTS, data=stream, method=zipfile.ZIP_DEFLATED,
            size=len(header) + 1_500_000_000, crc=0,
        ),
    )  # fmt: skip
    assert 1_000_000 < bomb.stat().st_size < 2_000_000
    refused(bomb, "inflating member", r"member 'params/hidden\.w\.npy' is compressed")


def test_a_config_declaring_a_15000_by_15000_layer(
    folder: Path, members: list[Member], config: dict[str, Any]
) -> None:
    """Today's 9 KB file whose network build allocated 1.75 GB in 12 s."""
    config = json.loads(json.dumps(config))
    config["input_shape"] = [15000]
    config["layers"][0]["config"]["units"] = 15000
    big = folder / "big.npz"
    write_zip(big, with_member(members, CONFIG, data=config_member(config)))
    refused(big, "15000x15000", r"needs at least 225000000 parameters, but the file holds \d+")


@pytest.mark.parametrize("fill", ["zeros", "ones"])
def test_a_config_declaring_a_huge_layer_filled_without_random_draws(
    folder: Path, members: list[Member], config: dict[str, Any], fill: str
) -> None:
    """The same 15000x15000 layer, initialized with zeros or ones, which draw no random numbers:
    it allocated 0.9 GB (ones: 1.75 GB) before the initializers were charged to the budget."""
    config = json.loads(json.dumps(config))
    config["input_shape"] = [15000]
    layer = config["layers"][0]["config"]
    layer["units"] = 15000
    layer["initializer"] = {"name": f"plugnet:{fill}"}
    big = folder / f"big-{fill}.npz"
    write_zip(big, with_member(members, CONFIG, data=config_member(config)))
    refused(big, f"15000x15000 {fill}", r"needs at least 225000000 parameters, but the file holds")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x00" * 160, r"member 'params/hidden\.w\.npy' is not a NumPy array"),
        (b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 200, r"is not a NumPy array"),
        (b"\x93NUMPY\x07\x00", r"has \.npy format \(7, 0\)"),
        (npy_header((-1, 8), "<f4"), r"(negative shape|not a NumPy array)"),
        (npy_header((4000, 8), "<f4") + bytes(160), r"declares shape \(4000, 8\) of float32"),
        (npy(np.zeros((5, 8), "complex64")), r"dtype complex64; model files hold only numbers"),
        (npy(np.array(["abcde"] * 8)), r"dtype <U5; model files hold only numbers"),
        (npy(np.array([{"a": 1}], dtype=object)), r"dtype object \(Python objects\)"),
        (npy(np.zeros((5, 8), "float64")), r"records \(5, 8\) and <f4"),
        (npy(np.zeros((8, 5), "float32")), r"has shape \(8, 5\) and dtype float32"),
    ],
    ids=[
        "raw-bytes", "bad-header", "npy-version", "negative-shape", "short-data", "complex",
        "strings", "objects", "wrong-dtype", "wrong-shape",
    ],
)  # fmt: skip
def test_members_that_are_not_the_arrays_they_claim(
    folder: Path, members: list[Member], data: bytes, match: str
) -> None:
    path = folder / "member.npz"
    write_zip(path, with_member(members, WEIGHTS, data=data))
    refused(path, f"member {match}", match)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"method": 99}, r"is compressed \(zip method 99\)"),
        ({"method": zipfile.ZIP_BZIP2}, r"is compressed \(zip method 12\)"),
        ({"flags": 0x1}, r"is encrypted"),
        ({"flags": 0x41}, r"is encrypted"),
        ({"method": zipfile.ZIP_DEFLATED, "data": b"not deflate data" * 10}, r"is compressed"),
        ({"size": 10**9}, r"declares 1000000000 bytes, more than the file holds"),
        ({"crc": 12345}, r"cannot read the file, it is truncated or corrupt \(BadZipFile"),
    ],
    ids=["unknown-method", "bzip2", "encrypted", "strong-encryption", "deflate", "size", "crc"],
)
def test_members_with_methods_flags_or_sizes_plugnet_never_writes(
    folder: Path, members: list[Member], changes: dict[str, Any], match: str
) -> None:
    path = folder / "flags.npz"
    write_zip(path, with_member(members, WEIGHTS, **changes))
    refused(path, f"zip {match}", match)


def test_duplicate_member_names(folder: Path, members: list[Member]) -> None:
    """np.load let the last of two same-named members win; either order is refused now."""
    forged = Member(WEIGHTS, npy(np.ones((5, 8), "float32")))
    path = folder / "duplicate.npz"
    for order in ([*members, forged], [forged, *members]):
        write_zip(path, order)
        refused(path, "duplicate", r"two members named 'params/hidden\.w\.npy'")


def test_a_member_named_like_no_array(folder: Path, members: list[Member]) -> None:
    path = folder / "extra.npz"
    write_zip(path, [*members, Member("README.txt", b"hello")])
    refused(path, "not npy", r"member 'README\.txt' is not a \.npy array")


def test_the_members_may_not_declare_more_than_the_file_holds(
    folder: Path, members: list[Member]
) -> None:
    # Each declares less than the file, but together more: the central directory is forged.
    path = folder / "overlap.npz"
    write_zip(path, members)
    data = bytearray(path.read_bytes())
    size = len(data)
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    start = data.rindex(b"PK\x05\x06")
    offset = int.from_bytes(data[start + 16 : start + 20], "little")
    for info in infos:  # point every entry at the first member, declaring 60% of the file
        entry = data.index(b"PK\x01\x02", offset)
        for field in (20, 24):  # compressed and uncompressed sizes
            data[entry + field : entry + field + 4] = (size * 6 // 10).to_bytes(4, "little")
        data[entry + 42 : entry + 46] = (0).to_bytes(4, "little")
        offset = entry + 46 + len(info.filename)
    path.write_bytes(bytes(data))
    refused(path, "overlap", r"declare more bytes in all than the file holds|more than the file")


def test_too_many_members(folder: Path, members: list[Member]) -> None:
    """zipfile builds an object per entry (eight times the entry's bytes, and slowly), so the
    entries are counted first, however many the end record declares."""
    path = folder / "many.npz"
    extra = [Member(f"m{i}.npy", b"") for i in range(4 * MAX_MEMBERS)]
    write_zip(path, [*members, *extra])
    refused(path, "many members", rf"the archive has {len(members) + len(extra)} members")
    content = bytearray(path.read_bytes())
    content[-12:-10] = (5).to_bytes(2, "little")  # the end record now says 5
    path.write_bytes(bytes(content))
    refused(path, "many members, 5 declared", rf"has more than {MAX_MEMBERS} members")


def test_a_config_that_is_too_large(folder: Path, members: list[Member]) -> None:
    path = folder / "large-config.npz"
    padding = " " * (MAX_CONFIG_BYTES + 1)
    write_zip(path, with_member(members, CONFIG, data=config_member(padding)))
    refused(path, "large config", rf"the config is {MAX_CONFIG_BYTES + 1} bytes, more than")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[" * 1_000_000 + "]" * 1_000_000, r"nests deeper than the 64 levels"),
        ('{"a": ' * 70 + "1" + "}" * 70, r"nests deeper than the 64 levels"),
        ('{"format": NaN}', r"holds NaN, which plugnet never writes"),
        ('{"format": -Infinity}', r"holds -Infinity"),
        ('{"format": 1e400}', r"holds the number 1e400, which is out of range"),
        ('{"format": ' + "7" * 5000 + "}", r"an integer of 5000 digits"),
        ('{"format": "plugnet.model", "format": "x"}', r"repeats the key 'format'"),
        ("\udcff", r"not valid JSON \(not UTF-8"),
        ("[1, 2", r"not valid JSON"),
        ('"just a string"', r"wrong format marker"),
    ],
    ids=["million-deep", "70-deep", "nan", "infinity", "1e400", "5000-digits", "repeated-key",
         "not-utf8", "truncated", "not-an-object"],
)  # fmt: skip
def test_config_json_that_plugnet_never_writes(
    folder: Path, members: list[Member], text: str, match: str
) -> None:
    raw = text.encode("utf-8", "surrogateescape")
    path = folder / "json.npz"
    write_zip(path, with_member(members, CONFIG, data=config_member(raw)))
    refused(path, f"json {match}", match)


def _edit(config: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    """``config`` with the entry at ``where`` ("layers 0 config units") set to ``value``."""
    edited = json.loads(json.dumps(config))
    *keys, last = where.split()
    target: Any = edited
    for key in keys:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return edited


INFINITY = float("inf")

CONFIG_EDITS = [
    ("arrays params/hidden.w shape", [INFINITY, 8], r"holds Infinity"),
    ("arrays params/hidden.w shape", [-5, 8], r"array 'params/hidden\.w' has no valid shape"),
    ("arrays params/hidden.w shape", [5, 2**70], r"has no valid shape"),
    ("arrays params/hidden.w sha256", "0" * 63, r"has no valid shape/dtype/checksum"),
    ("arrays params/hidden.w", None, r"has no valid shape/dtype/checksum"),
    ("input_shape", [-5], r"input_shape \[-5\] is not a list of 1 to 8 positive integers"),
    ("input_shape", [INFINITY], r"holds Infinity"),
    ("input_shape", [5.0], r"input_shape \[5\.0\]"),
    ("input_shape", [1] * 9, r"input_shape"),
    ("input_shape", [], r"input_shape"),
    ("input_shape", [True], r"input_shape"),
    ("rng_state state state", -1, r"the saved random state is invalid"),
    ("rng_state state state", 2**130, r"the saved random state is invalid"),
    ("rng_state state inc", INFINITY, r"holds Infinity"),
    ("rng_state uinteger", -3, r"random state is invalid"),
    ("rng_state has_uint32", 2, r"random state is invalid"),
    ("rng_state bit_generator", "MT19937", r"random state is invalid"),
    ("rng_state", [1, 2], r"random state is invalid"),
    ("seed", -1, r"seed -1 is not null or a non-negative integer"),
    ("seed", "3", r"seed '3'"),
    ("seed", True, r"seed True"),
    ("seed", 1.5, r"seed 1\.5"),
    ("dtype", "float16", r"dtype 'float16' is not float32 or float64"),
    ("layer_names", ["a", 3, "c"], r"layer_names are not one unique, non-empty name per layer"),
    ("layer_names", ["a", "a", "c"], r"layer_names"),
    ("layer_names", ["a", "b"], r"layer_names"),
    ("format_version", True, r"format version True is not supported"),
    ("format_version", 2, r"format version 2 is not supported"),
    ("layers", [], r"the config has no list of layers"),
    ("layers 0", "dense", r"a layer record is malformed: 'dense'"),
    ("layers 0 kind", "optimizer", r"a layer record is malformed"),
    ("layers 0 config", [1], r"a layer record is malformed"),
    ("layers 0 trainable", "false", r"a layer record is malformed"),
    ("layers 0 trainable", 0, r"a layer record is malformed"),
    ("optimizer name", 7, r"an optimizer record is malformed"),
    ("providers", [], r"providers table is not a mapping"),
    ("layers 0 config units", -3, r"layer 'plugnet:dense' refuses its saved config .*units"),
    ("layers 0 config units", "8", r"layer 'plugnet:dense' refuses its saved config"),
    ("layers 0 config units", 10**30, r"needs at least \d+ parameters, but the file holds"),
    ("layers 0 config surprise", 1, r"layer 'plugnet:dense' refuses its saved config"),
    ("layers 0 config activation", {"name": "plugnet:no_such"}, r"refuses|cannot be rebuilt"),
    ("layers 0 config activation", {"name": "relu", "alpha": 2}, r"refuses its saved config"),
    ("layers 0 name", "plugnet:no_such_layer", r"layer 'plugnet:no_such_layer' cannot be rebuilt"),
    ("layers 0 name", "plugnet:relu", r"cannot be rebuilt: unknown layer"),
    ("layers 0 name", "plugnet:dense(units=2)", r"cannot be rebuilt|refuses"),
    ("layers 1 name", "plugnet:dense", r"refuses its saved config"),
    ("optimizer config lr", -1, r"optimizer 'plugnet:adam' refuses its saved config"),
    ("error_function config", {"eps": "x"}, r"error function 'plugnet:cross_entropy' refuses"),
    ("arrays optimizer/iterations shape", [2], r"optimizer/iterations"),
]


@pytest.mark.parametrize(("where", "value", "match"), CONFIG_EDITS)
def test_config_entries_that_do_not_hold_what_loading_needs(
    folder: Path,
    members: list[Member],
    config: dict[str, Any],
    where: str,
    value: Any,
    match: str,
) -> None:
    path = folder / "edited.npz"
    write_zip(path, with_member(members, CONFIG, data=config_member(_edit(config, where, value))))
    refused(path, f"{where}={value!r}", match)


def test_a_missing_provider_is_still_named_for_installation(
    folder: Path, members: list[Member], config: dict[str, Any]
) -> None:
    edited = _edit(config, "layers 0 config activation", {"name": "plugnet-mish:mish"})
    path = folder / "needs-mish.npz"
    write_zip(path, with_member(members, CONFIG, data=config_member(edited)))
    outcome, _ = attempt(path, "missing provider")
    assert isinstance(outcome, plugnet.MissingProviderError)
    assert str(outcome).startswith(f"{path}: ") and "pip install plugnet-mish" in str(outcome)


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_the_cli_reports_a_hostile_model_in_one_line(
    folder: Path,
    members: list[Member],
    config: dict[str, Any],
    command: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = folder / "data.npz"
    np.savez(data, x=X, t=T)
    hostile = folder / "hostile.npz"
    edited = _edit(config, "rng_state state state", -1)
    write_zip(hostile, with_member(members, CONFIG, data=config_member(edited)))
    bomb = folder / "raw.npz"
    write_zip(bomb, with_member(members, WEIGHTS, data=b"\x00" * 64))
    for path in (hostile, bomb):
        capsys.readouterr()
        assert main([command, str(path), "--data", str(data)]) == 2
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"plugnet {command}: error: {path}: ")
        assert "Traceback" not in captured.err and captured.out == ""


def test_the_genuine_model_loads_identically(genuine: Path, original: Sequential) -> None:
    loaded, peak = attempt(genuine, "genuine")
    assert isinstance(loaded, Sequential)
    assert identity(loaded) == identity(original)
    assert peak <= SIZE_FACTOR * genuine.stat().st_size + ALLOWANCE


# -- damaged genuine files ------------------------------------------------------------------------


def judge(path: Path, case: str, original: Sequential, *, rewritten: bool = False) -> str:
    """Load a damaged file: the identical model, ModelFileError naming it, or (for rewritten
    configs) any model, or MissingProviderError when the config names a provider that is not
    installed. Returns which."""
    outcome, _ = attempt(path, case)
    if isinstance(outcome, Sequential):
        if not rewritten:
            assert identity(outcome) == identity(original), f"{case}: a different model loaded"
        return "model"
    if isinstance(outcome, plugnet.MissingProviderError):
        assert rewritten, f"{case}: {outcome}"
        text = json.dumps(_config_of(path))
        installed = {p.name for p in plugnet.registry().providers}
        named = {q.split(":")[0] for q in re.findall(r'"([^"]*:[^"]*)"', text)}
        assert named - installed, f"{case}: {outcome} names no missing provider"
        return "missing provider"
    assert isinstance(outcome, plugnet.ModelFileError), f"{case}: {type(outcome)}: {outcome}"
    assert str(outcome).startswith(f"{path}: ")
    return "refused"


def _config_of(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        return json.loads(np.lib.format.read_array(io.BytesIO(archive.read(CONFIG))).tobytes())


def property_settings(examples: int) -> Any:
    return settings(
        derandomize=True,
        deadline=None,
        max_examples=examples,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )


def header_regions(path: Path) -> list[tuple[int, int]]:
    """Where each member's .npy header lies in the file: (start, end) byte positions."""
    content = path.read_bytes()
    regions = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name, extra = struct.unpack_from("<HH", content, info.header_offset + 26)
            start = info.header_offset + 30 + name + extra
            with archive.open(info) as stream:
                np.lib.format.read_magic(stream)
                np.lib.format.read_array_header_1_0(stream)
                regions.append((start, start + stream.tell()))
    return regions


@property_settings(150)
@given(data=st.data())
def test_flipped_bytes_give_the_same_model_or_an_error(
    data: st.DataObject, folder: Path, genuine: Path, original: Sequential
) -> None:
    damaged = bytearray(genuine.read_bytes())
    headers = header_regions(genuine)
    for _ in range(data.draw(st.integers(1, 3), label="flips")):
        # Half the flips land in a .npy header, which is parsed before the CRC is checked.
        if data.draw(st.booleans(), label="in a header"):
            start, end = data.draw(st.sampled_from(headers), label="header")
            position = data.draw(st.integers(start, end - 1), label="position")
        else:
            position = data.draw(st.integers(0, len(damaged) - 1), label="position")
        damaged[position] ^= data.draw(st.integers(1, 255), label="mask")
    path = folder / "flipped.npz"
    path.write_bytes(bytes(damaged))
    judge(path, "flip", original)


@property_settings(100)
@given(data=st.data())
def test_truncated_files_give_an_error(
    data: st.DataObject, folder: Path, genuine: Path, original: Sequential
) -> None:
    content = genuine.read_bytes()
    cut = data.draw(st.integers(0, len(content) - 1), label="cut")
    path = folder / "truncated.npz"
    path.write_bytes(content[:cut])
    assert judge(path, "truncation", original) == "refused"


@property_settings(60)
@given(data=st.data())
def test_spliced_files_give_the_same_model_or_an_error(
    data: st.DataObject, folder: Path, genuine: Path, other: bytes, original: Sequential
) -> None:
    content = genuine.read_bytes()
    start = data.draw(st.integers(0, len(content)), label="start")
    end = data.draw(st.integers(start, len(content)), label="end")
    source = data.draw(st.sampled_from(["other", "random", "repeat"]), label="source")
    if source == "other":
        at = data.draw(st.integers(0, len(other)), label="at")
        insert = other[at : at + data.draw(st.integers(0, 4096), label="length")]
    elif source == "random":
        insert = data.draw(st.binary(max_size=600), label="bytes")
    else:
        insert = content[start:end] * 2
    path = folder / "spliced.npz"
    path.write_bytes(content[:start] + insert + content[end:])
    judge(path, "splice", original)


def json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**70), 2**70)
        | st.sampled_from([0, 1, -1, 2**31, 2**64, 10**40, 15000])
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=12)
        | st.sampled_from(["plugnet:relu", "plugnet:dense", "ghost:thing", "float64", "PCG64"])
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                   max_size=4),
        max_leaves=8,
    )  # fmt: skip


def paths(config: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value in a JSON document."""
    yield prefix
    if isinstance(config, dict):
        for key, value in config.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(config, list):
        for index, value in enumerate(config):
            yield from paths(value, (*prefix, index))


@property_settings(60)
@given(data=st.data())
def test_rewritten_configs_give_a_model_or_a_public_error(
    data: st.DataObject,
    folder: Path,
    members: list[Member],
    config: dict[str, Any],
    original: Sequential,
) -> None:
    edited = json.loads(json.dumps(config))
    # Half the edits go to the component records, which loading hands to the components.
    section = data.draw(st.sampled_from([None, "layers", "optimizer", "error_function"]))
    every = [p for p in paths(edited) if section is None or p[:1] == (section,)]
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        where = data.draw(st.sampled_from(every), label="where")
        value = data.draw(json_values(), label="value")
        try:
            if not where:
                edited = value
                break
            parent: Any = edited
            for key in where[:-1]:
                parent = parent[key]
            action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
            if action == "delete" and isinstance(parent, dict):
                del parent[where[-1]]
            elif action == "add" and isinstance(parent, dict):
                parent[data.draw(st.text(max_size=6), label="key")] = value
            else:
                parent[where[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    text = json.dumps(edited, allow_nan=True)
    path = folder / "rewritten.npz"
    write_zip(path, with_member(members, CONFIG, data=config_member(text)))
    judge(path, "config rewrite", original, rewritten=True)


def test_a_zip64_archive_loads(
    folder: Path, original: Sequential, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files over 4 GiB end with ZIP64 records; zipfile writes them for more than N members."""
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 4)
    path = folder / "zip64.npz"
    original.save(path)
    assert path.read_bytes()[-98:-94] == b"PK\x06\x06"  # the ZIP64 end record is there
    loaded, _ = attempt(path, "zip64")
    assert isinstance(loaded, Sequential) and identity(loaded) == identity(original)
