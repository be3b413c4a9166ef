"""Role and quota mapping: turns an Identity into the roles, quota and metadata of the answer.

Rules may also grant Registry organizations (:mod:`gateway.mapping.organizations`).
``parse_policy`` validates the ``mapping:`` config section, ``evaluate`` applies it to one
identity (pure, never raises), ``format_explanation`` renders the result for a CLI. The
combination rules are documented in :mod:`gateway.mapping.engine`.
"""

from .engine import Evaluation, RuleTrace, evaluate, validate_overrides
from .explain import format_explanation
from .memo import EvaluationMemo
from .organizations import PERMISSION_LEVELS, OrganizationGrant, is_organization_slug, permission_name
from .policy import (
    RESERVED_KEYS,
    Check,
    Condition,
    Policy,
    Rule,
    is_metadata_value,
    is_role_name,
    parse_policy,
)
from .quota import UNLIMITED, QuotaError, format_quota, is_quota, parse_quota, parse_quota_text

__all__ = [
    "RESERVED_KEYS",
    "UNLIMITED",
    "Check",
    "Condition",
    "Evaluation",
    "OrganizationGrant",
    "PERMISSION_LEVELS",
    "QuotaError",
    "EvaluationMemo",
    "Policy",
    "Rule",
    "RuleTrace",
    "evaluate",
    "format_explanation",
    "format_quota",
    "is_metadata_value",
    "is_organization_slug",
    "is_quota",
    "is_role_name",
    "parse_policy",
    "parse_quota",
    "parse_quota_text",
    "permission_name",
    "validate_overrides",
]
