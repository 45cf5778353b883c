"""plugnet and its plugins as users get them: wheels and an editable install in real venvs.

Wheels of plugnet, the example plugin and the fixture plugins in tests/fixtures/plugins are
built once per session (offline); each venv sees the running environment's numpy, pluggy, ...
through a ``.pth`` file (see tests/_venv.py) and gets plugnet and the plugins installed into
its own site-packages. Discovery goes through real entry points; nothing is mocked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

if __package__:
    from . import _venv
else:  # the tests directory is on sys.path instead of being a package
    import _venv  # type: ignore[no-redef]

Venv = _venv.Venv

pytestmark = _venv.PYTEST_MARKS

EXAMPLE = "plugnet-example-plugin"
BROKEN = "plugnet-broken-import"
TAKES_RELU = "plugnet-takes-relu"
CLASH_A = "plugnet-clash-a"
CLASH_B = "plugnet-clash-b"
BAD_HOOK = "plugnet-bad-hook"
BAD_PROTOCOL = "plugnet-bad-protocol"
FIXTURES = (BROKEN, TAKES_RELU, CLASH_A, CLASH_B, BAD_HOOK, BAD_PROTOCOL)
THIRD_PARTY = (EXAMPLE, *FIXTURES)
# Installed only by tests/test_installed_faults.py and tests/test_installed_versions.py, each
# into venvs of their own.
FAULTY = (
    "plugnet-exits-at-import",
    "plugnet-base-exception",
    "plugnet-eager",
    "plugnet-interrupts",
    "plugnet-future-api",
)


# -- fixtures -----------------------------------------------------------------------------------


def test_every_plugin_source_has_a_wheel(wheels: dict[str, Path]) -> None:
    assert set(wheels) == {"plugnet", *THIRD_PARTY, *FAULTY}


@pytest.fixture(scope="module")
def example_venv(make_venv: Any, wheels: dict[str, Path]) -> Venv:
    """plugnet and the example plugin, installed from wheels."""
    venv: Venv = make_venv("example")
    venv.install(wheels["plugnet"], wheels[EXAMPLE])
    return venv


@pytest.fixture(scope="module")
def plugins_venv(make_venv: Any, wheels: dict[str, Path]) -> Venv:
    """plugnet, the example plugin and every fixture plugin, installed from wheels."""
    venv: Venv = make_venv("plugins")
    venv.install(wheels["plugnet"], *(wheels[name] for name in THIRD_PARTY))
    return venv


@pytest.fixture(scope="module")
def plugins_report(plugins_venv: Venv) -> dict[str, Any]:
    """``plugnet plugins --json`` in the venv with every plugin, default environment."""
    return plugins_venv.plugins_report()


def providers(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in report["providers"]}


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["status"] for p in report["providers"]}


def mentioning(warnings: list[Any], text: str) -> list[str]:
    messages = [w if isinstance(w, str) else w["message"] for w in warnings]
    return [m for m in messages if text in m]


# -- wheel install of plugnet and the example plugin ---------------------------------------------


def test_wheel_venv_imports_its_own_plugnet(example_venv: Venv) -> None:
    out = example_venv.probe(
        """
import importlib_metadata, numpy, plugnet, plugnet_builtins, plugnet_example_plugin
out["plugnet"] = plugnet.__file__
out["builtins"] = plugnet_builtins.__file__
out["example"] = plugnet_example_plugin.__file__
out["numpy"] = numpy.__file__
out["dist"] = str(importlib_metadata.distribution("plugnet").locate_file(""))
out["prefix"] = sys.prefix
"""
    )
    site = example_venv.site_packages.resolve()
    for key in ("plugnet", "builtins", "example"):
        assert Path(out[key]).resolve().is_relative_to(site), (key, out[key], site)
    assert Path(out["dist"]).resolve() == site
    assert Path(out["prefix"]).resolve() == example_venv.path.resolve()
    assert not Path(out["numpy"]).is_relative_to(example_venv.path)  # from the outer env
    assert out["warnings"] == []


def test_without_the_jit_extra_the_numpy_code_runs(example_venv: Venv) -> None:
    """The default install has no numba: layers run their NumPy code without a word, and
    requiring the compiled kernels says which extra to install."""
    code = """
