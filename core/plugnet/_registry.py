"""The registry: components by kind and name, the providers they came from, and their failures.

:mod:`plugnet.discovery` decides which plugins to load; this module registers one plugin at a
time, all or nothing, and resolves specs to component instances.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
import warnings
from _thread import RLock  # threading's RLock is this; importing threading costs 0.6 ms
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property, partial
from typing import Any, Literal, NoReturn

import pluggy

from plugnet import hookspecs, protocols
from plugnet._version import API_VERSION_ATTRIBUTE, api_version_problem
from plugnet.errors import (
    AmbiguousComponentError,
    PluginError,
    PluginWarning,
    SpecError,
    UnknownComponentError,
)
from plugnet.specs import (
    ArgumentCheck,
    ParsedSpec,
    _type_hints,
    argument_checks,
    normalize,
    parse_mapping,
    parse_string,
    preview,
)

BUILTIN_PROVIDER = "plugnet"


class Kind:
    """A component kind: the hook that registers it, the protocol its instances satisfy, the
    methods they must have, the title of its section in listings (the catalogue), and the
    dict attributes its instances must have (checked on instances, which set them)."""

    # A plain class: creating a NamedTuple costs a quarter of a millisecond of start-up (typing
    # compiles each field's annotation), a dataclass a millisecond; nothing unpacks a Kind.
    __slots__ = ("attributes", "hook", "methods", "name", "protocol", "title")

    def __init__(
        self,
        name: str,
        hook: str,
        protocol: type,
        methods: tuple[str, ...],
        title: str,
        attributes: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.hook = hook
        self.protocol = protocol
        self.methods = methods
        self.title = title
        self.attributes = attributes

    def __repr__(self) -> str:
        return f"Kind({self.name!r}, {self.hook!r}, {self.protocol.__name__})"


# The one table of kinds: a new kind is a row here and its hookspec in plugnet.hookspecs.
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("activation", "register_activations", protocols.Activation, ("forward", "backward"),
             "Activations"),
        Kind("error_function", "register_error_functions", protocols.ErrorFunction,
             ("forward", "backward"), "Error functions"),
        Kind("layer", "register_layers", protocols.Layer, ("build", "forward", "backward"),
             "Layers", ("params", "grads")),
        Kind("optimizer", "register_optimizers", protocols.Optimizer, ("update",), "Optimizers"),
        Kind("initializer", "register_initializers", protocols.Initializer, ("__call__",),
             "Initializers"),
        Kind("schedule", "register_schedules", protocols.Schedule, ("__call__",),
             "Learning-rate schedules"),
        Kind("fused_backward", "register_fused_backwards", protocols.FusedBackward,
             ("backward",), "Fused output backwards"),
        Kind("metric", "register_metrics", protocols.Metric, ("reset", "update", "result"),
             "Metrics"),
        Kind("dataset", "register_datasets", protocols.DataSource, ("load",), "Data sets"),
        Kind("callback", "register_callbacks", protocols.Callback,
             ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end",
              "on_train_end"), "Callbacks"),
    )
}  # fmt: skip
_KIND_BY_HOOK = {kind.hook: kind for kind in KINDS.values()}
# Not a kind: a lowering is keyed by the qualified name of the component it lowers (see Lowering).
LOWERING_HOOK = "register_onnx_lowerings"
# The kinds whose components a model's export lowers.
LOWERED_KINDS = ("layer", "activation")
_CANONICAL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ALIAS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\- ]*$")


def _kind(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(
            f"unknown component kind {kind!r}; the kinds are {', '.join(KINDS)}."
        ) from None


class Component:
    """One registered component: its names, where it came from and how to build it. Its fields
    are read-only."""

    # A plain class rather than a frozen dataclass, whose generated methods cost about a
    # millisecond of start-up; compared by identity, as a dataclass with eq=False is.
    kind: str
    name: str
    factory: Callable[..., Any]
    provider: str
    version: str
    aliases: tuple[str, ...]
    builtin: bool
    pair: tuple[str, str] | None

    def __init__(
        self,
        kind: str,
        name: str,
        factory: Callable[..., Any],
        provider: str,
        version: str,
        aliases: tuple[str, ...] = (),
        builtin: bool = False,
        pair: tuple[str, str] | None = None,
    ) -> None:
        fields = vars(self)  # cached_property stores its values here too
        fields.update(kind=kind, name=name, factory=factory, provider=provider, version=version)
        fields.update(aliases=aliases, builtin=builtin, pair=pair)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to {name!r}: a Component is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete {name!r}: a Component is read-only")

    def __repr__(self) -> str:
        return f"Component({self.kind!r}, {self.qualified_name!r}, {self.factory!r})"

    @property
    def qualified_name(self) -> str:
        return f"{self.provider}:{self.name}"

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.factory) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    # Signature and annotations are read on first use, not at registration, and then kept.
    @cached_property
    def _signature(self) -> inspect.Signature | None:
        if _takes_nothing(self.factory):
            # What inspect.signature finds, without its parse of object's text signature, which
            # costs milliseconds the first time (tokenize compiles its patterns).
            return inspect.Signature()
        try:
            return inspect.signature(self.factory)
        except (TypeError, ValueError):
            return None

    @cached_property
    def _argument_checks(self) -> dict[str, ArgumentCheck]:
        return argument_checks(self.factory)

    def parameters(self) -> dict[str, Any]:
        """The factory's keyword parameters and their defaults (``inspect.Parameter.empty``)."""
        if self._signature is None:
            return {}
        return {
            p.name: p.default
            for p in self._signature.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }

    def argument_problem(self, name: str, value: Any) -> str | None:
        """Why ``value`` does not fit the annotation of parameter ``name`` (``"alpha must be a
        number (annotated float), got 'x'"``), or None when it fits or is not checked."""
        check = self._argument_checks.get(name)
        return None if check is None else check.problem(name, value)

    @cached_property
    def nested(self) -> dict[str, str]:
        """The parameters that take a component: those whose annotation names a kind's
        protocol (``activation: Activation | str``), each with its kind."""
        return nested_kinds(self.factory)

    def create(self, registry: Registry | None = None, /, **kwargs: Any) -> Any:
        """Build an instance, checking the arguments against the signature and its simple
        annotations (see :func:`plugnet.specs.argument_checks`), and the instance against the
        protocol. ``self`` is positional-only, so a spec may pass an argument named "self"
        (which the factory then refuses).

        ``registry`` (the one building this component) resolves each argument that is a
        component spec (see :attr:`nested`), defaults included, and the factory receives the
        instances; the specs they came from are recorded in the instance's
        ``component_specs`` (:class:`~plugnet.protocols.TakesComponents`) for ``get_config``.
        """
        label = f"{self.kind.replace('_', ' ')} {self.qualified_name!r}"
        specs: dict[str, dict[str, Any]] = {}
        if registry is not None and self.nested:
            kwargs = dict(kwargs)
            defaults = self.parameters()
            for name, kind in self.nested.items():
                value = kwargs.get(name, defaults.get(name))
                if value not in (None, inspect.Parameter.empty):  # an instance is checked too
                    kwargs[name] = value = registry.resolve(kind, value)
                if value not in (None, inspect.Parameter.empty) and registry.component_of(value):
                    specs[name] = registry.spec_of(value)
        if self._signature is not None:
            try:
                self._signature.bind(**kwargs)
            except TypeError as exc:
                accepted = ", ".join(self.parameters()) or "no arguments"
                raise SpecError(
                    f"{label} cannot take {preview(kwargs)}: {exc}. It accepts: {accepted}."
                ) from None
        try:
            instance = self.factory(**kwargs)
        except (TypeError, ValueError, ArithmeticError) as exc:  # ArithmeticError: huge numbers
            raise SpecError(f"cannot build {label} with {preview(kwargs)}: {exc}") from exc
        # After the factory, so that a component's own, more specific message comes first; the
        # annotations catch what it let through (which would otherwise fail on first use).
        for name, value in kwargs.items():
            problem = self.argument_problem(name, value)
            if problem is not None:
                raise SpecError(f"cannot build {label}: {problem}.")
        missing = _missing_members(instance, KINDS[self.kind])
        if missing:
            raise PluginError(
                f"{label} built a {type(instance).__name__} that does not satisfy the "
                f"{KINDS[self.kind].protocol.__name__} protocol: it lacks {', '.join(missing)}."
            )
        if specs and isinstance(instance, protocols.TakesComponents):
            instance.component_specs.update(specs)
        return instance


