"""Human-readable explanation of an :class:`~gateway.mapping.engine.Evaluation`, for the CLI."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .engine import Evaluation, RuleTrace
from .organizations import describe_organizations


def format_explanation(evaluation: Evaluation, answer: Mapping[str, Any] | None) -> str:
    """Plain text saying whether the login is allowed, why each rule did or did not apply,
    where the roles, quota, metadata and organizations came from, and the ``answer`` sent to the
    Registry (None when the login is refused: shown as ``None``).

    Never raises; the text ends with a newline.
    """
    lines: list[str] = []
    if evaluation.denied:
        lines.append(f"Result: DENIED ({evaluation.deny_reason})")
    else:
        lines.append("Result: allowed")

    by_kind: dict[str, list[RuleTrace]] = {}
    for step in evaluation.trace:
        by_kind.setdefault(step.kind, []).append(step)

    for step in by_kind.get("default", []):
        lines.append(f"Defaults: {step.grants}")
    for step in by_kind.get("expose", []):
        lines.append(f"Exposed identity fields: {step.why}")

    rules = [t for t in evaluation.trace if t.kind in ("grant", "require")]
    lines.append("Rules (in order):")
    if not rules:
        lines.append("  (none)")
    width = max((len(t.name) for t in rules), default=0)
    for step in rules:
        status = "matched" if step.matched else "no match"
        if step.kind == "require" and not step.matched:
            status = "FAILED"
        line = f"  [{step.kind:<7}] {step.name:<{width}}  {status:<8}  {step.why}"
        if step.kind == "grant" and step.matched:
            line += f"  -> {step.grants}"
        lines.append(line)

    lines.append("Per-user overrides:")
    for step in by_kind.get("override", []):
        label = "" if step.name == "overrides" else f"{step.name}: "
        lines.append(f"  {label}{step.why}")

    lines.append("Outcome:")
    lines.append(f"  roles: {', '.join(evaluation.roles) or '(none)'}")
    quota_why = next((t.why for t in by_kind.get("quota", [])), "")
    lines.append(f"  maxStorageMB: {quota_why}")
    if evaluation.metadata:
        lines.append("  metadata: " + ", ".join(f"{k}={v!r}" for k, v in evaluation.metadata.items()))
    else:
        lines.append("  metadata: (none)")
    lines.append(f"  organizations: {describe_organizations(evaluation.organizations)} (pushed separately)")

    lines.append("Answer:")
    if answer is None:  # the login is refused: nothing is sent
        body = "None"
    else:
        try:
            body = json.dumps(dict(answer), indent=2, ensure_ascii=False, default=repr)
        except Exception:
            body = repr(answer)
    lines.extend("  " + line for line in body.splitlines())
    return "\n".join(lines) + "\n"
