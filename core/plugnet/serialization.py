"""Saving and loading models: one ``.npz`` of arrays plus a JSON config, never pickle.

The config records every component by qualified name and ``get_config()``, with the provider's
distribution and version; loading rebuilds them through the registry. Every array's shape, dtype
and SHA-256 are recorded too, and the zip's CRC-32 covers every member, the config included, so
a truncated, corrupt or edited file is refused as a whole.

Loading trusts nothing in the file: every size it declares (zip entries, ``.npy`` headers, the
config's array table) is checked against the others and against the file's length before any data
is read, and the network the config describes is first built with a random generator that refuses
to draw more numbers than the file's arrays hold. Every way a file can be wrong raises
:class:`~plugnet.errors.ModelFileError`, which names the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
import os
import re
import secrets
import stat
import struct
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, cast

import numpy as np

from plugnet._version import __version__
from plugnet.arrays import check_finite
from plugnet.errors import MissingProviderError, ModelFileError
from plugnet.model_config import CONFIG_KEYS, REFUSALS, clip
from plugnet.protocols import Array
from plugnet.specs import preview

if TYPE_CHECKING:
    from plugnet._registry import Registry
    from plugnet.network import Model

FORMAT = "plugnet.model"
FORMAT_VERSION = 1
CONFIG_KEY = "__config__"

# Limits on what a model file may declare; a genuine file stays far below each of them.
MAX_CONFIG_BYTES = 4 * 2**20  # the JSON config; 10,000 arrays and layers take about 2 MiB
MAX_CONFIG_DEPTH = 64  # nesting of the JSON config; a genuine one nests about 8 deep
MAX_INT_DIGITS = 40  # an integer in the config; 2**128 (the RNG state) has 39 digits
MAX_MEMBERS = 10_000  # members (arrays); each costs about 0.15 ms to check
MAX_RANK = 8  # axes of the per-sample input shape
MAX_INPUTS = 256  # a graph model's inputs
MAX_READS = 1024  # the values one layer reads (a merge layer's inputs)
MAX_DIM = 2**31 - 1  # one axis of the input shape
DRAW_ALLOWANCE = 2**16  # numbers the trial build may draw beyond twice the file's arrays

TEMPORARY_MARK = ".plugnet-tmp-"
_CHUNK = 2**20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,  # UnicodeDecodeError of a member name, bad seeks, .npy header errors
    NotImplementedError,  # compression methods and flags zipfile does not implement
    RuntimeError,  # encrypted members
    struct.error,
    zlib.error,
    OverflowError,
)


# -- saving ------------------------------------------------------------------------------------


def _digest(array: Array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def model_config(net: Model, arrays: Mapping[str, Array]) -> dict[str, Any]:
    """The JSON config of a model file holding ``arrays``: the format marker, the network's
    :meth:`~plugnet.network.Model.get_config`, its random state, and the array table."""
    try:
        architecture = net.get_config()
    except ValueError as exc:
        raise ValueError(f"cannot save: {exc}") from None
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "plugnet_version": __version__,
        **architecture,
        "rng_state": net.get_state(copy=False)["rng"],
        "arrays": {
            key: {"shape": list(value.shape), "dtype": value.dtype.str, "sha256": _digest(value)}
            for key, value in arrays.items()
        },
    }


def save(net: Model, path: str | os.PathLike[str], *, allow_nonfinite: bool = False) -> None:
    """Write ``net`` to ``path`` atomically: a temporary file beside it, then a rename.

    A symlink is followed (the file it points to is replaced) and an existing file keeps its
    permission bits. Weights, buffers or optimizer state holding NaN or infinity are refused
    unless ``allow_nonfinite`` is true.
    """
    if not net.built:
        raise ValueError("cannot save a network that is not built yet; fit or build it first")
    target = _target(Path(path))
    arrays = net.get_state(copy=False)["arrays"]
    if not allow_nonfinite:
        for key, value in arrays.items():
            try:
                check_finite(value, key, advice="pass allow_nonfinite=True to save it anyway")
            except ValueError as exc:
                raise ValueError(f"cannot save {path}: {exc}") from None
    config = json.dumps(model_config(net, arrays), sort_keys=True).encode("utf-8")
    # C order throughout, so every .npy header says fortran_order False (0-d arrays stay 0-d).
    payload: dict[str, Any] = {k: np.require(v, requirements="C") for k, v in arrays.items()}
    payload[CONFIG_KEY] = np.frombuffer(config, dtype=np.uint8)
    write_atomically(target, lambda handle: np.savez(handle, **payload))


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it over ``path``;
    returns the file replaced. A symlink is followed, an existing file keeps its permission
    bits, the data is synced before the rename, and a failure leaves the old file as it was
    (the temporaries of killed writers are removed the next time)."""
    target = _target(path)
    _remove_stale_temporaries(target)
    temporary, descriptor = _create_temporary(target)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if target.exists():
                _chmod(handle.fileno(), temporary, stat.S_IMODE(target.stat().st_mode) & 0o777)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        with _writing_lock:
            _writing.discard(temporary.name)
    _sync_directory(target.parent)
    return target