def _takes_nothing(factory: Callable[..., Any]) -> bool:
    """Whether ``factory`` is a class with object's constructor, and so takes no arguments."""
    return (
        isinstance(factory, type)
        and type(factory).__call__ is type.__call__
        and vars(object)["__init__"] is getattr(factory, "__init__", None)
        and vars(object)["__new__"] is getattr(factory, "__new__", None)
        and getattr(factory, "__signature__", None) is None
    )


def nested_kinds(factory: Callable[..., Any]) -> dict[str, str]:
    """The keyword parameters of ``factory`` (a class: its ``__init__``) annotated with a kind's
    protocol, alone or in a union, each with that kind's name."""
    target = inspect.getattr_static(factory, "__init__") if isinstance(factory, type) else factory
    hints = _type_hints(target)  # an annotation that does not resolve declares nothing
    by_protocol = {kind.protocol: kind.name for kind in KINDS.values()}
    nested = {}
    for name, hint in hints.items():
        members = (
            typing.get_args(hint)
            if isinstance(hint, types.UnionType) or (typing.get_origin(hint) is typing.Union)
            else (hint,)
        )
        kinds = [by_protocol[m] for m in members if m in by_protocol]
        if name != "return" and kinds:
            nested[name] = kinds[0]
    return nested


class Lowering:
    """An ONNX lowering a provider registered for the component ``target`` (a qualified name,
    ``provider:name``): ``function(component, graph, inputs) -> output name``
    (:class:`~plugnet.protocols.OnnxLowering`)."""

    def __init__(self, target: str, function: Callable[..., Any], provider: str) -> None:
        self.target = target
        self.function = function
        self.provider = provider

    def __repr__(self) -> str:
        return f"Lowering({self.target!r}, {self.function!r}, from {self.provider!r})"