import numpy as np
import plugnet
from plugnet_builtins import jit
def step():
    layer = plugnet.layer("batch_norm")
    layer.build((2, 3, 3), rng=np.random.default_rng(0), dtype=np.dtype(np.float32))
    y = layer.forward(np.arange(36, dtype=np.float32).reshape(2, 2, 3, 3), training=True)
    return [layer.kernels is None, y.dtype.name, "numba" in sys.modules]
out["default"] = attempt(step)
"""
    checks = """
out["enabled"] = jit.enabled()
out["required"] = attempt(lambda: jit.use(True).__enter__())
"""
    out = example_venv.probe(code + checks)
    assert out["default"] == {"ok": True, "value": [True, "float32", False]}
    assert out["enabled"] is False
    assert out["required"]["type"] == "ImportError"
    assert "numba is not installed" in out["required"]["message"]
    assert 'pip install "plugnet[jit]"' in out["required"]["message"]
    assert out["warnings"] == []
    required = example_venv.probe(code, env={"PLUGNET_JIT": "1"})
    assert required["default"]["type"] == "ImportError"
    assert "(PLUGNET_JIT=1 or jit.use(True))" in required["default"]["message"]


def test_cli_lists_the_example_plugin(example_venv: Venv) -> None:
    report = example_venv.plugins_report()
    by_name = providers(report)
    assert list(by_name) == ["plugnet", EXAMPLE]
    example = by_name[EXAMPLE]
    assert example["version"] == "0.1.0"
    assert example["status"] == "loaded"
    assert example["entry_point"] == "example"
    assert example["error"] is None
    assert example["builtin"] is False
    [square_plus] = example["components"]["activation"]
    assert square_plus["name"] == "square_plus"
    assert square_plus["qualified_name"] == f"{EXAMPLE}:square_plus"
    assert square_plus["aliases"] == ["sqplus"]
    assert square_plus["reachable_by_short_name"] is True
    [log_cosh] = example["components"]["error_function"]
    assert log_cosh["name"] == "log_cosh"
    assert log_cosh["aliases"] == ["logcosh_loss"]
    # its ONNX lowering arrives through the same entry point
    assert example["onnx_lowerings"] == [f"{EXAMPLE}:square_plus"]
    assert report["warnings"] == []
    assert report["stderr"] == ""

    table = example_venv.run(example_venv.script("plugnet"), "plugins").stdout
    [row] = [line for line in table.splitlines() if line.startswith(EXAMPLE)]
    assert row.split()[1:3] == ["0.1.0", "loaded"]
    assert "square_plus (sqplus)" in table
    assert "log_cosh (logcosh_loss)" in table

    pins = example_venv.run(example_venv.script("plugnet"), "plugins", "--requirements").stdout
    assert [line for line in pins.splitlines() if not line.startswith("#")] == [
        f"plugnet=={report['plugnet_version']}",
        f"{EXAMPLE}==0.1.0",
    ]


def test_example_components_resolve_by_every_name(example_venv: Venv) -> None:
    out = example_venv.probe(
        """
import numpy as np
import plugnet

x = np.array([[-1e4, -2.0, 0.0, 3.0, 1e4]], dtype=np.float32)
t = np.array([[0.0, 1.0, 0.0, -1.0, 1e4]], dtype=np.float32)
acts = {}
for spec in ["square_plus", "sqplus", "Square-Plus", "SQUARE PLUS",
             "plugnet-example-plugin:square_plus", "plugnet-example-plugin:sqplus",
             "square_plus(b=1.0)", "plugnet-example-plugin:square_plus(b=1.0)"]:
    act = plugnet.activation(spec)
    y = act.forward(x)
    acts[spec] = {**describe(act), "config": act.get_config(), "y": y.tolist(),
                  "dtype": str(y.dtype),
                  "dx": act.backward(x, y, np.ones_like(y)).tolist()}
