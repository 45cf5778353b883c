"""Presenting the conformance suite for ``plugnet check``: a table per kind, or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plugnet.testing.checks import CHECKS, lowering
from plugnet.testing.conformance import Result, checks_for, run, select_components

if TYPE_CHECKING:
    from plugnet._registry import Component


def not_run(components: Sequence[Component]) -> list[dict[str, Any]]:
    """The checks that apply to ``components`` but cannot run here: ``onnx`` for those with an
    ONNX lowering where onnx or onnxruntime is not installed, each with the reason."""
    reason = lowering.missing_runtime()
    if reason is None:
        return []
    return [
        {
            "kind": c.kind,
            "component": c.name,
            "provider": c.provider,
            "check": "onnx",
            "reason": reason,
        }
        for c in components
        if lowering.has_lowering(c)
    ]


def table(results: Sequence[Result], skipped: Sequence[dict[str, Any]] = ()) -> str:
    """One table per kind: a row per component (and case), a column per check holding ``ok``,
    ``FAIL`` or ``-`` (does not apply, or cannot run: ``skipped``, from :func:`not_run`, says
    which and why), then the worst error; the failures' messages follow, then the checks not
    run, then a summary line."""
    lines: list[str] = []
    for kind, names in CHECKS.items():
        rows: dict[str, dict[str, Result]] = {}
        for result in results:
            if result.check.kind == kind:
                label = result.check.label
                if result.check.component.provider != "plugnet":
                    label = f"{result.check.component.provider}:{label}"
                rows.setdefault(label, {})[result.check.check] = result
        if not rows:
            continue
        header = [kind.replace("_", " "), *names, "worst error"]
        body = []
        for label, by_check in rows.items():
            cells = [label]
            for name in names:
                outcome = by_check.get(name)
                cells.append("-" if outcome is None else "ok" if outcome.passed else "FAIL")
            errors = [r.worst_error for r in by_check.values() if r.worst_error is not None]
            cells.append(f"{max(errors):.1e}" if errors else "")
            body.append(cells)
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        for row in [header, *body]:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        lines.append("")
    failed = [r for r in results if not r.passed]
    if failed:
        lines.append("failures:")
        lines += [f"  {r.check.id}: {r.message}" for r in failed]
        lines.append("")
    reasons: dict[tuple[str, str], list[str]] = {}
    for entry in skipped:
        reasons.setdefault((entry["check"], entry["reason"]), []).append(entry["component"])
    for (check_name, reason), labels in reasons.items():
        listed = ", ".join(labels)
        lines.append(f"not run: the {check_name} check of {len(labels)} component(s) ({listed})")
        lines.append(f"  because {reason}")
        lines.append("")
    components = {(r.check.kind, r.check.label) for r in results}
    lines.append(
        f"{len(results)} checks of {len(components)} components: "
        f"{len(results) - len(failed)} passed, {len(failed)} failed"
    )
    return "\n".join(lines)


def check(targets: Sequence[str] = (), *, kind: str | None = None, as_json: bool = False) -> int:
    """Run the conformance suite on the installed components ``targets`` names (providers or
    component names; all when empty), print a table or JSON, and return the exit status: 1 when
    a check fails, else 0 (checks that cannot run here, such as ``onnx`` without the onnx
    extra, are listed as not run and fail nothing)."""
    import json

    components = select_components(targets, kind=kind)
    results = run(checks_for(components))
    skipped = not_run(components)
    failed = sum(not r.passed for r in results)
    if as_json:
        report = {
            "passed": len(results) - failed,
            "failed": failed,
            "results": [r.as_dict() for r in results],
            "not_run": skipped,
        }
        print(json.dumps(report, indent=2))
    else:
        print(table(results, skipped))
    return 1 if failed else 0