def _target(path: Path) -> Path:
    """The file a save to ``path`` replaces: symlinks resolved, its directory checked."""
    target = Path(os.path.realpath(path))
    directory = target.parent
    if not directory.is_dir():
        if directory.exists():
            raise NotADirectoryError(f"cannot save {path}: {directory} is not a directory")
        raise FileNotFoundError(
            f"cannot save {path}: the directory {directory} does not exist; create it first"
        )
    if target.is_dir():
        raise IsADirectoryError(f"cannot save {path}: it is a directory; give a file name")
    return target


# The temporaries this process is writing now: another thread's save to the same path must not
# take them for leftovers of a killed save.
_writing: set[str] = set()
_writing_lock = threading.Lock()


def _temporary_prefix(target: Path) -> str:
    # The name is cut so that the temporary's name stays under the usual 255-byte limit.
    return f".{target.name[:200]}{TEMPORARY_MARK}"


def _create_temporary(target: Path) -> tuple[Path, int]:
    """A new, empty temporary file beside ``target`` and its descriptor.

    It is created with mode 0o666, which the process's umask reduces, as ``open()`` would; its
    name, ``.NAME.plugnet-tmp-PID-RANDOM``, says which process writes it.
    """
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)
    while True:
        name = f"{_temporary_prefix(target)}{os.getpid()}-{secrets.token_hex(6)}"
        temporary = target.with_name(name)
        with _writing_lock:
            try:
                descriptor = os.open(temporary, flags, 0o666)
            except FileExistsError:
                continue
            except OSError as exc:
                raise type(exc)(
                    f"cannot save {target}: cannot create a file in {target.parent} "
                    f"({exc.strerror or exc})"
                ) from None
            _writing.add(name)
        return temporary, descriptor


def _remove_stale_temporaries(target: Path) -> None:
    """Remove the temporaries of saves to ``target`` whose process is gone (killed mid-save)."""
    prefix = _temporary_prefix(target)
    try:
        entries = [e for e in os.scandir(target.parent) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        pid, dash, token = entry.name[len(prefix) :].partition("-")
        if not (pid.isdigit() and dash and token) or not entry.is_file(follow_symlinks=False):
            continue
        if _writer_gone(int(pid), entry.name):
            Path(entry.path).unlink(missing_ok=True)


def _writer_gone(pid: int, name: str) -> bool:
    if pid == os.getpid():
        with _writing_lock:
            return name not in _writing
    if os.name != "posix":
        return False  # no cheap liveness check: keep it rather than break a running save
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, but another user's
    return False


def _chmod(descriptor: int, path: Path, mode: int) -> None:
    if os.chmod in os.supports_fd:
        os.chmod(descriptor, mode)
    else:
        os.chmod(path, mode)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable; not every platform or file system can."""
    if os.name != "posix":
        return
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# -- reading -----------------------------------------------------------------------------------


class _Header:
    """A member's ``.npy`` header: what it declares and where its data starts."""

    def __init__(
        self,
        info: zipfile.ZipInfo,
        shape: tuple[int, ...],
        fortran: bool,
        dtype: np.dtype[Any],
        offset: int,
    ) -> None:
        self.info = info
        self.shape = shape
        self.fortran = fortran
        self.dtype = dtype
        self.offset = offset
        self.count = math.prod(shape)
        self.nbytes = self.count * dtype.itemsize


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Array]]:
    """The validated config and the arrays of a model file."""
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not a model file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if handle.read(4) != b"PK\x03\x04":
            raise ModelFileError(path, "not a plugnet model file (not an .npz archive)")
        _check_directory(path, handle, size)
        handle.seek(0)
        try:
            archive = zipfile.ZipFile(handle)
        except _ZIP_ERRORS as exc:
            _corrupt(path, exc)
        with archive:
            return _read_archive(path, archive, size)


