"""Unit tests (no sockets): .env.example lists every environment variable the code reads."""

import re

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


def test_every_gateway_variable_is_documented():
    used = set()
    for path in list((ROOT / "gateway").rglob("*.py")) + list((ROOT / "providers").rglob("*.py")):
        used |= set(re.findall(r"\bGATEWAY_[A-Z_]+\b", path.read_text()))
    documented = set(re.findall(r"^(GATEWAY_[A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used - documented == set()
    assert documented - used == set()


def test_every_gateway_variable_in_the_deployment_kit_is_documented():
    """deploy/ (compose, Kubernetes, systemd, Dockerfile, nginx) sets only variables the
    gateway documents, so a typo there cannot silently fall back to a default."""
    named = set()
    for path in (ROOT / "deploy").rglob("*"):
        if path.is_file():
            named |= set(re.findall(r"\b(?:GATEWAY_[A-Z_]+|PROMETHEUS_MULTIPROC_DIR)\b", path.read_text()))
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    named -= {"GATEWAY_EXTRAS"}  # deploy/Dockerfile's build argument, not a gateway setting
    assert named - documented == set()


def test_copying_the_example_changes_no_mode_silently():
    """`cp .env.example .env` keeps the built-in defaults: no configuration file that would turn
    the mapping rules or the providers to file mode (those made in the admin UI ignored) without
    a word."""
    from gateway.config.file import load_config

    values = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / ".env.example").read_text(), re.M))
    config_path = values["GATEWAY_CONFIG"]
    config = load_config(ROOT / config_path if config_path else None, {})
    assert config.mapping_source == "database"
    assert config.source == "defaults"
    assert config.provider_source == "database"
    # The example file it points to sets both modes to file: the comment says so, for each.
    comment = (ROOT / ".env.example").read_text().split("GATEWAY_CONFIG=")[0]
    assert "`mapping_source: file`" in comment and "`provider_source: file`" in comment
