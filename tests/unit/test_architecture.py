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


def _imports(path):
    """``(module, names)`` of every import in ``path``: names imported from it, or () for a
    plain ``import module``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, tuple(alias.name for alias in node.names)


# Outside providers/, the code that is no provider's user may still reach into one type's
# package here, and only here. The local type keeps its users in the gateway's own database,
# and managing them (the admin API and UI, the CLI, bootstrap, the Registry importer) is the
# gateway's administration, not a login capability: those modules work on the user store
# itself. A new exception needs a reason here.
_TYPE_MODULES_OUTSIDE_PROVIDERS = {
    "providers.local.users": "the local user store the admin API/UI, CLI and bootstrap manage",
    "providers.local.policy": "the password policy that store enforces, set by `password_policy:`",
    "providers.local.models": "its tables: one metadata for Alembic; the group admin and importer use them",
    "providers.local.aspnet": "the Registry importer reads the Registry's ASP.NET Identity hashes",
    "providers.local.provider": "the Registry importer gives imported users their local subject",
}


def test_gateway_knows_providers_only_through_catalog_and_capabilities():
    """Outside providers/, no provider class is imported by name, and no module of a provider
    type's package (providers.local/ldap/oidc...) is imported but the listed user-store ones:
    the gateway builds providers with providers.catalog and uses them through the
    capabilities of providers.base (and the shared providers.schema, providers.jws, ...)."""
    from providers.catalog import CATALOG

    classes = {"LdapProvider", "OidcProvider", "LocalProvider"}
    packages = tuple(f"providers.{kind}" for kind in CATALOG)
    class_imports, package_imports = [], []
    for folder in ("gateway", "deploy", "benchmarks", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            for module, names in _imports(path):
                if not module.startswith("providers"):
                    continue
                class_imports += [f"{where}: {name}" for name in names if name in classes]
                # ``from providers.local import models`` imports the module providers.local.models.
                targets = [f"{module}.{name}" for name in names] if module in packages else [module]
                package_imports += [
                    f"{where}: {target}"
                    for target in targets
                    if target.startswith(tuple(p + "." for p in packages)) or target in packages
                    if target not in _TYPE_MODULES_OUTSIDE_PROVIDERS
                ]
    assert class_imports == []
    assert package_imports == []


def test_the_local_subject_is_all_that_leaves_the_local_provider_module():
    """The one exception that names providers.local.provider takes a function, not the class."""
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        for module, names in _imports(path):
            if module == "providers.local.provider":
                assert set(names) <= {"local_subject"}, (str(path.relative_to(ROOT)), names)
