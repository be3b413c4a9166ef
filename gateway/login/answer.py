"""The one place the Registry's answer is built; it enforces the contract's types (§2, §4).

* ``username``: a string, the canonical name;
* ``roles``: always present, a JSON array of strings (an empty array removes all roles);
* ``maxStorageMB``: present only for a finite quota, and then a JSON integer — the Registry
  ignores floats, strings and booleans, which would silently mean "unlimited";
* further keys: only what the mapping exposed, scalar values, never the reserved names.
"""

from __future__ import annotations

from typing import Any

from gateway.mapping import RESERVED_KEYS as RESERVED
from gateway.mapping import Evaluation
from gateway.mapping.quota import MAX_QUOTA


class ContractViolation(AssertionError):
    """The gateway was about to send the Registry something it would mishandle."""


def build_answer(username: str, evaluation: Evaluation) -> dict[str, Any]:
    """The JSON object the Registry receives for a granted login."""
    if evaluation.denied:
        raise ContractViolation("a denied evaluation has no answer")
    if not isinstance(username, str) or not username:
        raise ContractViolation("username must be a non-empty string")
    if isinstance(evaluation.roles, (str, bytes)):  # list("admin") would be five roles
        raise ContractViolation("roles must be a sequence of strings")
    roles = list(evaluation.roles)
    if not all(isinstance(role, str) and role for role in roles):
        raise ContractViolation("roles must be non-empty strings")
    answer: dict[str, Any] = {"username": username, "roles": roles}
    quota = evaluation.max_storage_mb
    if quota is not None:
        # The Registry boxes the quota as a .NET long.
        if type(quota) is not int or not 0 <= quota <= MAX_QUOTA:
            raise ContractViolation("maxStorageMB must be a non-negative integer (a .NET long)")
        answer["maxStorageMB"] = quota
    for key, value in evaluation.metadata.items():
        if key in RESERVED or not isinstance(key, str):
            raise ContractViolation(f"metadata key {key!r} is reserved")
        if not isinstance(value, (str, int, bool)) or isinstance(value, float):
            raise ContractViolation(f"metadata {key!r} must be a string, integer or boolean")
        answer[key] = value
    return answer