class Provider:
    """A source of components: a distribution's entry point, plugnet's built-ins, or a plugin
    registered in-process."""

    # A plain class, as Component is (a dataclass costs start-up time); compared by identity.
    def __init__(
        self, name: str, version: str, entry_point: str | None = None, *, builtin: bool = False
    ) -> None:
        self.name = name
        self.version = version
        self.entry_point = entry_point
        self.status: Literal["loaded", "failed", "disabled"] = "loaded"
        self.error: str | None = None
        self.builtin = builtin
        self.modules: list[str] = []
        self.components: list[Component] = []
        self.lowerings: list[Lowering] = []

    def __repr__(self) -> str:
        return f"Provider({self.name!r}, {self.version!r}, {self.entry_point!r}, {self.status!r})"


def _missing_members(obj: Any, kind: Kind) -> list[str]:
    members = [*kind.methods, "get_config"]
    missing = [m for m in members if not callable(getattr(obj, m, None))]
    if not isinstance(obj, type):
        missing += [a for a in kind.attributes if not isinstance(getattr(obj, a, None), dict)]
    return missing + _capability_problems(obj)


def _capability_problems(obj: Any) -> list[str]:
    """What a class or instance lacks for an optional capability it claims (the protocols in
    :mod:`plugnet.protocols`): the core then relies on the capability without asking again."""
    problems = []
    declared = getattr(obj, "skips_input_grad", _ABSENT)
    if declared is not _ABSENT:  # isinstance(obj, SkipsInputGrad) holds whatever its value
        if declared is not True:
            problems.append(f"skips_input_grad = True (it has {declared!r})")
        for method in ("backward", "backward_linear"):
            function = getattr(obj, method, None)
            if callable(function) and not _takes_keyword(function, "need_input_grad"):
                problems.append(
                    f"the keyword need_input_grad in {method} (it declares skips_input_grad)"
                )
    # A class is checked at registration, an instance when built: what only an instance has
    # (set by __init__) is looked up on instances only, which spares the registration of the
    # built-ins hundreds of failing getattr calls on classes (start-up).
    instance = not isinstance(obj, type)
    merges = getattr(obj, "merges_inputs", _ABSENT)
    indices = getattr(obj, "takes_indices", _ABSENT)
    for flag, capability, declared in (
        ("merges_inputs", "MergesInputs", merges),
        ("takes_indices", "TakesIndices", indices),
    ):
        if declared is not _ABSENT and declared is not True:
            problems.append(f"{flag} = True (it has {declared!r}; see {capability})")
    if merges is True and indices is not _ABSENT and indices:
        problems.append("merges_inputs or takes_indices, not both (a merge layer reads floats)")
    if instance and indices is True:  # the count is usually set by __init__
        count = getattr(obj, "index_count", _ABSENT)
        if not (isinstance(count, int) and not isinstance(count, bool) and count > 0):
            problems.append(f"index_count as a positive int (it has {count!r}; see TakesIndices)")
    linear = getattr(obj, "backward_linear", None)
    if linear is not None and not callable(linear):
        problems.append("a callable backward_linear")
    if (
        callable(linear)
        and instance  # the activation is usually set by __init__
        and not isinstance(getattr(obj, "activation", None), protocols.Activation)
    ):
        problems.append("an activation next to backward_linear (see OutputLayer)")
    buffers = getattr(obj, "buffers", None) if instance else None
    if buffers is not None and not isinstance(buffers, dict):
        problems.append("buffers as a dict of arrays (see HasBuffers)")
    stateful = [callable(getattr(obj, m, None)) for m in ("get_state", "set_state")]
    if any(stateful) and not all(stateful):
        lacking = "set_state" if stateful[0] else "get_state"
        problems.append(f"{lacking} next to {'get_state' if stateful[0] else 'set_state'} "
                        f"(see Stateful)")  # fmt: skip
    for member, capability in (
        ("per_sample", "PerSampleError"),
        ("start_epoch", "EpochAware"),
    ):
        value = getattr(obj, member, None)
        if value is not None and not callable(value):
            problems.append(f"a callable {member} (see {capability})")
    trainable = getattr(obj, "trainable", None) if instance else None
    if trainable is not None and not isinstance(trainable, bool):
        problems.append(f"trainable as True or False (it has {trainable!r}; see Freezable)")
    conformance = getattr(obj, "conformance", None)
    if conformance is not None and not isinstance(conformance, protocols.Conformance):
        problems.append("conformance as a plugnet.protocols.Conformance")
    return problems


_ABSENT = object()


