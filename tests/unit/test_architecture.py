"""Unit tests (no sockets): structural rules of the code base and its schema."""

from __future__ import annotations

import ast

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.storage.db import Database
from providers.sql import Base
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


def test_providers_never_import_flask_or_gateway():
    offenders = []
    for path in (ROOT / "providers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if name.split(".")[0] in ("flask", "gateway", "werkzeug")
            ]
    assert offenders == []


def test_mapping_engine_is_pure():
    """No Flask, no I/O, no clock in the mapping engine (architecture.md); ``store.py``, where
    the policy is kept, is the package's one edge with the database."""
    forbidden = {"flask", "time", "datetime", "os", "socket", "requests", "sqlalchemy", "logging"}
    for path in (ROOT / "gateway" / "mapping").glob("*.py"):
        if path.name == "store.py":
            continue
        tree = ast.parse(path.read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        imported |= {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not imported & forbidden, (path.name, imported & forbidden)


def test_migrations_produce_exactly_the_models(tmp_path):
    database = Database(f"sqlite:///{tmp_path}/m.db")
    database.upgrade()
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


# The OIDC browser flow and IdP-token routing still name the OIDC provider class: they are the
# next to move behind capabilities (a browser-login and a token-routing capability in base.py).
_PROVIDER_CLASS_IMPORTS_LEFT = {"gateway/sso/service.py", "gateway/login/idptokens.py"}


def test_gateway_knows_providers_only_through_catalog_and_capabilities():
    """Outside providers/, no provider class is imported by name: the gateway builds providers
    with providers.catalog and uses them through the capabilities of providers.base."""
    classes = {"LdapProvider", "OidcProvider", "LocalProvider"}
    offenders = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("providers"):
                offenders += [f"{where}: {alias.name}" for alias in node.names if alias.name in classes]
    assert [o for o in offenders if o.split(":")[0] not in _PROVIDER_CLASS_IMPORTS_LEFT] == []