out["activations"] = acts
out["dict_spec"] = plugnet.activation({"name": "sqplus", "b": 1.0}).get_config()
out["bad_b"] = attempt(lambda: plugnet.activation("square_plus(b=-1)"))
out["bad_arg"] = attempt(lambda: plugnet.activation("square_plus(c=1)"))
errs = {}
for spec in ["log_cosh", "logcosh_loss", "LogCosh", "plugnet-example-plugin:log_cosh"]:
    err = plugnet.error_function(spec)
    errs[spec] = {**describe(err), "e": err.forward(x, t),
                  "grad_dtype": str(err.backward(x, t).dtype),
                  "grad": err.backward(x, t).tolist()}
out["errors"] = errs
out["available"] = plugnet.available("activation")
out["available_errors"] = plugnet.available("error_function")
out["x_after"] = x.tolist()
"""
    )
    x = [-1e4, -2.0, 0.0, 3.0, 1e4]
    t = [0.0, 1.0, 0.0, -1.0, 1e4]

    def squareplus(v: float, b: float) -> float:
        return (v + math.sqrt(v * v + b)) / 2

    for spec, act in out["activations"].items():
        b = 1.0 if "b=1.0" in spec else 4.0
        assert act["module"] == "plugnet_example_plugin.components", spec
        assert act["class"] == "SquarePlus", spec
        assert act["config"] == {"b": b}, spec
        assert act["dtype"] == "float32", spec
        assert act["y"][0] == pytest.approx([squareplus(v, b) for v in x], rel=1e-6, abs=1e-6)
        # dy/dx = (1 + x / √(x² + b)) / 2
        expected_dx = [(1 + v / math.sqrt(v * v + b)) / 2 for v in x]
        assert act["dx"][0] == pytest.approx(expected_dx, rel=1e-5, abs=1e-7)
    assert out["dict_spec"] == {"b": 1.0}
    assert out["bad_b"]["type"] == "SpecError"
    assert "b > 0" in out["bad_b"]["message"]
    assert out["bad_arg"]["type"] == "SpecError"
    assert "accepts: b" in out["bad_arg"]["message"]

    expected_e = sum(math.log(math.cosh(a - b)) for a, b in zip(x, t, strict=True) if a != -1e4)
    expected_e += 1e4 - math.log(2)  # log cosh(−1e4), which math.cosh cannot evaluate
    for spec, err in out["errors"].items():
        assert (err["module"], err["class"]) == ("plugnet_example_plugin.components", "LogCosh")
        assert err["e"] == pytest.approx(expected_e, rel=1e-6), spec
        assert err["grad_dtype"] == "float32"
        expected_grad = [math.tanh(a - b) for a, b in zip(x, t, strict=True)]
        assert err["grad"][0] == pytest.approx(expected_grad, rel=1e-5, abs=1e-7)
    assert "square_plus" in out["available"]
    assert "log_cosh" in out["available_errors"]
    assert out["x_after"] == [x]  # inputs untouched
    assert out["warnings"] == []


def test_uninstalling_the_example_plugin_removes_its_components(
    make_venv: Any, wheels: dict[str, Path]
) -> None:
    venv: Venv = make_venv("uninstall")
    venv.install(wheels["plugnet"], wheels[EXAMPLE])
    code = """
import plugnet
out["providers"] = [p.name for p in plugnet.registry().providers]
out["short"] = attempt(lambda: type(plugnet.activation("square_plus")).__name__)
out["qualified"] = attempt(
    lambda: type(plugnet.activation("plugnet-example-plugin:square_plus")).__name__)
