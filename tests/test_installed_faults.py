"""Faulty plugins and concurrent first use, installed for real (see tests/test_installed.py).

Fixture plugins in tests/fixtures/plugins: one calls ``sys.exit(3)`` at import, one's hook
raises a ``BaseException`` subclass, one uses plugnet while it is imported, and one has a
second entry point whose first import raises ``KeyboardInterrupt``. Each venv gets plugnet,
the example plugin and some of them; every check runs in fresh interpreters in the venv.
"""

from __future__ import annotations

import json
import textwrap
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
EXITS = "plugnet-exits-at-import"
BASE_EXCEPTION = "plugnet-base-exception"
EAGER = "plugnet-eager"
INTERRUPTS = "plugnet-interrupts"

# A probe that hangs (a deadlock) fails within a minute, with every thread's stack.
WATCHDOG = "import faulthandler\nfaulthandler.dump_traceback_later(60, exit=True)\n"


@pytest.fixture(scope="module")
def faults_venv(make_venv: Any, wheels: dict[str, Path]) -> Venv:
    venv: Venv = make_venv("faults")
    venv.install(*(wheels[name] for name in ("plugnet", EXAMPLE, EXITS, BASE_EXCEPTION, EAGER)))
    return venv


@pytest.fixture(scope="module")
def interrupts_venv(make_venv: Any, wheels: dict[str, Path]) -> Venv:
    venv: Venv = make_venv("interrupts")
    venv.install(wheels["plugnet"], wheels[EXAMPLE], wheels[INTERRUPTS])
    return venv


@pytest.fixture(scope="module")
def threads_venv(make_venv: Any, wheels: dict[str, Path]) -> Venv:
    venv: Venv = make_venv("threads")
    venv.install(wheels["plugnet"], wheels[EXAMPLE])
    return venv


def mentioning(warnings: list[Any], text: str) -> list[str]:
    """The warnings (a probe's dicts or ``plugnet plugins --json``'s strings) that contain text."""
    messages = [w if isinstance(w, str) else w["message"] for w in warnings]
    return [m for m in messages if text in m]


# -- SystemExit and other BaseExceptions ----------------------------------------------------------


def test_a_plugin_that_exits_at_import_does_not_end_the_process(
    faults_venv: Venv, tmp_path: Path
) -> None:
    """Build, train, save, reload and list: the process survives and exits with status 0."""
    out = faults_venv.probe(
        WATCHDOG
        + f"""
import numpy as np
import plugnet
from plugnet.datasets import spiral

data = spiral(n=20, classes=3, noise=0.1, seed=0)
net = plugnet.Sequential(
    [{{"type": "dense", "units": 8, "activation": "tanh"}},
     {{"type": "dense", "units": 3, "activation": "softmax"}}],
    error="cross_entropy", optimizer="adam(lr=0.01)", seed=0)
net.fit(data.x, data.t, epochs=3, batch_size=16, verbose=0)
path = {str(tmp_path / "model.npz")!r}
net.save(path)
again = plugnet.load(path)
out["same_predictions"] = bool(np.array_equal(net.predict(data.x), again.predict(data.x)))
out["available"] = plugnet.available("activation")
out["statuses"] = {{p.name: [p.status, p.error] for p in plugnet.registry().providers}}
out["eager"] = plugnet.activation("eager").forward(np.array([-1.0, 2.0])).tolist()
out["unknown"] = attempt(lambda: plugnet.activation("no_such_activation"))
out["qualified"] = attempt(lambda: plugnet.activation("plugnet-exits-at-import:anything"))
"""
    )
    assert out["same_predictions"] is True
    assert out["statuses"][EXITS] == ["failed", "SystemExit: 3"]
    assert out["statuses"][BASE_EXCEPTION] == ["failed", "Abort: the hook gave up"]
    assert out["statuses"][EXAMPLE] == ["loaded", None]
    assert out["statuses"][EAGER] == ["loaded", None]
    assert {"square_plus", "eager", "relu"} <= set(out["available"])
    assert "base_exception_never" not in out["available"]  # registered, then the hook raised
    assert out["eager"] == [-1.0, 4.0]

    [exits] = mentioning(out["warnings"], EXITS)
    assert "failed to load: SystemExit: 3" in exits
    [aborts] = mentioning(out["warnings"], BASE_EXCEPTION)
    assert "Abort: the hook gave up" in aborts
    assert {w["category"] for w in out["warnings"]} == {"PluginWarning"}
    assert len(out["warnings"]) == 2

    unknown = out["unknown"]["message"]
    assert out["unknown"]["type"] == "UnknownComponentError"
    assert "2 plugins failed to load: " in unknown
    assert f"{EXITS} (SystemExit: 3)" in unknown
    assert f"{BASE_EXCEPTION} (Abort: the hook gave up)" in unknown
    assert f"provider '{EXITS}' failed to load" in out["qualified"]["message"]