_END = struct.Struct("<IHHHHIIH")  # the end of central directory record
_END64_LOCATOR = struct.Struct("<IIQI")
_END64 = struct.Struct("<IQHHIIQQQQ")
_ENTRY_SIZE = 46  # a central directory entry before its name, extra field and comment


def _check_directory(path: Path, handle: IO[bytes], size: int) -> None:
    """Count the archive's entries, at most ``MAX_MEMBERS + 1`` of them, before zipfile parses
    them all: it builds an object for each (eight times the bytes they take) and only then could
    the count be checked. The central directory must sit where plugnet (NumPy) writes it: right
    before the end record, which ends the file (plugnet writes no archive comment)."""

    def corrupt(problem: str) -> NoReturn:
        raise ModelFileError(
            path, f"cannot read the file, it is truncated or corrupt ({problem})"
        ) from None

    if size < _END.size:
        corrupt("it is too short for a zip archive")
    end = size - _END.size
    handle.seek(end)
    signature, _, _, _, count, directory_size, offset, comment = _END.unpack(handle.read(_END.size))
    if signature != 0x06054B50 or comment:
        corrupt("the file does not end with a zip end-of-archive record")
    # A ZIP64 locator before the end record (as zipfile reads it) means a ZIP64 end record.
    if end >= _END64_LOCATOR.size + _END64.size:
        handle.seek(end - _END64_LOCATOR.size)
        if _END64_LOCATOR.unpack(handle.read(_END64_LOCATOR.size))[0] == 0x07064B50:
            end -= _END64_LOCATOR.size + _END64.size
            handle.seek(end)
            fields = _END64.unpack(handle.read(_END64.size))
            if fields[0] != 0x06064B50:
                corrupt("its ZIP64 end record is missing")
            count, directory_size, offset = fields[7:10]
    if count > MAX_MEMBERS:
        raise ModelFileError(path, f"the archive has {count} members, more than a model holds")
    if offset + directory_size != end:
        corrupt("its central directory is not where its end record says")
    entries, position = 0, offset
    while position < end:
        entries += 1
        if entries > MAX_MEMBERS:
            raise ModelFileError(path, f"the archive has more than {MAX_MEMBERS} members")
        handle.seek(position)
        entry = handle.read(_ENTRY_SIZE)
        if len(entry) < _ENTRY_SIZE or entry[:4] != b"PK\x01\x02":
            corrupt("its central directory is damaged")
        name, extra, note = struct.unpack_from("<HHH", entry, 28)
        position += _ENTRY_SIZE + name + extra + note


def _corrupt(path: Path, exc: BaseException) -> NoReturn:
    raise ModelFileError(
        path,
        f"cannot read the file, it is truncated or corrupt ({type(exc).__name__}: {clip(exc)})",
    ) from None