"""
    before = venv.probe(code)
    assert before["providers"] == ["plugnet", EXAMPLE]
    assert before["short"] == {"ok": True, "value": "SquarePlus"}

    venv.uninstall(EXAMPLE)
    assert not list(venv.site_packages.glob("plugnet_example_plugin*"))
    after = venv.probe(code)
    assert after["providers"] == ["plugnet"]
    short = after["short"]
    assert short["type"] == "UnknownComponentError"
    assert "LookupError" in short["bases"]
    assert "unknown activation 'square_plus'" in short["message"]
    listed = short["message"].split("Available activations: ", 1)[1].split(".")[0].split(", ")
    assert "relu" in listed
    assert "square_plus" not in listed
    assert "plugnet plugins" in short["message"]
    qualified = after["qualified"]
    assert qualified["type"] == "UnknownComponentError"
    assert "plugnet-example-plugin:square_plus" in qualified["message"]
    assert "no installed provider is named 'plugnet-example-plugin'" in qualified["message"]
    assert after["warnings"] == []


# -- editable install ---------------------------------------------------------------------------


def test_editable_install(make_venv: Any, tmp_path: Path) -> None:
    source = _venv.copy_source(_venv.REPO_ROOT, tmp_path / "plugnet-src")
    venv: Venv = make_venv("editable")
    venv.install("--no-build-isolation", "--editable", source)

    table = venv.run(venv.script("plugnet"), "plugins")
    assert table.returncode == 0
    builtin = table.stdout.splitlines()[1].split()
    assert builtin[:2] == ["plugnet", "(built-in)"]
    assert "loaded" in builtin
    out = venv.probe(
        """
import numpy as np
import plugnet, plugnet_builtins
out["plugnet"] = plugnet.__file__
out["builtins"] = plugnet_builtins.__file__
relu = plugnet.activation("relu")
out["relu"] = describe(relu)
out["y"] = relu.forward(np.array([-1.0, 0.0, 2.0])).tolist()
out["available"] = plugnet.available("activation")
"""
    )
    assert Path(out["plugnet"]).resolve() == (source / "core" / "plugnet" / "__init__.py").resolve()
    assert (
        Path(out["builtins"]).resolve()
        == (source / "plugins" / "plugnet_builtins" / "__init__.py").resolve()
    )
    assert out["relu"]["module"] == "plugnet_builtins.activations"
    assert out["y"] == [0.0, 0.0, 2.0]
    assert "relu" in out["available"]
    assert out["warnings"] == []
    assert not list(venv.site_packages.glob("plugnet/")), "editable install copied the package"


# -- every fixture plugin at once ---------------------------------------------------------------


def test_cli_reports_failed_plugins_and_exits_0(plugins_report: dict[str, Any]) -> None:
    by_name = providers(plugins_report)
    assert set(by_name) == {"plugnet", *THIRD_PARTY}
    assert statuses(plugins_report) == {
        "plugnet": "loaded",
        EXAMPLE: "loaded",
        BROKEN: "failed",
        TAKES_RELU: "loaded",
        CLASH_A: "loaded",
        CLASH_B: "loaded",
        BAD_HOOK: "failed",
        BAD_PROTOCOL: "failed",
    }
    assert by_name[BROKEN]["error"] == "ImportError: simulated breakage"
    assert by_name[BROKEN]["components"] == {}
    assert by_name[BROKEN]["version"] == "0.0.1"
    assert by_name[BROKEN]["entry_point"] == "broken_import"

    bad_hook = by_name[BAD_HOOK]["error"]
    assert "register_activation" in bad_hook
    assert "unknown hook" in bad_hook
    assert by_name[BAD_HOOK]["components"] == {}  # its valid hook registered nothing either

    bad_protocol = by_name[BAD_PROTOCOL]["error"]
    assert "NoBackward" in bad_protocol
    assert "Activation protocol" in bad_protocol
    assert "lacks backward" in bad_protocol
    assert by_name[BAD_PROTOCOL]["components"] == {}

    assert "Traceback" not in plugins_report["stderr"]


def test_cli_table_shows_failures(plugins_venv: Venv) -> None:
    result = plugins_venv.run(plugins_venv.script("plugnet"), "plugins")
    assert result.returncode == 0
    [row] = [line for line in result.stdout.splitlines() if line.startswith(BROKEN)]
    assert "failed" in row
    assert "error: ImportError: simulated breakage" in row
    assert "Traceback" not in result.stderr


def test_cli_report_collects_plugin_warnings(plugins_report: dict[str, Any]) -> None:
    # One warning per failed plugin, and one for the reserved name; no duplicates.
    notes = plugins_report["warnings"]
    [broken_note] = mentioning(notes, BROKEN)
    assert "simulated breakage" in broken_note
    assert "PLUGNET_DISABLE_PLUGINS=broken_import" in broken_note
    assert len(mentioning(notes, BAD_HOOK)) == 1
    assert len(mentioning(notes, BAD_PROTOCOL)) == 1
    assert len(mentioning(notes, "reserved")) == 1
    assert len(notes) == 4
    assert "PluginWarning" not in plugins_report["stderr"]  # reported, not also printed raw


def test_cli_table_prints_plugin_warnings(plugins_venv: Venv) -> None:
    result = plugins_venv.run(plugins_venv.script("plugnet"), "plugins")
    assert "warning: plugnet plugin 'plugnet-broken-import'" in result.stdout
    assert "PluginWarning" not in result.stderr


def test_cli_marks_shadowed_components_as_unreachable_by_short_name(
    plugins_report: dict[str, Any],
) -> None:
    by_name = providers(plugins_report)
    reachable = {
        c["qualified_name"]: c["reachable_by_short_name"]
        for p in by_name.values()
        for comps in p["components"].values()
        for c in comps
    }
    assert reachable["plugnet:relu"] is True
    assert reachable[f"{TAKES_RELU}:wiggle"] is True
    assert reachable[f"{CLASH_A}:wobble"] is False
    assert reachable[f"{CLASH_B}:wobble"] is False
    assert reachable[f"{CLASH_A}:flutter"] is True


def test_cli_marks_a_plugins_reserved_name_as_unreachable(plugins_report: dict[str, Any]) -> None:
    [relu] = [
        c
        for c in providers(plugins_report)[TAKES_RELU]["components"]["activation"]
        if c["name"] == "relu"
    ]
    assert relu["reachable_by_short_name"] is False


def test_failures_warn_once_and_everything_else_resolves(plugins_venv: Venv) -> None:
    out = plugins_venv.probe(
        """
