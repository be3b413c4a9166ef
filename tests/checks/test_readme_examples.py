"""The README's LDAP, Active Directory and OIDC examples are valid configuration, as written."""

from __future__ import annotations

import re

import pytest
import yaml

from gateway.config.file import expand_variables, parse_config
from providers.ldap.config import ldap_settings
from tests.support.paths import REPO_ROOT

README = REPO_ROOT / "README.md"


def _ldap_examples() -> list[str]:
    text = README.read_text("utf-8")
    section = text[
        text.index("### LDAP and Active Directory") : text.index("### Single sign-on with OpenID Connect")
    ]
    return re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)


def test_the_readme_has_the_ldap_examples():
    assert len(_ldap_examples()) >= 4


@pytest.mark.parametrize("index", range(4))
def test_readme_ldap_example_is_valid(index, tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("placeholder")
    block = re.sub(r"/etc/gateway/[\w.-]+\.pem", str(ca_file), _ldap_examples()[index])
    if block.lstrip().startswith("- id:"):
        block = "providers:\n" + block
    data = expand_variables(
        yaml.safe_load(block), "README", {"LDAP_BIND_PASSWORD": "x-secret", "AD_BIND_PASSWORD": "x-secret"}
    )
    config = parse_config(data, "README")
    for provider in config.providers:
        if provider.type == "ldap":
            assert ldap_settings(dict(provider.options)).servers


def _oidc_examples() -> list[str]:
    text = README.read_text("utf-8")
    section = text[text.index("### Single sign-on with OpenID Connect") : text.index("## Usernames")]
    return re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)


@pytest.mark.parametrize("index", range(2))
def test_readme_oidc_example_is_valid(index):
    from providers.oidc.config import oidc_settings

    block = _oidc_examples()[index]
    data = expand_variables(
        yaml.safe_load(block),
        "README",
        {"KEYCLOAK_CLIENT_SECRET": "x-secret", "ENTRA_CLIENT_SECRET": "x-secret"},
    )
    config = parse_config(data, "README")
    assert config.sso.enabled
    assert [oidc_settings(dict(p.options)).issuer for p in config.providers if p.type == "oidc"]