def _read_archive(
    path: Path, archive: zipfile.ZipFile, size: int
) -> tuple[dict[str, Any], dict[str, Array]]:
    def fail(problem: str) -> NoReturn:
        raise ModelFileError(path, problem) from None

    infos = archive.infolist()
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if name in members:
            fail(f"the archive holds two members named {name!r}; the file was altered")
        if info.flag_bits & 0x1:
            fail(f"member {name!r} is encrypted; plugnet writes no encrypted members")
        if info.compress_type != zipfile.ZIP_STORED:
            fail(
                f"member {name!r} is compressed (zip method {info.compress_type}); plugnet writes "
                f"uncompressed members only, so the file was not written by plugnet"
            )
        if info.file_size != info.compress_size or info.header_offset + info.file_size > size:
            fail(f"member {name!r} declares {info.file_size} bytes, more than the file holds")
        if not name.endswith(".npy"):
            fail(f"member {name!r} is not a .npy array")
        members[name] = info
    if sum(info.file_size for info in infos) > size:
        fail("the members declare more bytes in all than the file holds")
    keys = {name.removesuffix(".npy"): info for name, info in members.items()}
    if CONFIG_KEY not in keys:
        fail("not a plugnet model file (it has no config)")
    with _member(path, archive, keys.pop(CONFIG_KEY)) as (raw, stream):
        if raw.dtype != np.uint8 or len(raw.shape) != 1:
            fail("the config entry is not JSON bytes; the file is damaged or forged")
        if raw.nbytes > MAX_CONFIG_BYTES:
            fail(f"the config is {raw.nbytes} bytes, more than the {MAX_CONFIG_BYTES} a model has")
        config = _parse_config(path, _data(path, stream, raw).tobytes())
    expected = config["arrays"]
    if set(keys) != set(expected):
        extra, missing = sorted(set(keys) - set(expected)), sorted(set(expected) - set(keys))
        fail(f"the arrays do not match the config (extra {extra}, missing {missing})")
    arrays = {}
    for key, info in sorted(keys.items()):
        meta = expected[key]
        with _member(path, archive, info) as (header, stream):
            if list(header.shape) != meta["shape"] or header.dtype.str != meta["dtype"]:
                fail(
                    f"array {key!r} has shape {header.shape} and dtype {header.dtype}, but the "
                    f"config records {tuple(meta['shape'])} and {meta['dtype']}; the file was "
                    f"altered"
                )
            array = _data(path, stream, header)
        digest = hashlib.sha256(array.data if array.flags.c_contiguous else array.tobytes())
        if digest.hexdigest() != meta["sha256"]:
            fail(f"array {key!r} does not match its checksum; the file was altered")
        arrays[key] = array
    return config, arrays


@contextlib.contextmanager
def _member(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo
) -> Iterator[tuple[_Header, IO[bytes]]]:
    """Open a member and parse its ``.npy`` header, checking that the header declares exactly
    the member's size and a dtype plugnet writes; yields the header and the stream at its data."""
    name = info.filename
    read = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }
    try:
        stream = archive.open(info)
    except _ZIP_ERRORS as exc:
        _corrupt(path, exc)
    with stream:
        try:
            version = np.lib.format.read_magic(stream)
            if version not in read:
                raise ModelFileError(path, f"member {name!r} has .npy format {version}")
            shape, fortran, dtype = read[version](stream)
        except ModelFileError:
            raise
        except (zipfile.BadZipFile, OSError) as exc:  # reading the member (its CRC, say)
            _corrupt(path, exc)
        except Exception as exc:  # NumPy's header parser raises what its tokenizer and ast do
            raise ModelFileError(
                path, f"member {name!r} is not a NumPy array plugnet wrote ({clip(exc)})"
            ) from None
        if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields or dtype.subdtype:
            raise ModelFileError(
                path,
                f"the file holds data plugnet will not load: member {name!r} has dtype {dtype}"
                + (" (Python objects)" if dtype.hasobject else "")
                + "; model files hold only numbers",
            )
        if any(d < 0 for d in shape):
            raise ModelFileError(path, f"member {name!r} declares the negative shape {shape}")
        header = _Header(info, shape, fortran, dtype, stream.tell())
        if header.offset + header.nbytes != info.file_size:
            raise ModelFileError(
                path,
                f"member {name!r} declares shape {shape} of {dtype} ({header.nbytes} bytes), "
                f"but holds {info.file_size} bytes with its header; the file is truncated or "
                f"altered",
            )
        yield header, stream


def _data(path: Path, stream: IO[bytes], header: _Header) -> Array:
    """Read the rest of a member, in chunks, into an array of its declared (checked) size."""
    flat = np.empty(header.count, dtype=header.dtype)
    view = flat.view(np.uint8)
    position = 0
    try:
        while position < header.nbytes:
            chunk = stream.read(min(_CHUNK, header.nbytes - position))
            if not chunk:
                break
            view[position : position + len(chunk)] = np.frombuffer(chunk, np.uint8)
            position += len(chunk)
        # Reading to the member's end makes zipfile check its CRC-32.
        truncated = position != header.nbytes or stream.read(1)
    except _ZIP_ERRORS as exc:
        _corrupt(path, exc)
    if truncated:
        raise ModelFileError(path, f"member {header.info.filename!r} is truncated")
    if header.fortran:
        return flat.reshape(header.shape[::-1]).T
    return flat.reshape(header.shape)


# -- the config --------------------------------------------------------------------------------