import numpy as np
import plugnet

x = np.array([-1.0, 0.5, 2.0])
def act(spec):
    a = plugnet.activation(spec)
    return {**describe(a), "y": a.forward(x).tolist()}

out["warnings_before_use"] = len(_caught)
names = ["relu", "plugnet:relu", "plugnet-takes-relu:relu", "wiggle", "plugnet-takes-relu:wiggle",
         "wobble", "Wobble", "plugnet-clash-a:wobble", "plugnet-clash-b:wobble",
         "flutter", "jitter", "plugnet-clash-b:jitter", "square_plus", "sqplus",
         "no_backward", "bad_protocol_fine", "plugnet-bad-protocol:bad_protocol_fine"]
out["activations"] = {name: attempt(lambda: act(name)) for name in names}
out["errors"] = {name: attempt(lambda: describe(plugnet.error_function(name)))
                 for name in ["log_cosh", "square", "bad_hook_never"]}
out["available"] = plugnet.available("activation")
out["failures"] = {p.name: p.error for p in plugnet.registry().failures}
out["same_registry"] = plugnet.registry() is plugnet.registry()
"""
    )
    assert out["warnings_before_use"] == 0, "import plugnet must not load plugins"
    warnings = out["warnings"]
    assert {w["category"] for w in warnings} == {"PluginWarning"}
    [broken] = mentioning(warnings, BROKEN)
    assert "simulated breakage" in broken
    assert "failed to load" in broken
    [reserved] = mentioning(warnings, "reserved")
    assert TAKES_RELU in reserved
    assert "'relu'" in reserved
    assert f"'{TAKES_RELU}:relu'" in reserved
    assert len(mentioning(warnings, BAD_HOOK)) == 1
    assert len(mentioning(warnings, BAD_PROTOCOL)) == 1
    assert len(warnings) == 4
    assert set(out["failures"]) == {BROKEN, BAD_HOOK, BAD_PROTOCOL}

    acts = out["activations"]

    def value(name: str) -> dict[str, Any]:
        result = acts[name]
        assert result["ok"], (name, result)
        return dict(result["value"])

    for name in ("relu", "plugnet:relu"):
        assert value(name)["module"] == "plugnet_builtins.activations"
        assert value(name)["y"] == [0.0, 0.5, 2.0]
    theirs = value(f"{TAKES_RELU}:relu")
    assert (theirs["module"], theirs["class"]) == ("plugnet_takes_relu", "FakeReLU")
    assert theirs["y"] == [1.0, 1.5, 3.0]
    for name in ("wiggle", f"{TAKES_RELU}:wiggle"):
        assert value(name)["class"] == "Wiggle"
        assert value(name)["y"] == pytest.approx([v + math.sin(v) for v in (-1.0, 0.5, 2.0)])

    for name in ("wobble", "Wobble"):
        error = acts[name]
        assert error["type"] == "AmbiguousComponentError"
        assert "LookupError" in error["bases"]
        assert f"'{CLASH_A}:wobble'" in error["message"]
        assert f"'{CLASH_B}:wobble'" in error["message"]
    assert value(f"{CLASH_A}:wobble")["module"] == "plugnet_clash_a"
    assert value(f"{CLASH_A}:wobble")["y"] == [-2.0, 1.0, 4.0]
    assert value(f"{CLASH_B}:wobble")["module"] == "plugnet_clash_b"
    assert value(f"{CLASH_B}:wobble")["y"] == [-3.0, 1.5, 6.0]
    assert value("flutter")["module"] == "plugnet_clash_a"
    assert value("jitter")["module"] == value(f"{CLASH_B}:jitter")["module"] == "plugnet_clash_b"
    assert value("square_plus")["class"] == value("sqplus")["class"] == "SquarePlus"

    # A plugin that fails registers nothing, not even its valid parts.
    for name in ("no_backward", "bad_protocol_fine"):
        assert acts[name]["type"] == "UnknownComponentError", name
    unknown_provider = acts["plugnet-bad-protocol:bad_protocol_fine"]["message"]
    # It is installed but failed, and the message says so rather than "not installed".
    assert "(provider 'plugnet-bad-protocol' failed to load)" in unknown_provider
    assert "3 plugins failed to load: " in unknown_provider
    assert "no installed provider" not in unknown_provider
    assert out["errors"]["bad_hook_never"]["type"] == "UnknownComponentError"
    assert out["errors"]["log_cosh"]["ok"]
    assert out["errors"]["square"]["ok"]

    available = out["available"]
    assert {"relu", "wiggle", "flutter", "jitter", "square_plus"} <= set(available)
    assert {f"{TAKES_RELU}:relu", f"{CLASH_A}:wobble", f"{CLASH_B}:wobble"} <= set(available)
    assert "wobble" not in available
    assert out["same_registry"] is True


def test_strict_mode_raises_on_first_use(plugins_venv: Venv) -> None:
    out = plugins_venv.probe(
        """
