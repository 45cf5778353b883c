"""Save and load: bit-identical round trips, continued training, and refusal of bad files."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import plugnet
from plugnet._registry import Registry
from plugnet.network import Sequential
from plugnet.serialization import CONFIG_KEY
from tests.conftest import make_plugin

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


# -- saving: the file system -----------------------------------------------------------------


def test_saving_over_a_file_keeps_its_permission_bits(saved: Path) -> None:
    import os

    os.chmod(saved, 0o600)
    trained("sgd").save(saved)
    assert saved.stat().st_mode & 0o777 == 0o600
    os.chmod(saved, 0o664)
    trained("sgd").save(saved)
    assert saved.stat().st_mode & 0o777 == 0o664


def test_a_new_file_gets_the_umask_without_the_umask_being_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    net = trained()
    mask = os.umask(0o027)
    try:

        def forbidden(mask: int) -> int:
            raise AssertionError("save changed the process-wide umask")

        monkeypatch.setattr(os, "umask", forbidden)
        net.save(tmp_path / "model.npz")
    finally:
        monkeypatch.undo()
        os.umask(mask)
    assert (tmp_path / "model.npz").stat().st_mode & 0o777 == 0o640


def test_saving_to_a_symlink_replaces_the_file_it_points_to(tmp_path: Path) -> None:
    real = tmp_path / "store" / "model.npz"
    real.parent.mkdir()
    trained("sgd").save(real)
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    net = trained()
    net.save(link)
    assert link.is_symlink() and link.resolve() == real
    np.testing.assert_array_equal(plugnet.load(real).predict(X), net.predict(X))
    assert sorted(p.name for p in real.parent.iterdir()) == ["model.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.npz", "store"]


def test_saving_into_a_missing_directory_names_it(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "model.npz"
    with pytest.raises(FileNotFoundError) as info:
        trained().save(target)
    message = str(info.value)
    assert f"the directory {tmp_path / 'no-such-dir'} does not exist" in message
    assert "plugnet-tmp" not in message and not (tmp_path / "no-such-dir").exists()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"a-file is not a directory"):
        trained().save(tmp_path / "a-file" / "model.npz")
    with pytest.raises(IsADirectoryError, match=r"it is a directory"):
        trained().save(tmp_path)


@pytest.mark.parametrize("where", ["params", "buffers", "optimizer"])
def test_non_finite_values_are_saved_only_when_allowed(tmp_path: Path, where: str) -> None:
    net = Sequential(
        [{"type": "dense", "units": 4, "name": "hidden"}, {"type": "batch_norm", "name": "bn"}],
        error="square",
        optimizer="adam",
        seed=0,
    )
    net.fit(X, np.zeros((60, 4)), epochs=1, verbose=0)
    if where == "params":
        net.params["hidden.w"][1, 2] = np.nan
    elif where == "buffers":
        net["bn"].buffers["running_var"][0] = np.inf  # type: ignore[attr-defined]
    else:
        net.optimizer._state["hidden.b"][0][3] = -np.inf  # type: ignore[attr-defined]
    target = tmp_path / "model.npz"
    with pytest.raises(ValueError, match=rf"cannot save {target}: {where}/.* holds 1 NaN or inf"):
        net.save(target)
    with pytest.raises(ValueError, match=r"pass allow_nonfinite=True to save it anyway"):
        net.save(target)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    net.save(target, allow_nonfinite=True)
    loaded = plugnet.load(target)
    for key, value in net.get_state(copy=False)["arrays"].items():
        np.testing.assert_array_equal(loaded.get_state(copy=False)["arrays"][key], value)


def test_saving_and_loading_built_in_models_never_load_third_party_plugins(
    tmp_path: Path, fresh_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken plugin (here one that exits the process when loaded) cannot lose a save."""
    from plugnet import discovery

    loaded_plugins: list[Registry] = []

    def broken_plugin(registry: Registry) -> None:
        loaded_plugins.append(registry)
        raise SystemExit("a plugin exited the process")

    fresh_registry.defer(broken_plugin)
    monkeypatch.setattr(discovery, "_registry", fresh_registry)
    net = Sequential(
        [{"type": "dense", "units": 8, "activation": "tanh"}, {"type": "dense", "units": 3}],
        error="square",
        optimizer="adam(lr=0.01, schedule='cosine(t_max=10)')",
        seed=1,
    )
    net.fit(X, np.eye(3)[T], epochs=1, verbose=0)
    net.save(tmp_path / "model.npz")
    loaded = plugnet.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.evaluate(X, np.eye(3)[T]) == net.evaluate(X, np.eye(3)[T])
    assert config_of(tmp_path / "model.npz")["providers"] == {"plugnet": plugnet.__version__}
    assert loaded_plugins == []


def test_nested_specs_record_their_providers_version(
    tmp_path: Path, fresh_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plugnet import discovery
    from plugnet.configurable import Configurable

    class Cube(Configurable):
        def forward(self, x: np.ndarray) -> np.ndarray:
            return x**3

        def backward(self, x: np.ndarray, y: np.ndarray, grad: np.ndarray) -> np.ndarray:
            return 3 * x**2 * grad

    def register_activations(register: Callable[..., None]) -> None:
        register(Cube, name="cube")

    monkeypatch.setattr(discovery, "_registry", fresh_registry)
    plugnet.register_plugin(
        make_plugin("cubes", register_activations=register_activations), "cubes", "1.4.2"
    )
    net = Sequential([{"type": "dense", "units": 3, "activation": "cube"}], error="square")
    net.fit(X, np.eye(3)[T], epochs=1, verbose=0)
    net.save(tmp_path / "model.npz")
    config = config_of(tmp_path / "model.npz")
    assert config["providers"] == {"plugnet": plugnet.__version__, "cubes": "1.4.2"}
    loaded = plugnet.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