def _parse_config(path: Path, raw: bytes) -> dict[str, Any]:
    def fail(problem: str) -> NoReturn:
        raise ModelFileError(path, problem) from None

    def bounded_int(text: str) -> int:
        if len(text.lstrip("-")) > MAX_INT_DIGITS:
            fail(f"the config holds an integer of {len(text)} digits, larger than any it records")
        return int(text)

    def finite_float(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            fail(f"the config holds the number {text[:40]}, which is out of range")
        return value

    def constant(text: str) -> NoReturn:
        fail(f"the config holds {text}, which plugnet never writes (not a finite number)")

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                fail(f"the config repeats the key {key!r}; the file was altered")
            result[key] = value
        return result

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"the config is not valid JSON (not UTF-8: {exc})")
    decoder = json.JSONDecoder(
        parse_int=bounded_int,
        parse_float=finite_float,
        parse_constant=constant,
        object_pairs_hook=unique_keys,
    )
    try:
        config = decoder.decode(text)
    except json.JSONDecodeError as exc:
        fail(f"the config is not valid JSON ({clip(exc)})")
    except RecursionError:
        fail(f"the config nests deeper than the {MAX_CONFIG_DEPTH} levels a model config has")
    if _depth(config) > MAX_CONFIG_DEPTH:
        fail(f"the config nests deeper than the {MAX_CONFIG_DEPTH} levels a model config has")
    _check_config(path, config)
    return config


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _is_int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _check_config(path: Path, config: Any) -> None:
    """Check the config's structure: every entry loading uses has the type and range it needs."""

    def require(ok: bool, problem: str) -> None:
        if not ok:
            raise ModelFileError(path, problem)

    require(
        isinstance(config, dict) and config.get("format") == FORMAT,
        "not a plugnet model file (wrong format marker)",
    )
    version = config.get("format_version")
    require(
        type(version) is int and version == FORMAT_VERSION,
        f"model format version {version!r} is not supported by plugnet {__version__} "
        f"(it reads version {FORMAT_VERSION})",
    )
    require(
        config.get("dtype") in ("float32", "float64"),
        f"the config's dtype {config.get('dtype')!r} is not float32 or float64",
    )
    seed = config.get("seed", "missing")
    require(
        seed is None or _is_int(seed, 0, 2**128),
        f"the config's seed {seed!r} is not null or a non-negative integer",
    )
    inputs = config.get("inputs", ["input"])
    require(
        isinstance(inputs, list)
        and 1 <= len(inputs) <= MAX_INPUTS
        and all(isinstance(n, str) and n for n in inputs)
        and len(set(inputs)) == len(inputs),
        f"the config's inputs are not 1 to {MAX_INPUTS} unique, non-empty names",
    )
    shape = config.get("input_shape")
    # One input's shape is a list; several inputs' (a graph's) a dict by name. A shape may be
    # () only for integer indices, whose per-sample shape can be a scalar.
    shapes = shape if isinstance(shape, dict) and "inputs" in config else {inputs[0]: shape}
    require(
        sorted(shapes) == sorted(inputs)
        and all(
            isinstance(s, list) and len(s) <= MAX_RANK and all(_is_int(d, 1, MAX_DIM) for d in s)
            for s in shapes.values()
        ),
        f"the config's input_shape {preview(shape)} is not a list of 1 to {MAX_RANK} positive "
        f"integers (or [] for integer indices, a dict of them by input name for several inputs)",
    )
    layers = config.get("layers")
    require(isinstance(layers, list) and bool(layers), "the config has no list of layers")
    for record in layers:
        _check_record(path, "layer", record)
        reads = record.get("inputs", ["input"]) if "inputs" in config else ["input"]
        require(
            ("inputs" in config or "inputs" not in record)
            and isinstance(reads, list)
            and 1 <= len(reads) <= MAX_READS
            and all(isinstance(n, str) and n for n in reads),
            f"a layer record's inputs are not 1 to {MAX_READS} names: {preview(record)}",
        )
    _check_record(path, "error_function", config.get("error_function"))
    _check_record(path, "optimizer", config.get("optimizer"))
    metrics = config.get("metrics")
    require(metrics is None or isinstance(metrics, list), "the config's metrics are not a list")
    for record in metrics or []:
        _check_record(path, "metric", record)
    names = config.get("layer_names")
    require(
        isinstance(names, list)
        and len(names) == len(layers)
        and all(isinstance(n, str) and n for n in names)
        and len(set(names)) == len(names),
        "the config's layer_names are not one unique, non-empty name per layer",
    )
    providers = config.get("providers", {})
    require(
        isinstance(providers, dict) and all(isinstance(v, str) for v in providers.values()),
        "the config's providers table is not a mapping of names to versions",
    )
    require(_valid_rng_state(config.get("rng_state")), "the saved random state is invalid")
    table = config.get("arrays")
    require(isinstance(table, dict), "the config has no array table")
    for key, meta in table.items():
        require(
            isinstance(meta, dict)
            and isinstance(meta.get("shape"), list)
            and all(_is_int(d, 0, 2**63) for d in meta["shape"])
            and isinstance(meta.get("dtype"), str)
            and isinstance(meta.get("sha256"), str)
            and _SHA256.match(meta["sha256"]) is not None,
            f"array {key!r} has no valid shape/dtype/checksum record",
        )