def _takes_keyword(function: Callable[..., Any], name: str) -> bool:
    if (
        type(function) is types.FunctionType
        and not hasattr(function, "__wrapped__")
        and not hasattr(function, "__signature__")
    ):
        # What inspect.signature reads, from the code object: the arguments that may be passed
        # by keyword, and **kwargs (a tenth of its cost; the built-ins' classes ask this at
        # every start-up).
        code = function.__code__
        keywords = code.co_varnames[
            code.co_posonlyargcount : code.co_argcount + code.co_kwonlyargcount
        ]
        return name in keywords or bool(code.co_flags & inspect.CO_VARKEYWORDS)
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return True  # a builtin without a signature: nothing to check
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return (name in parameters and parameters[name].kind in kinds) or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _first_line(text: str, limit: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, reading a module's functions directly.

    pluggy looks up every name in ``dir(plugin)`` with :func:`inspect.getattr_static`, which
    for the built-in modules (hundreds of names) is most of their registration time. In a plain
    module, what getattr_static finds under a name that is not a data descriptor of the module
    type is the module's own value, and only a function there can be a hook (pluggy also takes
    staticmethods, classmethods and bound methods: those, and anything not in a plain module,
    go to pluggy).
    """

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        value = _module_value(plugin, name)
        if value is _ABSENT:
            return super().parse_hookimpl_opts(plugin, name)
        return _marker_options(value, self.project_name + "_impl")

    def parse_hookspec_opts(self, module_or_class: object, name: str) -> Any:
        value = _module_value(module_or_class, name)
        if value is _ABSENT:
            return super().parse_hookspec_opts(module_or_class, name)  # type: ignore[arg-type]
        return _marker_options(value, self.project_name + "_spec")


def _module_value(plugin: object, name: str) -> Any:
    """A plain module's function under ``name``, None if what is there cannot be a hook, or
    _ABSENT when pluggy's own lookup must decide."""
    if type(plugin) is not types.ModuleType or name in _MODULE_DATA_DESCRIPTORS:
        return _ABSENT
    value = vars(plugin).get(name, _ABSENT)
    if isinstance(value, types.FunctionType) or value is _ABSENT:
        return value
    return _ABSENT if isinstance(value, (staticmethod, classmethod, types.MethodType)) else None


def _marker_options(function: Any, attribute: str) -> dict[str, Any] | None:
    options = None if function is None else getattr(function, attribute, None)
    return options if isinstance(options, dict) else None


def _data_descriptors(cls: type) -> frozenset[str]:
    """The names under which ``cls`` (through its MRO) has a data descriptor, which takes
    precedence over an instance's own value."""
    names: set[str] = set()
    seen: set[str] = set()
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name not in seen:
                seen.add(name)
                if hasattr(type(value), "__set__") or hasattr(type(value), "__delete__"):
                    names.add(name)
    return frozenset(names)


_MODULE_DATA_DESCRIPTORS = _data_descriptors(types.ModuleType)
_IMPL_ATTRIBUTE = hookspecs.PROJECT_NAME + "_impl"  # where pluggy's HookimplMarker puts options


# A hook implementation: the hook's name, the function and the arguments it takes.
_Hook = tuple[str, Callable[..., Any], tuple[str, ...]]
_HOOK_ORDER = sorted([*_KIND_BY_HOOK, LOWERING_HOOK])  # pluggy's: its dir() of the hookspecs
# Each hookspec's arguments, read from plugnet.hookspecs as pluggy reads them.
_SPEC_ARGUMENTS = {
    name: (code := getattr(hookspecs, name).__code__).co_varnames[: code.co_argcount]
    for name in _HOOK_ORDER
}


def _plain_hooks(plugin: object) -> list[_Hook] | None:
    """A plain module's hook implementations, found and checked as pluggy would (a marked
    function named after a hookspec, taking only the spec's arguments) at a fraction of the
    cost of its registration; or None, when pluggy must decide: not a plain module, a
    ``__dir__`` of its own, a marker with options (``tryfirst``, ``specname``, ...), or a
    function whose arguments pluggy reads differently (wrapped, or taking ``self``).

    The built-ins are registered this way: they are hundreds of names in a dozen modules, and
    pluggy's register is about 1.5 ms of every process's start-up. A hook that is not a
    hookspec, or arguments the spec lacks, are a PluginError here as pluggy's are.
    """
    if type(plugin) is not types.ModuleType or "__dir__" in vars(plugin):
        return None
    hooks = []
    for name, value in vars(plugin).items():
        if type(value) is not types.FunctionType or name in _MODULE_DATA_DESCRIPTORS:
            continue
        options = getattr(value, _IMPL_ATTRIBUTE, None)
        if not isinstance(options, dict):
            continue
        if any(options.values()):  # pluggy's markers store every option, all false by default
            return None
        if hasattr(value, "__wrapped__") or hasattr(value, "__signature__"):
            return None  # pluggy reads the signature inspect.signature gives
        code = value.__code__
        argnames = code.co_varnames[: code.co_argcount - len(value.__defaults__ or ())]
        if argnames[:1] == ("self",):
            return None  # pluggy drops an implicit self from nested functions
        if name not in _HOOK_ORDER:
            raise PluginError(f"unknown hook {name!r} in plugin {plugin!r}")
        unknown = sorted(set(argnames) - set(_SPEC_ARGUMENTS[name]))
        if unknown:
            raise PluginError(
                f"hook {name!r} in plugin {plugin!r} takes {', '.join(unknown)}, which the "
                f"hookspec does not give; it takes {', '.join(_SPEC_ARGUMENTS[name])}"
            )
        hooks.append((name, value, tuple(argnames)))
    return sorted(hooks, key=lambda hook: _HOOK_ORDER.index(hook[0]))