import plugnet
out["first"] = attempt(lambda: plugnet.activation("relu"))
out["second"] = attempt(lambda: plugnet.available("activation"))
""",
        env={
            "PLUGNET_STRICT_PLUGINS": "1",
            "PLUGNET_DISABLE_PLUGINS": f"{BAD_HOOK},{BAD_PROTOCOL}",
        },
    )
    for attempt in (out["first"], out["second"]):
        assert attempt["type"] == "PluginError"
        assert "RuntimeError" in attempt["bases"]
        assert f"plugnet plugin '{BROKEN}'" in attempt["message"]
        assert "ImportError: simulated breakage" in attempt["message"]
    assert mentioning(out["warnings"], BROKEN) == []  # raised, not warned


def test_strict_mode_also_raises_for_invalid_plugins(plugins_venv: Venv) -> None:
    out = plugins_venv.probe(
        """
import plugnet
out["bad_hook"] = attempt(lambda: plugnet.activation("relu"))
""",
        env={"PLUGNET_STRICT_PLUGINS": "1", "PLUGNET_PLUGINS": BAD_HOOK},
    )
    assert out["bad_hook"]["type"] == "PluginError"
    assert BAD_HOOK in out["bad_hook"]["message"]
    assert "register_activation" in out["bad_hook"]["message"]


def test_autoload_off_gives_builtins_only(plugins_venv: Venv) -> None:
    report = plugins_venv.plugins_report(env={"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert statuses(report) == {"plugnet": "loaded"}
    assert report["warnings"] == []
    out = plugins_venv.probe(
        """
