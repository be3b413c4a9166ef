"""Pure table tests for gateway.mapping.quota: quotas written with units, read as integer MB."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.errors import ConfigError
from gateway.mapping import (
    QuotaError,
    format_quota,
    parse_policy,
    parse_quota,
    parse_quota_text,
    validate_overrides,
)
from gateway.mapping.quota import MAX_QUOTA

EVERYONE = {"name": "a", "match": {"all": True}}

READS = [
    (0, 0),
    (5120, 5120),
    (MAX_QUOTA, MAX_QUOTA),
    ("unlimited", "unlimited"),
    ("Unlimited", "unlimited"),
    (" UNLIMITED ", "unlimited"),
    ("500 MB", 500),
    ("500mb", 500),
    ("50GB", 50 * 1024),
    ("50 gb", 50 * 1024),
    ("5 GB", 5120),
    ("2 TB", 2 * 1024 * 1024),
    ("2tb", 2 * 1024 * 1024),
    ("1.5 GB", 1536),
    ("0.5 TB", 512 * 1024),
    ("0 GB", 0),
    ("  7  Gb  ", 7 * 1024),
]


@pytest.mark.parametrize("value, megabytes", READS, ids=[repr(v) for v, _ in READS])
def test_parse_quota_reads_integers_units_and_unlimited(value: Any, megabytes: Any) -> None:
    assert parse_quota(value) == megabytes
    assert type(parse_quota(value)) is type(megabytes)


REFUSED = [
    (-1, "cannot be negative"),
    ("-5 GB", "cannot be negative"),
    ("1.5 MB", "whole number of MB"),
    ("0.3 GB", "whole number of MB"),
    ("5 PB", "unit MB, GB or TB"),
    ("5 GiB", "unit MB, GB or TB"),
    ("5", "number in quotes"),
    ("GB", "must be a non-negative integer of MB"),
    ("5 G B", "must be a non-negative integer of MB"),
    ("1e3 MB", "must be a non-negative integer of MB"),
    ("unlimted", "must be a non-negative integer of MB"),
    ("", "must be a non-negative integer of MB"),
    ("５ GB", "must be a non-negative integer of MB"),
    (2**63, "at most"),
    (f"{MAX_QUOTA + 1} MB", "at most"),
    ("9007199254740992 TB", "at most"),
    ("9" * 100 + " MB", "must be a non-negative integer of MB"),
    (True, "must be a non-negative integer of MB"),
    (1.0, "must be a non-negative integer of MB"),
    (None, "must be a non-negative integer of MB"),
]


@pytest.mark.parametrize("value, message", REFUSED, ids=[repr(v)[:30] for v, _ in REFUSED])
def test_parse_quota_refuses_with_a_clear_reason(value: Any, message: str) -> None:
    with pytest.raises(QuotaError) as err:
        parse_quota(value)
    assert message in str(err.value)
    assert str(err.value).startswith("must")


def test_form_text_reads_bare_digits_as_megabytes() -> None:
    assert parse_quota_text(" 5120 ") == 5120
    assert parse_quota_text("5 GB") == 5120
    assert parse_quota_text("unlimited") == "unlimited"
    with pytest.raises(QuotaError, match="at most"):
        parse_quota_text("9" * 40)


SHOWN = [(0, "0 MB"), (500, "500 MB"), (1536, "1536 MB"), (5120, "5 GB"), (2 * 1024**2, "2 TB")]
SHOWN += [(1025 * 1024, "1025 GB"), ("unlimited", "unlimited")]


@pytest.mark.parametrize("quota, text", SHOWN, ids=[t for _, t in SHOWN])
def test_format_quota_uses_the_largest_exact_unit_and_reads_back(quota: Any, text: str) -> None:
    assert format_quota(quota) == text
    assert parse_quota(text) == quota


@pytest.mark.parametrize(
    "key, data",
    [
        ("mapping.default_maxStorageMB", {"default_maxStorageMB": "5 PB"}),
        (
            "mapping.rules[0].maxStorageMB",
            {"rules": [dict(EVERYONE, maxStorageMB="1.5 MB")]},
        ),
    ],
)
def test_policy_errors_name_the_key(key: str, data: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_policy(data, "c.yaml")
    assert err.value.key == key


def test_policy_stores_integer_megabytes() -> None:
    policy = parse_policy(
        {
            "default_maxStorageMB": "50 GB",
            "rules": [{"name": "a", "match": {"all": True}, "maxStorageMB": "2 TB"}],
        },
        "c.yaml",
    )
    assert policy.default_max_storage_mb == 51200
    assert policy.rules[0].max_storage_mb == 2 * 1024 * 1024


def test_overrides_store_integer_megabytes_and_name_the_key() -> None:
    assert validate_overrides({"maxStorageMB": "1.5 GB"}) == {"maxStorageMB": 1536}
    assert validate_overrides({"maxStorageMB": "UNLIMITED"}) == {"maxStorageMB": "unlimited"}
    with pytest.raises(ValueError, match="^maxStorageMB: must"):
        validate_overrides({"maxStorageMB": "5 XB"})
