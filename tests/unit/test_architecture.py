"""Unit tests (no sockets): structural rules of the code base and its schema."""

from __future__ import annotations

import ast
import functools
import re

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


def _path_imports(path):
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


# Files outside providers/ that measure one provider type's own internals, with the reason.
_TYPE_SPECIFIC_FILES = {
    "benchmarks/sync_run.py": "measures the LDAP type's directory reader itself, without a gateway",
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
            if where in _TYPE_SPECIFIC_FILES:
                continue
            for module, names in _path_imports(path):
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


# Where gateway/ may write a provider type's name (other than local's, the gateway's own user
# store: the listed exception above) as a string, and why. Keep it empty if at all possible: the
# admin forms, their labels and checks, and the trial sign-in's choice come from the catalog.
_TYPE_NAMES_IN_GATEWAY: dict[str, str] = {}


def test_gateway_names_no_provider_type():
    """No module or template of gateway/ writes a catalogued type's name (``"ldap"``,
    ``"oidc"``, ...) as a string: what differs per type is declared by the type
    (``ProviderType``: its capabilities, secrets, admin form, diagnostics), so adding a type is
    one folder and one catalog line."""
    from providers.catalog import CATALOG

    names = set(CATALOG) - {"local"}
    quoted = re.compile("[\"'](" + "|".join(sorted(names)) + ")[\"']")
    found = []
    for path in sorted((ROOT / "gateway").rglob("*")):
        where = str(path.relative_to(ROOT))
        if path.suffix == ".py":
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and node.value in names:
                    found.append(f"{where}:{node.lineno}: {node.value!r}")
        elif path.suffix in (".html", ".js", ".txt"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                found += [f"{where}:{number}: {m.group(0)}" for m in quoted.finditer(line)]
    assert [f for f in found if f.split(":")[0] not in _TYPE_NAMES_IN_GATEWAY] == []


def test_provider_types_do_not_import_each_other():
    """A provider type's folder is the whole type: it imports the shared modules of providers/
    (base, schema, jws, ...) and never another type's package; only the catalog names them all
    (and providertype.py, the build context, names the local user store)."""
    from providers.catalog import CATALOG

    kinds = set(CATALOG)
    offenders = []
    for kind in sorted(kinds):
        for path in sorted((ROOT / "providers" / kind).rglob("*.py")):
            for module, names in _path_imports(path):
                targets = (
                    [module, *(f"{module}.{name}" for name in names)] if module == "providers" else [module]
                )
                offenders += [
                    f"{path.relative_to(ROOT)}: {target}"
                    for target in targets
                    if target.split(".")[0] == "providers"
                    and len(target.split(".")) > 1
                    and target.split(".")[1] in kinds - {kind}
                ]
    assert offenders == []
    shared = sorted(path for path in (ROOT / "providers").glob("*.py"))
    allowed = {"catalog.py": kinds, "providertype.py": {"local"}}
    for path in shared:
        used = {
            module.split(".")[1]
            for module, _names in _path_imports(path)
            if module.startswith("providers.") and module.split(".")[1] in kinds
        }
        assert used <= allowed.get(path.name, set()), (path.name, used)


def test_the_local_subject_is_all_that_leaves_the_local_provider_module():
    """The one exception that names providers.local.provider takes a function, not the class."""
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        for module, names in _path_imports(path):
            if module == "providers.local.provider":
                assert set(names) <= {"local_subject"}, (str(path.relative_to(ROOT)), names)


# ---- import direction between gateway's packages ------------------------------------------
#
# Each unit is a package of gateway/ or one of its top-level modules. A unit may import the
# units listed for it and nothing else of gateway (its own modules aside). ``http`` is the
# edge: it may use every domain package, and only the process entry points (app, cli, wsgi
# through app) import it. ``services`` is the composition root: it builds every part, and no
# domain package reaches back into it.
#
# The one login service (``gateway/login/service.py``, its ``outcome.py`` and ``records.py``) is a unit of its
# own, ``login.service``: it is the top of the domain, over the login building blocks and SSO
# (it opens SSO sessions), while SSO itself uses those building blocks.
DOMAIN = {
    "storage",
    "tokens",
    "mapping",
    "config",
    "observe",
    "login",
    "login.service",
    "sso",
    "admin",
    "registry",
    "mfa",
    "mail",
}
LOGIN_SERVICE_MODULES = ("gateway.login.service", "gateway.login.outcome", "gateway.login.records")
ALLOWED_IMPORTS: dict[str, set[str]] = {
    "storage": set(),
    "tokens": {"storage"},
    "mapping": {"storage"},
    "config": {"login", "mapping"},
    "observe": {"storage"},
    "login": {"mapping", "observe", "storage"},
    "login.service": {"login", "sso", "tokens", "mapping", "observe", "storage"},
    "sso": {"config", "login", "mapping", "observe", "storage", "tokens"},
    "mfa": {"config", "login", "mapping", "observe", "storage", "tokens"},
    "mail": {"config", "storage", "tokens"},
    "admin": {"config", "login", "mail", "mapping", "mfa", "observe", "sso", "storage"},
    "registry": {"admin", "config", "login", "mapping", "observe", "storage"},
    "bootstrap": {"admin", "config", "login", "mapping", "storage", "tokens"},
    "services": DOMAIN | {"bootstrap"},
    "http": DOMAIN | {"services", "bootstrap"},
    "app": DOMAIN | {"services", "http"},
    "wsgi": {"app", "config"},
    "cli": DOMAIN | {"services", "bootstrap", "http", "app"},
    "__main__": {"cli"},
}
# Imports that break the table today, each owned by work in progress elsewhere; the entry
# goes when the import does. (importing module, imported unit or module): why.
IMPORT_EXCEPTIONS: dict[tuple[str, str], str] = {
    # ConfigError is a leaf module (it imports nothing); the mapping policy parser raises it.
    ("gateway.mapping.policy", "gateway.config.errors"): "policy errors are configuration errors",
    ("gateway.mapping.store", "gateway.config.errors"): "policy errors are configuration errors",
}


@functools.cache
def _gateway_modules() -> dict[str, ast.Module]:
    """Every module of gateway/ (migrations aside) by dotted name, parsed."""
    modules = {}
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = ast.parse(path.read_text())
    return modules


def _imports(module: str, tree: ast.Module) -> set[str]:
    """The dotted names ``module`` imports (anywhere, function bodies too), relative imports
    resolved; ``from package import name`` yields both ``package`` and ``package.name``."""
    package = module if module in _PACKAGES else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


_PACKAGES = {".".join(path.relative_to(ROOT).parts[:-1]) for path in (ROOT / "gateway").rglob("__init__.py")}


def _unit(name: str) -> str | None:
    """The unit of a dotted gateway name (``gateway.admin.users`` -> ``admin``), None outside
    gateway or for the bare ``gateway`` package."""
    if any(name == module or name.startswith(module + ".") for module in LOGIN_SERVICE_MODULES):
        return "login.service"
    parts = name.split(".")
    return parts[1] if parts[0] == "gateway" and len(parts) > 1 else None


def _unit_imports() -> list[tuple[str, str, str]]:
    """(importing module, its unit, imported gateway name) for every import across units."""
    found = []
    for module, tree in _gateway_modules().items():
        unit = _unit(module)
        for name in _imports(module, tree):
            target = _unit(name)
            if target is not None and target != unit and unit is not None:
                found.append((module, unit, name))
    return found


def _excepted(module: str, name: str) -> bool:
    return any(
        module == importer and (name == target or _unit(name) == target or name.startswith(target + "."))
        for importer, target in IMPORT_EXCEPTIONS
    )


def test_every_unit_of_gateway_is_in_the_import_table():
    units = {_unit(module) for module in _gateway_modules()} - {None}
    assert units == set(ALLOWED_IMPORTS), "add the new package to ALLOWED_IMPORTS"


def test_packages_import_only_what_the_table_allows():
    offenders = sorted(
        f"{module} imports {name}"
        for module, unit, name in _unit_imports()
        if _unit(name) not in ALLOWED_IMPORTS[unit] and not _excepted(module, name)
    )
    assert offenders == []


def test_every_import_exception_is_still_needed():
    """An exception whose import has gone must leave the table too."""
    used = {
        (importer, target)
        for module, _unit_name, name in _unit_imports()
        for importer, target in IMPORT_EXCEPTIONS
        if module == importer and (name == target or _unit(name) == target or name.startswith(target + "."))
    }
    assert set(IMPORT_EXCEPTIONS) - used == set()


def test_no_import_cycles_between_packages():
    graph: dict[str, set[str]] = {unit: set() for unit in ALLOWED_IMPORTS}
    for module, unit, name in _unit_imports():
        if not _excepted(module, name):
            graph[unit].add(_unit(name))
    done: set[str] = set()

    def visit(unit: str, path: list[str]) -> None:
        if unit in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(unit) :], unit]))
        if unit in done:
            return
        for target in sorted(graph[unit]):
            visit(target, [*path, unit])
        done.add(unit)

    for unit in sorted(graph):
        visit(unit, [])


def test_nothing_but_the_entry_points_imports_http():
    importers = {unit for _module, unit, name in _unit_imports() if _unit(name) == "http"}
    assert importers <= {"app", "cli", "wsgi"}


def test_only_http_and_the_app_import_flask():
    offenders = sorted(
        f"{module}: {name}"
        for module, tree in _gateway_modules().items()
        if _unit(module) not in ("http", "app")
        for name in _imports(module, tree)
        if name.split(".")[0] in ("flask", "werkzeug")
    )
    assert offenders == []


def test_pages_and_admin_ui_do_not_import_each_other():
    """What both need (the services accessor, browser helpers, page handlers) lives in a
    neutral module of gateway.http."""
    offenders = []
    for module, tree in _gateway_modules().items():
        for own, other in (
            ("gateway.http.pages", "gateway.http.adminui"),
            ("gateway.http.adminui", "gateway.http.pages"),
        ):
            if module == own or module.startswith(own + "."):
                offenders += [
                    f"{module} imports {name}"
                    for name in _imports(module, tree)
                    if name == other or name.startswith(other + ".")
                ]
    assert offenders == []
