"""Presenting the conformance suite for ``plugnet check``: a table per kind, or JSON."""

from __future__ import annotations

from collections.abc import Sequence

from plugnet.testing.checks import CHECKS
from plugnet.testing.conformance import Result, checks_for, run, select_components


def table(results: Sequence[Result]) -> str:
    """One table per kind: a row per component (and case), a column per check holding ``ok``,
    ``FAIL`` or ``-`` (does not apply), then the worst gradient error; the failures' messages
    follow, then a summary line."""
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
    components = {(r.check.kind, r.check.label) for r in results}
    lines.append(
        f"{len(results)} checks of {len(components)} components: "
        f"{len(results) - len(failed)} passed, {len(failed)} failed"
    )
    return "\n".join(lines)


def check(targets: Sequence[str] = (), *, kind: str | None = None, as_json: bool = False) -> int:
    """Run the conformance suite on the installed components ``targets`` names (providers or
    component names; all when empty), print a table or JSON, and return the exit status: 1 when
    a check fails, else 0."""
    import json

    results = run(checks_for(select_components(targets, kind=kind)))
    failed = sum(not r.passed for r in results)
    if as_json:
        report = {
            "passed": len(results) - failed,
            "failed": failed,
            "results": [r.as_dict() for r in results],
        }
        print(json.dumps(report, indent=2))
    else:
        print(table(results))
    return 1 if failed else 0
