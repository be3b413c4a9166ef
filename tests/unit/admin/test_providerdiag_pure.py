"""The provider diagnostics service without a network (gateway/admin/providerdiag.py): what each
type offers, invalid input refused with the field named, invalid configs as results, the rate
limit per admin."""

from __future__ import annotations

import pytest

from gateway.admin import providerdiag
from gateway.admin.errors import AdminError
from gateway.storage.state.memory import MemoryStore


class _Audit:
    def __init__(self):
        self.records = []

    def record(self, event, outcome, **detail):
        self.records.append((event, outcome, detail))


def _service(store=None, clock=lambda: 1000.0):
    return providerdiag.ProviderDiagnostics(
        saved=lambda pid: None,
        canonical=lambda name: name,
        evaluate=lambda identity: None,  # type: ignore[arg-type,return-value]
        redirect_uri=lambda pid: f"https://gw.test/sso/callback/{pid}",
        audit=_Audit(),  # type: ignore[arg-type]
        store=store,
        clock=clock,
    )


def test_what_each_type_offers():
    assert providerdiag.offered_actions("ldap") == ["connection", "search", "groups"]
    assert providerdiag.offered_actions("oidc") == ["connection", "discovery"]
    assert providerdiag.offered_actions("local") == []
    assert providerdiag.offered_actions("kerberos") == []


@pytest.mark.parametrize(
    "provider, action, username, status, field",
    [
        ({"id": "x"}, "connection", None, 404, "provider"),
        ("text", "connection", None, 400, "provider"),
        ({}, "nope", None, 400, "action"),
        ({}, "search", None, 400, "username"),
        ({}, "groups", "x" * 257, 400, "username"),
    ],
)
def test_bad_input_is_refused_naming_the_field(provider, action, username, status, field):
    with pytest.raises(AdminError) as refused:
        _service().diagnose(provider, action, username, actor="admin")
    assert (refused.value.status, refused.value.field) == (status, field)


def test_an_invalid_config_is_a_result_and_audited_as_failed():
    service = _service()
    result = service.diagnose({"id": "Bad Id", "type": "ldap"}, "connection", actor="admin")
    assert result["ok"] is False and result["error"] == "invalid_config"
    assert {p["field"] for p in result["problems"]} >= {"provider.id", "provider.servers", "provider.user"}
    assert service._audit.records[-1][:2] == ("provider_diagnostic", "failed")


def test_the_rate_is_limited_per_admin_and_minute():
    store = MemoryStore()
    service = _service(store, clock=lambda: 1030.0)
    for _ in range(providerdiag.RATE_PER_MINUTE):
        service.diagnose({"type": "nope"}, "connection", actor="admin")
    with pytest.raises(AdminError) as refused:
        service.diagnose({"type": "nope"}, "connection", actor="admin")
    assert refused.value.status == 429 and refused.value.retry_after == 50
    service.diagnose({"type": "nope"}, "connection", actor="someone-else")
