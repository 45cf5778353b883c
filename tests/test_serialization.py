"""Save and load: bit-identical round trips, continued training, and refusal of bad files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import plugnet
from plugnet.network import Sequential
from plugnet.serialization import CONFIG_KEY

X = np.random.default_rng(0).standard_normal((60, 5))
T = np.random.default_rng(1).integers(0, 3, 60)


def trained(optimizer: str = "adam(lr=0.01)") -> Sequential:
    net = Sequential(
        [
            {"type": "dense", "units": 8, "activation": "relu", "name": "hidden"},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer=optimizer,
        seed=3,
    )
    net.fit(X, T, epochs=2, batch_size=16, verbose=0)
    return net


@pytest.mark.parametrize("optimizer", ["sgd(lr=0.1)", "adam(lr=0.01)", "momentum(lr=0.05)"])
def test_round_trip_predicts_bit_identically_and_keeps_structure(
    tmp_path: Path, optimizer: str
) -> None:
    net = trained(optimizer)
    net.save(tmp_path / "model.npz")
    loaded = plugnet.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.layer_names == net.layer_names == ["hidden", "dense_1"]
    assert loaded.optimizer == net.optimizer and loaded.error == net.error
    assert loaded.dtype == net.dtype and loaded.input_shape == (5,)


def test_training_continues_exactly_after_load(tmp_path: Path) -> None:
    net = trained()
    net.save(tmp_path / "model.npz")
    loaded = plugnet.load(tmp_path / "model.npz")
    net.fit(X, T, epochs=2, batch_size=16, verbose=0)
    loaded.fit(X, T, epochs=2, batch_size=16, verbose=0)
    for name, value in net.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)


def test_the_config_records_qualified_names_providers_and_versions(tmp_path: Path) -> None:
    trained().save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as archive:
        config = json.loads(archive[CONFIG_KEY].tobytes())
    layer = config["layers"][0]
    assert (layer["name"], layer["provider"], layer["version"]) == (
        "plugnet:dense",
        "plugnet",
        plugnet.__version__,
    )
    assert layer["config"]["activation"] == {"name": "plugnet:relu"}
    assert (
        config["optimizer"]["name"] == "plugnet:adam"
        and config["optimizer"]["config"]["lr"] == 0.01
    )
    assert config["plugnet_version"] == plugnet.__version__
    assert config["providers"] == {"plugnet": plugnet.__version__}


def test_saved_files_get_the_usual_permissions(tmp_path: Path) -> None:
    import os

    mask = os.umask(0o022)
    try:
        trained().save(tmp_path / "model.npz")
    finally:
        os.umask(mask)
    assert (tmp_path / "model.npz").stat().st_mode & 0o777 == 0o644


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.npz"
    trained().save(target)
    original = target.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        trained("sgd").save(target)
    assert target.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no temporary left


def rewrite(source: Path, target: Path, change: dict[str, np.ndarray | None]) -> None:
    """Copy an npz, replacing (or with None, dropping) some of its arrays."""
    with np.load(source, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    for key, value in change.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez(target, **arrays)  # type: ignore[arg-type]


def config_of(path: Path) -> dict[str, object]:
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(archive[CONFIG_KEY].tobytes())  # type: ignore[no-any-return]


def as_bytes(config: dict[str, object]) -> np.ndarray:
    return np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "model.npz"
    trained().save(path)
    return path


def test_truncated_file(saved: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(
        ValueError, match=r"broken\.npz: cannot read the file, it is truncated or corrupt"
    ):
        plugnet.load(broken)


def test_random_bytes(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(ValueError, match=r"junk\.npz: not a plugnet model file \(not an \.npz"):
        plugnet.load(junk)


def test_flipped_byte_inside_an_array(saved: Path, tmp_path: Path) -> None:
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("params/hidden.w.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"damaged\.npz: (cannot read the file|array .* checksum)"):
        plugnet.load(damaged)


def test_edited_weights_fail_the_checksum(saved: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.npz"
    with np.load(saved) as archive:
        weights = archive["params/hidden.w"] + 1
    rewrite(saved, tampered, {"params/hidden.w": weights})
    with pytest.raises(ValueError, match=r"array 'params/hidden\.w' does not match its checksum"):
        plugnet.load(tampered)


def test_object_arrays_are_refused(saved: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil.npz"
    rewrite(saved, evil, {"params/hidden.w": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match=r"evil\.npz: the file holds data plugnet will not load"):
        plugnet.load(evil)


def test_extra_or_missing_arrays(saved: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.npz"
    rewrite(saved, extra, {"sneaky": np.zeros(3)})
    with pytest.raises(ValueError, match=r"extra \['sneaky'\]"):
        plugnet.load(extra)
    missing = tmp_path / "missing.npz"
    rewrite(saved, missing, {"params/dense_1.b": None})
    with pytest.raises(ValueError, match=r"missing \['params/dense_1.b'\]"):
        plugnet.load(missing)


def test_config_edits_that_do_not_fit_are_refused(saved: Path, tmp_path: Path) -> None:
    config = config_of(saved)
    config["layers"][0]["config"]["units"] = 9  # type: ignore[index]
    edited = tmp_path / "edited.npz"
    rewrite(saved, edited, {CONFIG_KEY: as_bytes(config)})
    with pytest.raises(ValueError, match=r"array 'params/\w+\.w' has shape .* needs \(9, "):
        plugnet.load(edited)


@pytest.mark.parametrize(
    ("config_bytes", "message"),
    [
        (b"not json", "the config is not valid JSON"),
        (b'{"format": "something else"}', "wrong format marker"),
        (
            b'{"format": "plugnet.model", "format_version": 99}',
            "format version 99 is not supported",
        ),
    ],
)
def test_bad_configs(saved: Path, tmp_path: Path, config_bytes: bytes, message: str) -> None:
    bad = tmp_path / "bad.npz"
    rewrite(saved, bad, {CONFIG_KEY: np.frombuffer(config_bytes, dtype=np.uint8)})
    with pytest.raises(ValueError, match=message):
        plugnet.load(bad)


def test_a_missing_provider_names_the_distribution_to_install(saved: Path, tmp_path: Path) -> None:
    config = config_of(saved)
    config["layers"][0]["config"]["activation"] = {"name": "plugnet-mish:mish"}  # type: ignore[index]
    config["providers"] = {"plugnet": plugnet.__version__, "plugnet-mish": "0.2.0"}
    needs_mish = tmp_path / "needs-mish.npz"
    rewrite(saved, needs_mish, {CONFIG_KEY: as_bytes(config)})
    with pytest.raises(plugnet.MissingProviderError) as info:
        plugnet.load(needs_mish)
    message = str(info.value)
    assert "needs-mish.npz" in message and "'plugnet-mish:mish'" in message
    assert "version 0.2.0 when saved" in message and "pip install plugnet-mish" in message


def test_not_a_model_file(tmp_path: Path) -> None:
    other = tmp_path / "data.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a plugnet model file"):
        plugnet.load(other)
    with pytest.raises(FileNotFoundError, match="no such model file"):
        plugnet.load(tmp_path / "absent.npz")


def test_an_unbuilt_network_cannot_be_saved(tmp_path: Path) -> None:
    net = Sequential([{"type": "dense", "units": 2}], error="square")
    with pytest.raises(ValueError, match="not built yet"):
        net.save(tmp_path / "model.npz")
