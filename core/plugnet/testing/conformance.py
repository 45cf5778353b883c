"""The conformance suite: the checks every component of a kind must pass.

``check_activation``, ``check_layer`` and the other ``check_*`` functions run every check of
their kind on one component and raise one :class:`ConformanceError` listing each failure.
:func:`checks_for` lists the same checks as separate :class:`ConformanceCheck` items, which the
pytest plugin and ``plugnet check`` run one by one. This module reads a component's
declarations, builds the subjects and runs the checks; the checks themselves live in
:mod:`plugnet.testing.checks`, a module per kind.

A component declares what the checks need as one class attribute,
``conformance = plugnet.protocols.Conformance(cases=..., kinks=..., domain=...)`` (see
:class:`~plugnet.protocols.Conformance`; a metric's case gives the per-sample shape of its
outputs as ``input_shape``, and the case of a layer that merges several inputs gives their
per-sample shapes as a list, ``"input_shapes": [(4,), (3,)]``); an initializer that satisfies
:class:`~plugnet.protocols.DocumentsStd` also gets the ``std`` check.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from plugnet.protocols import DocumentsStd, MergesInputs, conformance_of
from plugnet.testing.checks import CHECKS, lowering
from plugnet.testing.checks.common import Case, Subject
from plugnet.testing.checks.layer import DEFAULT_LAYER_INPUT, DEFAULT_MERGE_INPUTS
from plugnet.testing.gradients import ConformanceError

if TYPE_CHECKING:
    from plugnet._registry import Component

__all__ = [
    "CHECKS",
    "Case",
    "ConformanceCheck",
    "Subject",
    "applicable",
    "check_activation",
    "check_callback",
    "check_dataset",
    "check_error_function",
    "check_fused_backward",
    "check_initializer",
    "check_layer",
    "check_metric",
    "check_optimizer",
    "check_provider",
    "check_schedule",
    "checks_for",
    "run_check",
    "select_components",
]


def applicable(
    kind: str, factory_or_instance: Any, component: Component | None = None
) -> list[str]:
    """The names of the checks that apply: all of the kind's, less ``std`` for an initializer
    that documents none, and less ``onnx`` for a layer or activation (the registered
    ``component``) that has no ONNX lowering or where onnx and onnxruntime are not installed
    (:func:`~plugnet.testing.checks.lowering.missing_runtime` says so)."""
    names = list(CHECKS[kind])
    # A class passes isinstance as its instances would: the protocol has only a method.
    if kind == "initializer" and not isinstance(factory_or_instance, DocumentsStd):
        names.remove("std")
    if "onnx" in names and (
        not lowering.has_lowering(component) or lowering.missing_runtime() is not None
    ):
        names.remove("onnx")
    return names


def _checks_of(subject: Subject) -> list[str]:
    """What ``check_layer``/``check_activation`` run: every check of the kind, the ``onnx``
    check whenever the component has a lowering, so that it fails, naming the extra, rather
    than pass unseen where onnx is not installed."""
    names = applicable(subject.kind, subject.fresh(), subject.component)
    wanted = "onnx" in CHECKS[subject.kind] and lowering.has_lowering(subject.component)
    return [*names, "onnx"] if wanted and "onnx" not in names else names


def run_check(subject: Subject, check: str) -> float | None:
    """Run one check; any failure becomes a :class:`ConformanceError` naming the component,
    the check and what went wrong."""
    prefix = f"{subject.kind.replace('_', ' ')} {subject.label}: {check} check failed"
    try:
        return CHECKS[subject.kind][check](subject)
    except ConformanceError as exc:
        raise ConformanceError(f"{prefix}: {exc}") from None
    except Exception as exc:
        raise ConformanceError(f"{prefix}: it raised {type(exc).__name__}: {exc}") from exc


# -- one component, every check -----------------------------------------------------------------


def _cases(factory: Any, kind: str) -> list[Case]:
    declared = conformance_of(factory).cases
    if not declared:
        return [_layer_case(factory, {}, {}) if kind == "layer" else Case()]
    cases = []
    for raw in declared:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("config", {}), Mapping):
            raise ValueError(
                f"{getattr(factory, '__name__', factory)}.conformance.cases holds {raw!r}; each "
                f'case is a dict like {{"config": {{...}}, "input_shape": (4,)}}'
            )
        config = dict(raw.get("config", {}))
        if kind == "layer":
            cases.append(_layer_case(factory, raw, config))
        else:
            cases.append(Case(config=config, input_shape=raw.get("input_shape")))
    return cases


def _layer_case(factory: Any, shapes: Mapping[str, Any], config: dict[str, Any]) -> Case:
    """A layer's case with its input shapes from ``shapes`` (a case, or check_layer's
    keywords): ``input_shape`` (default ``(4,)``) for a layer with one input,
    ``input_shapes`` (default two ``(4,)``) for one that merges several."""
    name = getattr(factory, "__name__", type(factory).__name__)
    if isinstance(factory, MergesInputs):  # a class passes as its instances would
        merged = shapes.get("input_shapes", DEFAULT_MERGE_INPUTS)
        if "input_shape" in shapes or not _is_shape_list(merged):
            raise ValueError(
                f"{name} merges several inputs (merges_inputs = True), so it is checked on "
                f'"input_shapes", a list of two or more per-sample shapes such as [(4,), (3,)] '
                f"(a case's key, or check_layer's keyword); got {dict(shapes)!r}"
            )
        return Case(config=config, input_shapes=tuple(tuple(s) for s in merged))
    if "input_shapes" in shapes:
        raise ValueError(
            f"{name} reads one input (it does not declare merges_inputs = True), so it is checked "
            f'on "input_shape", one per-sample shape such as (4,), not "input_shapes"'
        )
    shape = shapes.get("input_shape")
    return Case(config=config, input_shape=DEFAULT_LAYER_INPUT if shape is None else tuple(shape))


def _is_shape_list(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and len(value) >= 2
        and all(isinstance(shape, Sequence) and not isinstance(shape, str) for shape in value)
    )


def _subject_for(
    kind: str,
    spec: Any,
    input_shape: Sequence[int] | None = None,
    input_shapes: Sequence[Sequence[int]] | None = None,
) -> Subject:
    """A subject for a spec (name, dict) or an instance; an instance is copied for each check."""
    from plugnet.discovery import get_registry

    registry = get_registry()
    instance: Any = registry.resolve(kind, spec)
    component = registry.component_of(instance)
    name = component.name if component is not None else type(instance).__name__
    config = instance.get_config()  # resolve() checked that it has one
    if input_shape is None and input_shapes is None and kind in ("layer", "metric"):
        cases = _cases(type(instance), kind)
        first = ([c for c in cases if dict(c.config) == config] or cases)[0]
        shape = None if first.input_shape is None else tuple(first.input_shape)
        case = replace(first, config=config, input_shape=shape)
    elif kind == "layer":
        given = {"input_shape": input_shape, "input_shapes": input_shapes}
        case = _layer_case(instance, {k: v for k, v in given.items() if v is not None}, config)
    else:
        case = Case(config=config, input_shape=None if input_shape is None else tuple(input_shape))
    return Subject(
        kind=kind,
        label=case.label(name) if not isinstance(spec, str) else spec,
        make=lambda: copy.deepcopy(instance),
        case=case,
        component=component,
    )


def _run_all(subject: Subject, checks: Iterable[str]) -> None:
    failures = []
    for check in checks:
        try:
            run_check(subject, check)
        except ConformanceError as exc:
            failures.append(str(exc))
    if failures:
        raise ConformanceError("\n".join(failures))


def check_activation(activation: Any) -> None:
    """Run every activation check on a spec or instance (``onnx`` when it has a registered
    lowering); raise ConformanceError on failure."""
    subject = _subject_for("activation", activation)
    _run_all(subject, _checks_of(subject))


def check_error_function(error: Any) -> None:
    """Run every error-function check on a spec or instance."""
    _run_all(_subject_for("error_function", error), CHECKS["error_function"])


def check_layer(
    layer: Any,
    *,
    input_shape: Sequence[int] | None = None,
    input_shapes: Sequence[Sequence[int]] | None = None,
) -> None:
    """Run every layer check on a spec or instance, built for per-sample ``input_shape``
    (default: the layer's first matching ``conformance.cases`` entry, else ``(4,)``), or for a
    layer that merges several inputs (:class:`~plugnet.protocols.MergesInputs`) for the list
    ``input_shapes`` (default: likewise, else two inputs of ``(4,)``); ``onnx`` when it has a
    registered lowering."""
    subject = _subject_for("layer", layer, input_shape, input_shapes)
    _run_all(subject, _checks_of(subject))


def check_model_layers(model: Any) -> None:
    """Run every layer check on each layer of a built model (a graph or a ``Sequential``), on a
    copy built for the shapes that layer reads in the model: what the model feeds it, not the
    layer's declared cases. Raises one ConformanceError naming every layer that fails."""
    if not model.built:
        raise ValueError("the model is not built yet; call fit, predict or build first")
    shapes = dict(zip(model.input_names, model.input_shapes, strict=True))
    shapes.update(zip(model.layer_names, model.output_shapes, strict=True))
    failures = []
    for name, layer, reads in zip(model.layer_names, model.layers, model.layer_inputs, strict=True):
        read = [shapes[source] for source in reads]
        try:
            if isinstance(layer, MergesInputs):
                check_layer(layer, input_shapes=read)
            else:
                check_layer(layer, input_shape=read[0])
        except ConformanceError as exc:
            failures.append(f"layer {name!r}: {exc}")
    if failures:
        raise ConformanceError("\n".join(failures))


def check_optimizer(optimizer: Any) -> None:
    """Run every optimizer check on a spec or instance."""
    _run_all(_subject_for("optimizer", optimizer), CHECKS["optimizer"])


def check_initializer(initializer: Any) -> None:
    """Run every initializer check on a spec or instance (``std`` only if it defines
    ``expected_std(shape)``)."""
    subject = _subject_for("initializer", initializer)
    _run_all(subject, applicable("initializer", subject.fresh()))


def check_schedule(schedule: Any) -> None:
    """Run every learning-rate schedule check on a spec or instance."""
    _run_all(_subject_for("schedule", schedule), CHECKS["schedule"])


def check_metric(metric: Any, *, output_shape: Sequence[int] | None = None) -> None:
    """Run every metric check on a spec or instance, on outputs and targets of per-sample
    ``output_shape`` (default: the metric's first matching ``conformance.cases`` entry, else
    ``(10,)`` for class metrics and ``(3,)`` for regression metrics)."""
    _run_all(_subject_for("metric", metric, output_shape), CHECKS["metric"])


def check_dataset(dataset: Any) -> None:
    """Run every data set check on a spec or instance."""
    _run_all(_subject_for("dataset", dataset), CHECKS["dataset"])


def check_callback(callback: Any) -> None:
    """Run every callback check on a spec or instance: short fits of a tiny network in a
    temporary directory (see :mod:`plugnet.testing.checks.callback`)."""
    _run_all(_subject_for("callback", callback), CHECKS["callback"])


def check_fused_backward(activation: Any, error: Any, fused: Any = None) -> None:
    """Check the fused backward registered for (activation, error), or ``fused`` if given,
    against the unfused chain and finite differences, and every other fused check."""
    from plugnet.discovery import get_registry

    registry = get_registry()
    act, err = registry.resolve("activation", activation), registry.resolve("error_function", error)
    if fused is None:
        fused = registry.fused_backward(act, err)
        if fused is None:
            raise ConformanceError(
                f"no fused backward is registered for ({activation!r}, {error!r}); register "
                f"one with register_fused_backwards or pass fused="
            )
    component = registry.component_of(fused)
    subject = Subject(
        kind="fused_backward",
        label=component.name if component is not None else type(fused).__name__,
        make=lambda: copy.deepcopy(fused),
        case=Case(config=fused.get_config()),
        component=component,
        pair=(act, err),
    )
    _run_all(subject, CHECKS["fused_backward"])


# -- the suite over registered components -------------------------------------------------------


@dataclass(frozen=True)
class ConformanceCheck:
    """One check of one registered component in one case; call it to run it."""

    component: Component
    case: Case
    check: str
    label: str

    @property
    def kind(self) -> str:
        return self.component.kind

    @property
    def id(self) -> str:
        """A readable test id, e.g. ``activation:mish-gradient``."""
        return f"{self.kind}:{self.label}-{self.check}"

    def subject(self) -> Subject:
        from plugnet.discovery import get_registry

        component, case = self.component, self.case
        registry = get_registry()  # where select_components found the component
        pair = None
        if component.pair is not None:
            pair = (
                registry.resolve("activation", component.pair[0]),
                registry.resolve("error_function", component.pair[1]),
            )
        return Subject(
            kind=component.kind,
            label=self.label,
            make=lambda: component.create(registry, **case.config),
            case=case,
            component=component,
            pair=pair,
        )

    def __call__(self) -> float | None:
        """Run the check: returns the worst error where it measures one, else None; raises
        :class:`ConformanceError` on failure."""
        return run_check(self.subject(), self.check)


def checks_for(components: Iterable[Component]) -> list[ConformanceCheck]:
    """Every applicable check of every case of each component, in a stable order."""
    items: list[ConformanceCheck] = []
    for component in components:
        cases = _cases(component.factory, component.kind)
        labels = [case.label(component.name) for case in cases]
        for index, case in enumerate(cases):
            label = labels[index]
            shapes = case.shapes_label()
            if labels.count(label) > 1 and shapes is not None:
                label += "@" + shapes
            if labels.count(label) > 1:
                label += f"#{labels[: index + 1].count(labels[index])}"
            for check in applicable(component.kind, component.factory, component):
                items.append(ConformanceCheck(component, case, check, label))
    return items


def select_components(targets: Sequence[str] = (), kind: str | None = None) -> list[Component]:
    """The registered components that ``targets`` name: distribution (provider) names select
    everything they register; other targets are component names, looked up in every kind (or in
    ``kind``). No targets: every component. Unknown targets raise LookupError."""
    from plugnet._registry import KINDS
    from plugnet.discovery import get_registry
    from plugnet.specs import normalize

    registry = get_registry()
    kinds = [kind] if kind is not None else list(KINDS)
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; the kinds are {', '.join(KINDS)}")
    everything = [c for k in kinds for c in registry.components(k)]
    if not targets:
        return everything
    providers = {normalize(p.name) for p in registry.providers if p.status == "loaded"}
    selected: list[Component] = []
    for target in targets:
        if normalize(target) in providers:
            found = [c for c in everything if normalize(c.provider) == normalize(target)]
        else:
            found = []
            for k in kinds:
                try:
                    found.append(registry.lookup(k, target))
                except (LookupError, ValueError):  # unknown, or not a name of this form
                    continue
            found += [c for c in everything if c.pair is not None and c.name == target]
        if not found:
            raise LookupError(
                f"{target!r} is neither an installed provider ({', '.join(sorted(providers))}) "
                f"nor the name of a registered {' or '.join(k.replace('_', ' ') for k in kinds)}"
            )
        selected += [c for c in found if c not in selected]
    return selected


def check_provider(distribution: str) -> None:
    """Run every check on every component that ``distribution`` registers."""
    from plugnet.discovery import get_registry
    from plugnet.specs import normalize

    registry = get_registry()
    if not any(
        normalize(p.name) == normalize(distribution) and p.status == "loaded"
        for p in registry.providers
    ):
        known = ", ".join(p.name for p in registry.providers if p.status == "loaded")
        raise ConformanceError(
            f"no loaded provider is named {distribution!r}; the loaded providers are {known}. "
            f"Is the distribution installed, and does `plugnet plugins` list it as loaded?"
        )
    results = run(checks_for(select_components([distribution])))
    failures = [result.message for result in results if not result.passed]
    if failures:
        raise ConformanceError(
            f"{len(failures)} conformance check(s) of {distribution!r} failed:\n"
            + "\n".join(failures)
        )


@dataclass(frozen=True)
class Result:
    """The outcome of one check."""

    check: ConformanceCheck
    passed: bool
    worst_error: float | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.check.id,
            "kind": self.check.kind,
            "component": self.check.label,
            "provider": self.check.component.provider,
            "check": self.check.check,
            "passed": self.passed,
            "worst_error": self.worst_error,
            "message": self.message,
        }


def run(checks: Iterable[ConformanceCheck]) -> list[Result]:
    """Run every check, recording failures instead of stopping at the first."""
    results = []
    for check in checks:
        try:
            worst = check()
        except ConformanceError as exc:
            results.append(Result(check, passed=False, message=str(exc)))
        else:
            results.append(Result(check, passed=True, worst_error=worst))
    return results