import plugnet
out["relu"] = describe(plugnet.activation("relu"))
out["square_plus"] = attempt(lambda: plugnet.activation("square_plus"))
out["loaded"] = sorted(m for m in sys.modules if m.startswith("plugnet_")
                       and not m.startswith("plugnet_builtins"))
""",
        env={"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert out["relu"]["module"] == "plugnet_builtins.activations"
    assert out["square_plus"]["type"] == "UnknownComponentError"
    assert out["loaded"] == []  # no plugin module was even imported
    assert out["warnings"] == []


@pytest.mark.parametrize("selector", [EXAMPLE, "example", "Plugnet_Example_Plugin"])
def test_plugnet_plugins_selects_entry_points(plugins_venv: Venv, selector: str) -> None:
    out = plugins_venv.probe(
        """
import plugnet
registry = plugnet.registry()
out["statuses"] = {p.name: p.status for p in registry.providers}
out["square_plus"] = attempt(lambda: describe(plugnet.activation("square_plus")))
out["wiggle"] = attempt(lambda: plugnet.activation("wiggle"))
out["relu"] = describe(plugnet.activation("relu"))
out["loaded"] = sorted(m for m in sys.modules if m.startswith("plugnet_")
                       and not m.startswith("plugnet_builtins"))
""",
        env={"PLUGNET_PLUGINS": selector},
    )
    assert out["statuses"] == {
        "plugnet": "loaded",
        EXAMPLE: "loaded",
        **dict.fromkeys(FIXTURES, "disabled"),
    }
    assert out["warnings"] == []  # the broken ones were never imported
    assert out["loaded"] == ["plugnet_example_plugin", "plugnet_example_plugin.components"]
    assert out["square_plus"]["value"]["class"] == "SquarePlus"
    assert out["wiggle"]["type"] == "UnknownComponentError"
    assert out["relu"]["module"] == "plugnet_builtins.activations"


def test_plugnet_plugins_warns_about_unknown_names(plugins_venv: Venv) -> None:
    out = plugins_venv.probe(
        "import plugnet\nout['n'] = len(plugnet.registry().providers)\n",
        env={"PLUGNET_PLUGINS": f"{EXAMPLE},no-such-plugin"},
    )
    [warning] = out["warnings"]
    assert warning["category"] == "PluginWarning"
    assert "nosuchplugin" in warning["message"] or "no-such-plugin" in warning["message"]


def test_disable_plugins_blocks_them(plugins_venv: Venv) -> None:
    env = {"PLUGNET_DISABLE_PLUGINS": f"{BROKEN}, bad_hook ,{BAD_PROTOCOL},{CLASH_B}"}
    report = plugins_venv.plugins_report(env=env)
    by_name = providers(report)
    assert statuses(report) == {
        "plugnet": "loaded",
        EXAMPLE: "loaded",
        BROKEN: "disabled",
        TAKES_RELU: "loaded",
        CLASH_A: "loaded",
        CLASH_B: "disabled",
        BAD_HOOK: "disabled",
        BAD_PROTOCOL: "disabled",
    }
    for name in (BROKEN, BAD_HOOK, BAD_PROTOCOL, CLASH_B):
        assert by_name[name]["error"] is None
        assert by_name[name]["components"] == {}
    for name in (BROKEN, BAD_HOOK, BAD_PROTOCOL):
        assert mentioning(report["warnings"], name) == []
        assert name not in report["stderr"]

    out = plugins_venv.probe(
        "import plugnet\nout['wobble'] = describe(plugnet.activation('wobble'))\n", env=env
    )
    assert out["wobble"]["module"] == "plugnet_clash_a"  # no longer ambiguous
    [note] = out["warnings"]  # only the reserved-name warning is left
    assert "reserved" in note["message"]
    assert TAKES_RELU in note["message"]


def test_report_json_is_stable(plugins_report: dict[str, Any]) -> None:
    """The JSON round-trips and keeps the documented top-level keys."""
    report = {k: v for k, v in plugins_report.items() if k != "stderr"}
    assert json.loads(json.dumps(report)) == report
    assert set(report) == {"plugnet_version", "providers", "warnings"}