class Registry:
    """Components by kind, registered one plugin at a time through the pluggy hooks."""

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._providers: list[Provider] = []
        # The deferred loader stays set until it has finished, so a reader that finds it unset
        # knows every table is complete; _lock serializes loading and registration.
        self._deferred: Callable[[Registry], None] | None = None
        self._loading = False  # the loader is running, in the thread that holds _lock
        self._lock = RLock()
        self._components: dict[str, list[Component]] = {kind: [] for kind in KINDS}
        self._short: dict[str, dict[str, list[Component]]] = {kind: {} for kind in KINDS}
        self._qualified: dict[str, dict[tuple[str, str], Component]] = {k: {} for k in KINDS}
        self._by_type: dict[type, Component] = {}
        self._lowerings: dict[str, list[Lowering]] = {}  # by the target's qualified name

    @cached_property
    def _manager(self) -> _PluginManager:
        """pluggy's manager, made for the first plugin that goes through pluggy: the built-ins
        register without it (see :func:`_plain_hooks`), and making it is 0.3 ms of start-up."""
        manager = _PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        return manager

    # -- registration -------------------------------------------------------------------------

    @property
    def providers(self) -> list[Provider]:
        """Every provider: built-ins, entry points (loaded, failed or disabled), in-process."""
        self.load_deferred()
        return list(self._providers)

    @property
    def failures(self) -> list[Provider]:
        return [p for p in self.providers if p.status == "failed"]

    def defer(self, loader: Callable[[Registry], None]) -> None:
        """Run ``loader(self)`` (which adds third-party plugins) only when first needed.

        Built-in short names are reserved, so a lookup that a built-in answers never needs the
        third-party plugins; everything else (other names, listings, providers) loads them.
        """
        self._deferred = loader

    def load_deferred(self) -> None:
        """Load the deferred third-party plugins now, if that has not happened yet.

        Every thread that calls this while another is loading waits until loading has finished.
        If loading is interrupted (``KeyboardInterrupt``), the loader is kept, so the next call
        resumes it. A call from inside the loader (a plugin's import code using plugnet) returns
        at once.
        """
        if self._deferred is None:  # the fast path: loaded already, or nothing to load
            return
        with self._lock:
            loader = self._deferred
            if loader is None or self._loading:
                return
            self._loading = True
            try:
                loader(self)
            finally:
                self._loading = False
            self._deferred = None  # only now: readers that see None see complete tables

    def add_plugin(
        self,
        plugin: object,
        *,
        provider: str,
        version: str = "",
        entry_point: str | None = None,
        builtin: bool = False,
        strict: bool | None = None,
    ) -> Provider:
        """Register every component of ``plugin`` (a module or object with hook
        implementations), or none of them if anything about it is wrong, including a
        ``PLUGNET_API_VERSION`` that is malformed or names another major version.

        A failure raises :class:`PluginError` for built-ins and in strict mode (``strict``
        overrides the registry's setting); otherwise it warns and marks the provider failed.
        """
        if not builtin:
            self.load_deferred()
        with self._lock:
            return self._add_plugin(plugin, provider, version, entry_point, builtin, strict)

    def _add_plugin(
        self,
        plugin: object,
        provider: str,
        version: str,
        entry_point: str | None,
        builtin: bool,
        strict: bool | None,
    ) -> Provider:
        manager_name = f"{provider}:{entry_point or getattr(plugin, '__name__', id(plugin))}"
        try:
            # Checked first, so a plugin written for another contract registers no hook at all.
            declared = getattr(plugin, API_VERSION_ATTRIBUTE, None)
            problem = None if declared is None else api_version_problem(declared)
            if problem is not None:
                raise PluginError(problem)
            hooks = _plain_hooks(plugin) if builtin else None
            if hooks is not None:  # plugnet's own modules: pluggy's checks, without pluggy
                staged, lowerings = self._collect(hooks, provider, version, builtin)
                keys = self._check_new(staged, provider)
                self._check_lowerings(lowerings, provider)
            else:
                self._manager.register(plugin, name=manager_name)
                try:
                    self._manager.check_pending()
                    staged, lowerings = self._collect(
                        self._hooks_of(plugin), provider, version, builtin
                    )
                    keys = self._check_new(staged, provider)
                    self._check_lowerings(lowerings, provider)
                except BaseException:
                    self._manager.unregister(plugin)
                    raise
        except KeyboardInterrupt:
            raise  # nothing recorded or registered: the next load tries this plugin again
        except BaseException as exc:  # SystemExit from a plugin's hook is its failure too
            record = self.provider_record(provider, version, entry_point, builtin)
            self.record_failure(record, exc, strict=strict)
            return record
        record = self.provider_record(provider, version, entry_point, builtin)
        notes = self._commit(staged, keys)
        for lowering in lowerings:
            self._lowerings.setdefault(lowering.target, []).append(lowering)
        record.components.extend(staged)
        record.lowerings.extend(lowerings)
        record.modules.append(getattr(plugin, "__name__", type(plugin).__name__))
        for note in notes:  # after committing, so a warnings filter set to "error" breaks nothing
            warnings.warn(note, PluginWarning, stacklevel=3)
        return record

    def record_failure(
        self, record: Provider, exc: BaseException, *, strict: bool | None = None
    ) -> None:
        """Mark a provider as failed: raise for built-ins and in strict mode, else warn."""
        record.status = "failed"
        record.error = f"{type(exc).__name__}: {exc}"
        where = f" (entry point {record.entry_point!r})" if record.entry_point else ""
        message = f"plugnet plugin {record.name!r}{where} failed to load: {record.error}"
        if record.builtin or (self.strict if strict is None else strict):
            raise PluginError(message) from exc
        warnings.warn(
            f"{message}. Its components are unavailable; everything else still works. "
            f"Set PLUGNET_DISABLE_PLUGINS={record.entry_point or record.name} to skip it, or "
            f"PLUGNET_STRICT_PLUGINS=1 to make this an error.",
            PluginWarning,
            stacklevel=2,
        )

    def add_disabled(self, provider: str, version: str, entry_point: str) -> None:
        record = self.provider_record(provider, version, entry_point, False)
        record.status = "disabled"

    def provider_record(
        self, name: str, version: str, entry_point: str | None, builtin: bool
    ) -> Provider:
        record = self.find_provider(name, entry_point)
        if record is None:
            record = Provider(name, version, entry_point, builtin=builtin)
            self._providers.append(record)
        return record

    def find_provider(self, name: str, entry_point: str | None) -> Provider | None:
        """The provider recorded for this name and entry point, if any (loaded or not)."""
        return next(
            (r for r in self._providers if (r.name, r.entry_point) == (name, entry_point)), None
        )

    def _hooks_of(self, plugin: object) -> list[_Hook]:
        """The hook implementations pluggy registered for ``plugin``, in its hooks' order."""
        return [
            (caller.name, impl.function, tuple(impl.argnames))
            for caller in self._manager.get_hookcallers(plugin) or []
            for impl in caller.get_hookimpls()
            if impl.plugin is plugin
        ]

    def _collect(
        self, hooks: list[_Hook], provider: str, version: str, builtin: bool
    ) -> tuple[list[Component], list[Lowering]]:
        staged: list[Component] = []
        lowerings: list[Lowering] = []
        for hook, function, argnames in hooks:
            if hook == LOWERING_HOOK:
                stage = partial(self._make_lowering, lowerings, provider)
                function(**{arg: stage for arg in argnames})
                continue

            def register(
                factory: Callable[..., Any],
                name: str | tuple[str, str] | None = None,
                aliases: Iterable[str] = (),
                *,
                _kind: Kind = _KIND_BY_HOOK[hook],
            ) -> None:
                staged.append(
                    self._make_component(_kind, factory, name, aliases, provider, version,
                                         builtin)
                )  # fmt: skip

            function(**{arg: register for arg in argnames})
        return staged, lowerings

    @staticmethod
    def _make_lowering(
        staged: list[Lowering],
        provider: str,
        function: Callable[..., Any],
        name: str | None = None,
        aliases: Iterable[str] = (),
    ) -> None:
        """``register(lowering, "provider:name")`` from the lowering hook: ``name`` is the
        qualified name of the component lowered (a bare name means the registering provider's
        own component); aliases are not taken."""
        label = f"ONNX lowering {getattr(function, '__qualname__', function)!r}"
        if not callable(function):
            raise PluginError(f"registered {label} is not callable")
        if not isinstance(name, str):
            raise PluginError(
                f"{label} must be registered with the qualified name of the component it "
                f"lowers, e.g. register(lower, 'plugnet:dense'); got {name!r}"
            )
        owner, _, short = name.rpartition(":")
        if not _CANONICAL_NAME.match(short) or (owner and not _ALIAS_NAME.match(owner)):
            raise PluginError(f"{label} names {name!r}, which is not a component's name")
        if tuple(aliases):
            raise PluginError(f"{label}: a lowering has no aliases (it is keyed by its target)")
        staged.append(Lowering(f"{owner or provider}:{short}", function, provider))

    def _check_lowerings(self, staged: list[Lowering], provider: str) -> None:
        """Refuse a target the same provider lowers twice."""
        targets = [lowering.target for lowering in staged]
        for target in targets:
            earlier = [low for low in self._lowerings.get(target, ()) if low.provider == provider]
            if targets.count(target) > 1 or earlier:
                raise PluginError(f"{provider!r} registers two ONNX lowerings for {target!r}")

    def onnx_lowering(self, component: Component) -> Lowering | None:
        """The lowering registered for ``component``: its own provider's if it has one, else
        the one other provider's; None when there is none. Two providers that both lower
        another's component are a PluginError."""
        self.load_deferred()
        found = self._lowerings.get(component.qualified_name, [])
        own = [low for low in found if low.provider == component.provider]
        if own or len(found) <= 1:
            chosen = own or found
            return chosen[0] if chosen else None
        raise PluginError(
            f"{component.qualified_name!r} has ONNX lowerings from several providers "
            f"({', '.join(repr(low.provider) for low in found)}) and none from its own; "
            f"keep one of them installed"
        )

    def _make_component(
        self,
        kind: Kind,
        factory: Callable[..., Any],
        name: str | tuple[str, str] | None,
        aliases: Iterable[str],
        provider: str,
        version: str,
        builtin: bool,
    ) -> Component:
        if not callable(factory):
            raise PluginError(f"registered {kind.name} {factory!r} is not callable")
        label = f"{kind.name} {getattr(factory, '__qualname__', factory)!r}"
        if isinstance(factory, type):
            missing = _missing_members(factory, kind)
            if missing:
                raise PluginError(
                    f"{label} does not satisfy the {kind.protocol.__name__} protocol: "
                    f"it lacks {', '.join(missing)}"
                )
        if kind.name == "fused_backward":
            pair = name if name is not None else getattr(factory, "pair", None)
            if not (
                isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
            ):
                raise PluginError(
                    f"{label} must be registered with name=(activation_name, error_name), "
                    f"got {pair!r}"
                )  # fmt: skip
            for part in pair:
                parse_string(part)
            return Component(kind.name, f"{pair[0]}+{pair[1]}", factory, provider, version,
                             builtin=builtin, pair=(pair[0], pair[1]))  # fmt: skip
        if name is None:
            name = getattr(factory, "name", None) or _snake_case(getattr(factory, "__name__", ""))
        if not isinstance(name, str) or not _CANONICAL_NAME.match(name):
            raise PluginError(
                f"{label} has the name {name!r}; canonical names are lower snake case "
                f"(letters, digits and '_', starting with a letter)"
            )
        alias_tuple = (aliases,) if isinstance(aliases, str) else tuple(aliases)
        for alias in alias_tuple:
            if not isinstance(alias, str) or not _ALIAS_NAME.match(alias):
                raise PluginError(f"{label} has the alias {alias!r}, which is not a valid name")
        return Component(kind.name, name, factory, provider, version, alias_tuple, builtin)

    def _check_new(self, staged: list[Component], provider: str) -> list[list[str]]:
        """Refuse a name the same provider gives twice (within this plugin or before it);
        returns each component's lookup keys, for :meth:`_commit`."""
        seen: dict[tuple[str, str], Component] = {}
        provider_key = normalize(provider)
        keys = [self._keys(component) for component in staged]
        for component, component_keys in zip(staged, keys, strict=True):
            for key in component_keys:
                owner = seen.get((component.kind, key)) or self._qualified[component.kind].get(
                    (provider_key, key)
                )
                if owner is not None:
                    raise PluginError(
                        f"{component.kind} name {key!r} is registered twice by {provider!r} "
                        f"({owner.name!r} and {component.name!r})"
                    )
                seen[(component.kind, key)] = component
        return keys

    def _commit(self, staged: list[Component], keys: list[list[str]]) -> list[str]:
        """Add the staged components, with their lookup keys, to the tables; returns the
        warnings to give about them."""
        notes: list[str] = []
        for component, component_keys in zip(staged, keys, strict=True):
            kind = component.kind
            self._components[kind].append(component)
            if isinstance(component.factory, type):
                self._by_type.setdefault(component.factory, component)
            provider_key = normalize(component.provider)
            for key in component_keys:
                self._qualified[kind][(provider_key, key)] = component
                if component.pair is not None:
                    continue
                holders = self._short[kind].setdefault(key, [])
                reserved = next((c for c in holders if c.builtin), None)
                if reserved is not None and not component.builtin:
                    notes.append(
                        f"plugin {component.provider!r} registers the {kind.replace('_', ' ')} "
                        f"name {key!r}, which is reserved by plugnet's built-in "
                        f"{reserved.name!r}. The built-in keeps the short name; theirs is "
                        f"reachable only as {component.provider + ':' + component.name!r}."
                    )
                holders.append(component)
        return notes

    @staticmethod
    def _keys(component: Component) -> list[str]:
        return list(dict.fromkeys(normalize(n) for n in (component.name, *component.aliases)))

    # -- lookup -------------------------------------------------------------------------------

    def components(self, kind: str) -> list[Component]:
        """Every registered component of ``kind``, in registration order."""
        self.load_deferred()
        return list(self._components[_kind(kind).name])

    def lookup(self, kind: str, name: str) -> Component:
        """The component that ``[provider:]name`` refers to (no arguments allowed here)."""
        parsed = parse_string(name)
        if parsed.kwargs:
            raise SpecError(f"{name!r} carries arguments; lookup takes a bare name.")
        return self._lookup(_kind(kind).name, parsed)

    def _lookup(self, kind: str, parsed: ParsedSpec) -> Component:
        key = normalize(parsed.name)
        if self._deferred is not None and not self._builtin_answers(kind, parsed.provider, key):
            self.load_deferred()
        if parsed.provider is not None:
            component = self._qualified[kind].get((normalize(parsed.provider), key))
            if component is None:
                own = [c for c in self._components[kind]
                       if normalize(c.provider) == normalize(parsed.provider)]  # fmt: skip
                detail = (
                    f"provider {parsed.provider!r} registers no such {kind.replace('_', ' ')}"
                    if own
                    else self._missing_provider(parsed.provider, kind)
                )
                self._raise_unknown(kind, parsed.display, key, detail)
            return component
        holders = self._short[kind].get(key, [])
        if not holders:
            self._raise_unknown(kind, parsed.name, key, "")
        builtin = next((c for c in holders if c.builtin), None)
        if builtin is not None:
            return builtin
        distinct = list(dict.fromkeys(holders))
        if len(distinct) > 1:
            raise AmbiguousComponentError(kind, parsed.name, [c.qualified_name for c in distinct])
        return distinct[0]

    def _builtin_answers(self, kind: str, provider: str | None, key: str) -> bool:
        if provider is not None:
            found = self._qualified[kind].get((normalize(provider), key))
            return found is not None and found.builtin
        return any(c.builtin for c in self._short[kind].get(key, ()))

    def _missing_provider(self, name: str, kind: str) -> str:
        """Why a provider has no components of ``kind``: it is not installed, failed, is
        disabled, or registers none."""
        record = next((p for p in self._providers if normalize(p.name) == normalize(name)), None)
        if record is None:
            return f"no installed provider is named {name!r}"
        if record.status == "failed":
            return f"provider {record.name!r} failed to load"
        if record.status == "disabled":
            switches = "PLUGNET_PLUGINS or PLUGNET_DISABLE_PLUGINS"
            return f"provider {record.name!r} is disabled by {switches}"
        return f"provider {record.name!r} registers no such {kind.replace('_', ' ')}"

    def _raise_unknown(self, kind: str, name: str, key: str, detail: str) -> NoReturn:
        import difflib

        names = {k: holders[0].name for k, holders in self._short[kind].items()}
        close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.6)
        suggestions = list(dict.fromkeys(names[k] for k in close))
        if not detail:
            elsewhere = [k for k in KINDS if k != kind and key in self._short[k]]
            if elsewhere:
                detail = f"{name!r} is a registered {elsewhere[0].replace('_', ' ')}"
        available = self.available(kind)
        # A name may be missing because the plugin that registers it broke: say which ones did.
        failed = {
            p.name: _first_line(p.error or "") for p in self._providers if p.status == "failed"
        }
        raise UnknownComponentError(
            kind, name, suggestions=suggestions, available=available, detail=detail, failed=failed
        )

    def available(self, kind: str) -> list[str]:
        """Sorted names of the components of ``kind``: short where the short name reaches it,
        qualified where it does not."""
        kind = _kind(kind).name
        self.load_deferred()
        names = []
        for component in self._components[kind]:
            if component.pair is not None:
                names.append(component.name)
                continue
            holders = self._short[kind].get(normalize(component.name), [])
            reaches = holders and (
                component.builtin or (not any(c.builtin for c in holders) and len(holders) == 1)
            )
            names.append(component.name if reaches else component.qualified_name)
        return sorted(names)

    def resolve(self, kind: str, spec: Any) -> Any:
        """An instance of ``kind`` from a spec: a string, a mapping or an instance."""
        info = _kind(kind)
        if isinstance(spec, str):
            parsed = parse_string(spec)
        elif isinstance(spec, Mapping):
            parsed = parse_mapping(spec)
        elif isinstance(spec, type):
            raise SpecError(
                f"got the class {spec.__name__}; pass an instance ({spec.__name__}()) or a name."
            )
        else:
            missing = _missing_members(spec, info)
            if missing:
                article = "an" if kind[0] in "aeiou" else "a"
                raise SpecError(
                    f"expected {article} {kind.replace('_', ' ')} name, a dict spec or an "
                    f"instance that satisfies {info.protocol.__name__}; got {preview(spec)}, "
                    f"which lacks {', '.join(missing)}."
                )
            return spec
        component = self._lookup(info.name, parsed)
        instance = component.create(self, **parsed.kwargs)
        self._by_type.setdefault(type(instance), component)
        return instance

    def component_of(self, instance: object) -> Component | None:
        """The registered component an instance was built from, if any."""
        if type(instance) not in self._by_type:
            self.load_deferred()
        return self._by_type.get(type(instance))

    def spec_of(self, instance: object) -> dict[str, Any]:
        """A JSON-safe dict spec that rebuilds ``instance``: its qualified name and config."""
        component = self.component_of(instance)
        if component is None:
            raise ValueError(
                f"{instance!r} is not an instance of a registered component, so it cannot be "
                f"described by name; register its plugin (plugnet.register_plugin) first."
            )
        return {"name": component.qualified_name, **instance.get_config()}  # type: ignore[attr-defined]

    def fused_backward(self, activation: Any, error: Any) -> Any | None:
        """The fused backward registered for (activation, error), or None."""
        act = self._identify("activation", activation)
        err = self._identify("error_function", error)
        if act is None or err is None:
            return None
        if not (act.builtin and err.builtin):
            self.load_deferred()
        matches = []
        for component in self._components["fused_backward"]:
            assert component.pair is not None
            try:
                pair = (self.lookup("activation", component.pair[0]),
                        self.lookup("error_function", component.pair[1]))  # fmt: skip
            except LookupError:
                continue
            if pair == (act, err):
                matches.append(component)
        if not matches:
            return None
        builtin = [c for c in matches if c.builtin]
        if builtin:
            return builtin[0].create(self)
        if len(matches) > 1:
            raise AmbiguousComponentError(
                "fused_backward", f"{act.name}+{err.name}", [c.qualified_name for c in matches]
            )
        return matches[0].create(self)

    def _identify(self, kind: str, spec: Any) -> Component | None:
        if isinstance(spec, str):
            return self._lookup(kind, parse_string(spec))
        if isinstance(spec, Mapping):
            return self._lookup(kind, parse_mapping(spec))
        return self.component_of(spec)