def _check_record(path: Path, kind: str, record: Any) -> None:
    label = kind.replace("_", " ")
    article = "an" if label[0] in "aeiou" else "a"
    if not (
        isinstance(record, dict)
        and record.get("kind", kind) == kind
        and isinstance(record.get("name"), str)
        and isinstance(record.get("config", {}), dict)
        and all(isinstance(record.get(k, ""), str) for k in ("provider", "version"))
        and (kind != "layer" or isinstance(record.get("trainable", True), bool))
    ):
        raise ModelFileError(path, f"{article} {label} record is malformed: {preview(record)}")


def _valid_rng_state(state: Any) -> bool:
    """A PCG64 state as ``Generator.bit_generator.state`` gives it, with in-range integers."""
    return (
        isinstance(state, dict)
        and set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
        and state["bit_generator"] == "PCG64"
        and isinstance(state["state"], dict)
        and set(state["state"]) == {"state", "inc"}
        and all(_is_int(v, 0, 2**128 - 1) for v in state["state"].values())
        and _is_int(state["has_uint32"], 0, 1)
        and _is_int(state["uinteger"], 0, 2**32 - 1)
    )


# -- rebuilding --------------------------------------------------------------------------------


def load(
    path: str | os.PathLike[str], *, model: type[Model], registry: Registry | None = None
) -> Model:
    """Rebuild a ``model`` (the class) written by :meth:`Model.save`; nothing in the file
    is executed. Components are looked up in ``registry`` (default: the process-wide one).
    :func:`plugnet.load` is this with ``model=Model``; the class is passed in so that the
    file format does not import the network that uses it.

    Raises :class:`~plugnet.errors.ModelFileError` (a ``ValueError``) naming the file for any
    file that is not an intact plugnet model, and
    :class:`~plugnet.errors.MissingProviderError` when a component's plugin is not installed.
    """
    source = Path(path)
    config, arrays = _read(source)
    architecture = {key: config[key] for key in CONFIG_KEYS if key in config}
    if registry is None:
        from plugnet.discovery import get_registry

        registry = get_registry()
    shape = config["input_shape"]
    input_shape = shape if isinstance(shape, dict) else tuple(shape)
    # First a trial network, whose initializers charge what they allocate, built with a
    # Generator that refuses oversized draws; only a config that fits its file gets further.
    trial = _from_config(source, model, architecture, cast("Registry", _ChargingRegistry(registry)))
    _trial_build(source, trial, input_shape, arrays)
    net = _from_config(source, model, architecture, registry)
    net.build(input_shape)  # with the network's own Generator, which layers may keep
    try:
        net.set_state({"arrays": arrays, "rng": config["rng_state"]})
    except ValueError as exc:
        raise ModelFileError(source, str(exc)) from None
    return net


class _DrawRefused(MemoryError):
    """A trial build asked for more random numbers than the model file's arrays hold."""


def _budgeted(method: Callable[..., Any], count: Callable[[inspect.BoundArguments], Any]) -> Any:
    signature = inspect.signature(method)

    def draw(self: _BudgetedGenerator, *args: Any, **kwargs: Any) -> Any:
        self.spend(count(signature.bind(self, *args, **kwargs)))
        return method(self, *args, **kwargs)

    draw.__name__ = method.__name__
    return draw