def test_the_cli_lists_plugins_that_exit_or_abort_as_failed(faults_venv: Venv) -> None:
    report = faults_venv.plugins_report()  # exits with status 0
    by_name = {p["name"]: p for p in report["providers"]}
    assert (by_name[EXITS]["status"], by_name[EXITS]["error"]) == ("failed", "SystemExit: 3")
    assert by_name[EXITS]["entry_point"] == "exits_at_import"
    assert by_name[BASE_EXCEPTION]["status"] == "failed"
    assert by_name[BASE_EXCEPTION]["components"] == {}
    assert by_name[EAGER]["status"] == by_name[EXAMPLE]["status"] == "loaded"
    assert len(mentioning(report["warnings"], EXITS)) == 1
    assert "Traceback" not in report["stderr"]


def test_strict_mode_loads_a_plugin_that_uses_plugnet_while_imported(faults_venv: Venv) -> None:
    """In strict mode plugins load while the registry is built; the plugin's own calls to
    plugnet must get that registry, not wait for it."""
    out = faults_venv.probe(
        WATCHDOG
        + """
import plugnet
out["eager"] = describe(plugnet.activation("eager"))
import plugnet_eager
out["seen_at_import"] = "relu" in plugnet_eager.SEEN_AT_IMPORT
out["statuses"] = {p.name: p.status for p in plugnet.registry().providers}
""",
        env={"PLUGNET_STRICT_PLUGINS": "1", "PLUGNET_PLUGINS": EAGER},
    )
    assert out["eager"] == {"module": "plugnet_eager", "class": "Eager"}
    assert out["seen_at_import"] is True
    assert out["statuses"][EAGER] == "loaded"
    assert out["statuses"][EXITS] == "disabled"
    assert out["warnings"] == []


# -- PLUGNET_STRICT_PLUGINS=1 in the CLI ----------------------------------------------------------

TINY = """
[data]
source = "xor"
n = 40
test_size = 0
[model]
seed = 0
error = "square"
layers = [{ type = "dense", units = 1, activation = "sigmoid" }]
[training]
epochs = 1
verbose = 0
"""


