"""Every gateway configuration shown in README.md and docs/**/*.md passes ``gateway check-config``.

Which ```yaml blocks are gateway configurations is decided by their top-level keys:

* a mapping whose keys are all top-level keys of the gateway's YAML file (``providers``,
  ``mapping``, ``sso``, ...) is a whole configuration file;
* a list whose items are all mappings with an ``id`` and a ``type`` is a fragment of the
  ``providers:`` list, checked as ``providers: <block>``.

Anything else (Prometheus alert rules, Kubernetes objects) is not a gateway configuration and is
left alone. A block that is not valid YAML fails. Each configuration is written to a file and
checked by the real ``gateway check-config`` command, with every variable it names (``${VAR}``, and
``password_env: VAR``) set to a dummy value and the example certificate paths
(``/etc/gateway/*.pem``) pointing at a placeholder file: examples name their CA files there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gateway.cli import main
from tests.support.paths import REPO_ROOT

TOP_LEVEL_KEYS = {
    "usernames",
    "providers",
    "tokens",
    "throttle",
    "password_policy",
    "credential_cache",
    "mfa",
    "admin",
    "sso",
    "mapping_source",
    "provider_source",
    "mapping",
    "email",
    "self_service",
    "registry",
}
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.DOTALL | re.MULTILINE)
EXAMPLE_CERTIFICATE = re.compile(r"/etc/gateway/[\w.-]+\.pem")


def _markdown_files() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]


def _gateway_configs() -> list[tuple[str, str]]:
    """(where, YAML text) of every block that is a gateway configuration, fragments completed."""
    found = []
    for path in _markdown_files():
        text = path.read_text("utf-8")
        for match in YAML_BLOCK.finditer(text):
            block = match.group(1)
            where = f"{path.relative_to(REPO_ROOT)}:{text.count(chr(10), 0, match.start()) + 2}"
            data = yaml.safe_load(block)
            if isinstance(data, dict) and data and set(data) <= TOP_LEVEL_KEYS:
                found.append((where, block))
            elif isinstance(data, list) and data and all(_is_provider(item) for item in data):
                found.append((where, "providers:\n" + block))
    return found


def _is_provider(item: object) -> bool:
    return isinstance(item, dict) and "id" in item and "type" in item


CONFIGS = _gateway_configs()


def test_the_docs_show_gateway_configurations():
    """The selection above finds the examples (a change of markers would otherwise check nothing)."""
    pages = {where.split(":")[0] for where, _ in CONFIGS}
    assert {"README.md", "docs/ldap.md", "docs/oidc.md", "docs/mapping.md", "docs/configuration.md"} <= pages
    assert "docs/registry-sync.md" in pages  # registry: blocks are checked too
    assert len(CONFIGS) >= 11


@pytest.mark.parametrize(("where", "block"), CONFIGS, ids=[where for where, _ in CONFIGS])
def test_example_passes_check_config(where, block, tmp_path):
    certificate = tmp_path / "ca.pem"
    certificate.write_text("placeholder")
    config = tmp_path / "gateway.yaml"
    config.write_text(EXAMPLE_CERTIFICATE.sub(str(certificate), block), "utf-8")
    named = re.findall(r"\$\{(\w+)", block) + re.findall(r"password_env:\s*(\w+)", block)
    environment = {name: "x-dummy-secret-for-the-docs-test" for name in named}
    environment.update(
        GATEWAY_CONFIG=str(config),
        GATEWAY_INSTANCE_DIR=str(tmp_path / "instance"),
        GATEWAY_DOTENV=str(tmp_path / "no.env"),
        GATEWAY_DATABASE_URL="",
        GATEWAY_REDIS_URL="",
        GATEWAY_KEY_ENCRYPTION_KEY="",
        GATEWAY_PUBLIC_URL="https://auth.example.com",
    )
    result = CliRunner().invoke(main, ["check-config"], env=environment)
    assert result.exit_code == 0, f"{where}: {result.output}"
    assert "configuration OK" in result.output