class _BudgetedGenerator(np.random.Generator):
    """A Generator that refuses, before allocating anything, any draw beyond its budget.

    The values a trial build draws are thrown away, so a fixed seed does.
    """

    def __init__(self, budget: int) -> None:
        super().__init__(np.random.PCG64(0))
        self.remaining = budget

    def spend(self, size: Any) -> None:
        if size is None:
            return
        shape = (size,) if isinstance(size, (int, np.integer)) else size
        try:
            count = math.prod(int(d) for d in shape)
        except (TypeError, ValueError):
            return  # not a size; the method itself refuses it
        if count > self.remaining:
            raise _DrawRefused(count)
        self.remaining -= max(count, 0)


def _size_argument(arguments: inspect.BoundArguments) -> Any:
    return arguments.arguments.get("size")


def _length_argument(name: str) -> Callable[[inspect.BoundArguments], Any]:
    def count(arguments: inspect.BoundArguments) -> Any:
        value = arguments.arguments.get(name)
        return value if isinstance(value, (int, np.integer)) else None  # arrays exist already

    return count


def _budget_every_draw() -> None:
    """Wrap every Generator method that allocates its result: those that take ``size``, and
    ``bytes(length)`` and ``permutation(n)``."""
    counters = {"bytes": _length_argument("length"), "permutation": _length_argument("x")}
    for name, method in inspect.getmembers(np.random.Generator, callable):
        if name.startswith("_"):
            continue
        try:
            parameters = inspect.signature(method).parameters
        except (TypeError, ValueError):
            continue
        counter = counters.get(name, _size_argument if "size" in parameters else None)
        if counter is not None:
            setattr(_BudgetedGenerator, name, _budgeted(method, counter))


_budget_every_draw()


def _from_config(
    source: Path, model: type[Model], architecture: dict[str, Any], registry: Registry
) -> Model:
    """The unbuilt network the file's config describes; its errors name the file."""
    try:
        return model.from_config({**architecture, "input_shape": None}, registry=registry)
    except MissingProviderError as exc:
        raise MissingProviderError(f"{source}: {exc}") from exc.__cause__
    except ValueError as exc:
        raise ModelFileError(source, str(exc)) from None


class _ChargedInitializer:
    """An initializer whose every call is charged to the trial build's budget before it
    allocates: ``zeros`` and ``ones`` draw no random numbers, so the budgeted Generator alone
    would let them allocate whatever a hostile config asks for."""

    def __init__(self, initializer: Any) -> None:
        self.initializer = initializer

    def __call__(self, shape: tuple[int, ...], *, rng: Any, dtype: Any) -> Array:
        if isinstance(rng, _BudgetedGenerator):
            rng.spend(tuple(shape))
        return self.initializer(shape, rng=rng, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return self.initializer.get_config()

    def __getattr__(self, name: str) -> Any:  # expected_std and the like, for the layer
        return getattr(self.initializer, name)


def _uncharged(instance: object) -> object:
    return instance.initializer if isinstance(instance, _ChargedInitializer) else instance


class _ChargingRegistry:
    """The registry a trial network is resolved through: ``registry`` itself, except that
    every initializer it resolves (a layer's ``initializer="zeros"``) is charged."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def resolve(self, kind: str, spec: Any) -> Any:
        instance = self._registry.resolve(kind, spec)
        return _ChargedInitializer(instance) if kind == "initializer" else instance

    def component_of(self, instance: object) -> Any:
        return self._registry.component_of(_uncharged(instance))

    def spec_of(self, instance: object) -> dict[str, Any]:
        return self._registry.spec_of(_uncharged(instance))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)


def _trial_build(path: Path, net: Model, input_shape: Any, arrays: Mapping[str, Array]) -> None:
    """Build the trial network ``net`` with a Generator that draws no more numbers than the
    file's parameters and buffers hold (twice, plus an allowance), and check what it made.

    Parameters start as random draws or as an initializer's fill (charged to the same budget,
    see :class:`_ChargingRegistry`), so a config that describes a network larger than its file
    is refused at its first oversized parameter instead of allocating it.
    """
    held = sum(a.size for k, a in arrays.items() if not k.startswith("optimizer/"))
    net.rng = _BudgetedGenerator(2 * held + DRAW_ALLOWANCE)
    try:
        net.build(input_shape)
    except _DrawRefused as exc:
        raise ModelFileError(
            path,
            f"the config describes a network that needs at least {exc.args[0]} parameters, but "
            f"the file holds {held}; the file was altered",
        ) from None
    except REFUSALS as exc:
        raise ModelFileError(
            path,
            f"the saved network cannot be built for its input_shape {input_shape}: {clip(exc)}",
        ) from None
