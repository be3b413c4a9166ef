"""What ``gateway check-config`` warns about a ``registry:`` section: a service account the
Registry would not let administer it (every write to the Registry would then fail)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from gateway.config.settings import Settings
from gateway.config.settingsobjects import GatewayConfig

# The Registry's own administrator role (contract §2.6): its admin API needs it, whatever the
# gateway's admin role is called.
REGISTRY_ADMIN_ROLE = "admin"


def service_account_warnings(settings: Settings, config: GatewayConfig) -> list[str]:
    """Warnings (empty: none) when a Registry is configured and its service account is not a
    known, enabled user (local, or a directory user as last seen at a sign-in) whose mapped
    answer carries the Registry's ``admin`` role. A
    database that cannot be read (not created or migrated yet) is a warning too; nothing is
    written."""
    if config.registry is None:
        return []
    from gateway.services import build_services

    name = config.registry.settings.username
    if _sqlite_file_missing(settings.database_url):
        return [f"could not check the registry service account {name!r}: the database does not exist yet"]
    services = build_services(settings, config)
    try:
        person = services.people().get(name)
        if person is None:
            return [
                f"the registry service account {name!r} is not a user of this gateway; "
                f"create it (gateway users create {name}) with a role mapping to {REGISTRY_ADMIN_ROLE!r}, "
                "or sign in once with a directory account of that name"
            ]
        if not person.enabled:
            return [f"the registry service account {name!r} is disabled; enable it"]
        answer = services.registry_answers().of(name)
        roles = [] if answer is None else answer["roles"]
        if REGISTRY_ADMIN_ROLE not in roles:
            granted = "it would be denied" if answer is None else f"its answer carries roles {roles}"
            return [
                f"the registry service account {name!r} would not get the Registry's "
                f"{REGISTRY_ADMIN_ROLE!r} role ({granted}); grant it, or writes to the Registry fail"
            ]
        return []
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        return [f"could not check the registry service account {name!r} in the database: {reason}"]
    finally:
        services.close()


def _sqlite_file_missing(url: str) -> bool:
    """Whether ``url`` names an SQLite file that is not there (opening it would create it)."""
    prefix = "sqlite:///"
    return url.startswith(prefix) and not Path(url[len(prefix) :]).exists()