@pytest.fixture(scope="module")
def strict_inputs(faults_venv: Venv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config and a model trained from it (built-ins only), for the strict-mode commands."""
    directory = tmp_path_factory.mktemp("strict")
    (directory / "tiny.toml").write_text(TINY, encoding="utf-8")
    faults_venv.run(
        faults_venv.script("plugnet"),
        "train",
        directory / "tiny.toml",
        "--out",
        directory / "model.npz",
        env={"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    return directory


@pytest.mark.parametrize(
    "command",
    [
        ["train", "{dir}/tiny.toml"],
        ["plugins"],
        ["plugins", "--json"],
        ["check", "relu"],
        ["evaluate", "{dir}/model.npz", "--data", "xor"],
        ["predict", "{dir}/model.npz", "--data", "xor"],
    ],
)
def test_strict_mode_cli_prints_one_line_and_exits_2(
    faults_venv: Venv, strict_inputs: Path, command: list[str]
) -> None:
    args = [part.format(dir=strict_inputs) for part in command]
    result = faults_venv.run(
        faults_venv.script("plugnet"),
        *args,
        env={"PLUGNET_STRICT_PLUGINS": "1", "PLUGNET_DISABLE_PLUGINS": BASE_EXCEPTION},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"plugnet {command[0]}: error: plugnet plugin '{EXITS}' (entry point 'exits_at_import') "
        "failed to load: SystemExit: 3\n"
    )


# -- KeyboardInterrupt while loading --------------------------------------------------------------


def test_an_interrupted_load_leaves_the_registry_consistent_and_is_resumed(
    interrupts_venv: Venv,
) -> None:
    out = interrupts_venv.probe(
        WATCHDOG
        + """
import plugnet
registry = plugnet.registry()

def recorded():
    return [[p.name, p.entry_point, p.status, [c.name for c in p.components]]
            for p in registry._providers]

def hooked():
    return sorted(name for name, _ in registry._manager.list_name_plugin())

try:
    plugnet.available("activation")
    out["first"] = "returned"
except KeyboardInterrupt:
    out["first"] = "KeyboardInterrupt"
out["recorded_after_interrupt"] = recorded()
out["hooked_after_interrupt"] = hooked()
out["second"] = plugnet.available("activation")
out["recorded"] = recorded()
out["hooked"] = hooked()
out["resumed"] = describe(plugnet.activation("resumed"))
out["steady"] = describe(plugnet.activation("plugnet-interrupts:steady"))
"""
    )
    assert out["first"] == "KeyboardInterrupt"
    interrupted = [r for r in out["recorded_after_interrupt"] if r[1] == "b_interrupted"]
    assert interrupted == []  # neither loaded nor failed: not settled
    assert not [name for name in out["hooked_after_interrupt"] if "b_interrupted" in name]

    assert {"steady", "resumed", "square_plus"} <= set(out["second"])
    entry_points = [(r[0], r[1]) for r in out["recorded"]]
    assert len(entry_points) == len(set(entry_points))  # each settled once
    by_entry_point = {r[1]: r for r in out["recorded"]}
    assert by_entry_point["a_steady"] == [INTERRUPTS, "a_steady", "loaded", ["steady"]]
    assert by_entry_point["b_interrupted"] == [INTERRUPTS, "b_interrupted", "loaded", ["resumed"]]
    assert by_entry_point["example"][2] == "loaded"
    assert len(out["hooked"]) == len(set(out["hooked"]))
    assert {f"{INTERRUPTS}:a_steady", f"{INTERRUPTS}:b_interrupted"} <= set(out["hooked"])
    assert out["resumed"]["class"] == "Resumed"
    assert out["steady"]["class"] == "Steady"
    assert out["warnings"] == []


def test_the_cli_ends_an_interrupted_load_with_status_130(interrupts_venv: Venv) -> None:
    result = interrupts_venv.run(interrupts_venv.script("plugnet"), "plugins", check=False)
    assert (result.returncode, result.stderr, result.stdout) == (130, "plugnet: interrupted\n", "")


# -- first use from many threads ------------------------------------------------------------------

THREADS = 16
PROCESSES = 6

# Every thread waits at the barrier, then makes the calls in its own rotation, three times.
THREAD_SCRIPT = textwrap.dedent(
    """
    import faulthandler, json, threading
    faulthandler.dump_traceback_later(60, exit=True)
    import plugnet

    def name_of(obj):
        return type(obj).__module__ + "." + type(obj).__qualname__

    CALLS = {
        "square_plus": lambda: name_of(plugnet.get("activation", "square_plus")),
        "sqplus": lambda: name_of(plugnet.activation("plugnet-example-plugin:sqplus")),
        "log_cosh": lambda: name_of(plugnet.get("error_function", "log_cosh")),
        "relu": lambda: name_of(plugnet.get("activation", "relu")),
        "available": lambda: plugnet.available("activation"),
        "available_errors": lambda: plugnet.available("error_function"),
        "providers": lambda: [[p.name, p.status, len(p.components)]
                              for p in plugnet.registry().providers],
    }
    NAMES = list(CALLS)
    barrier = threading.Barrier(THREADS)
    results = {name: [] for name in NAMES}
    errors = []

    def work(index):
        barrier.wait()
        for round in range(3):
            for step in range(len(NAMES)):
                name = NAMES[(index + step) % len(NAMES)]
                try:
                    results[name].append(json.dumps(CALLS[name]()))
                except Exception as exc:
                    errors.append(f"{name}: {type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({
        "total": THREADS * 3 * len(NAMES),
        "failed": len(errors),
        "errors": sorted(set(errors))[:5],
        "results": {name: sorted(set(values)) for name, values in results.items()},
    }))
    """
).replace("THREADS", str(THREADS))


def test_first_use_from_many_threads_sees_every_plugin(threads_venv: Venv, tmp_path: Path) -> None:
    script = tmp_path / "threads.py"
    script.write_text(THREAD_SCRIPT, encoding="utf-8")
    runs = [
        json.loads(threads_venv.run(threads_venv.python, script).stdout) for _ in range(PROCESSES)
    ]
    for run in runs:
        assert run["failed"] == 0, run["errors"]
        assert run["total"] == THREADS * 3 * 7
        for name, values in run["results"].items():
            assert len(values) == 1, (name, values)  # every thread saw the same
    results = {name: json.loads(values[0]) for name, values in runs[0]["results"].items()}
    assert (
        results["square_plus"]
        == results["sqplus"]
        == "plugnet_example_plugin.components.SquarePlus"
    )
    assert results["log_cosh"] == "plugnet_example_plugin.components.LogCosh"
    assert results["relu"] == "plugnet_builtins.activations.ReLU"
    assert "square_plus" in results["available"]
    assert "log_cosh" in results["available_errors"]
    assert [p[:2] for p in results["providers"]] == [["plugnet", "loaded"], [EXAMPLE, "loaded"]]
    assert all(run["results"] == runs[0]["results"] for run in runs)  # and every process
