"""Builds a gateway instance for integration tests: config file, seeded users, gunicorn.

The database is prepared in-process (migrations, key, admin, seed users) exactly as the
production master does, then the gateway itself runs under gunicorn and is spoken to over HTTP.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from gateway.config.file import load_config
from gateway.config.settings import load_settings
from gateway.services import Services, build_services
from tests.support.paths import REPO_ROOT
from tests.support.servers import GunicornGateway

ADMIN_PASSWORD = "tall-river-77-quiet-lamp"
PASSWORD = "purple-anchor-42-windmill"

# The README's worked example, plus a little more for the contract tests.
CONTRACT_CONFIG = """
mapping:
  default_roles: []
  expose: [email]
  rules:
    - name: pilots
      match: {group: drone-pilots}
      roles: [pilot]
      maxStorageMB: 51200
    - name: admins
      match: {group: drone-admins}
      roles: [admin]
      maxStorageMB: unlimited
    - name: survey-team
      match: {group_glob: "survey-*"}
      roles: [surveyor, pilot]
      maxStorageMB: 10240
"""

SEED_USERS: list[dict[str, Any]] = [
    {"username": "alice", "email": "alice@example.org", "groups": ["drone-pilots"]},
    {"username": "bob", "groups": ["drone-admins", "drone-pilots"]},
    {"username": "carol"},
    {"username": "dave", "groups": ["drone-pilots"], "disabled": True},
    {"username": "erin", "groups": ["drone-pilots"], "overrides": {"maxStorageMB": 2048}},
    {"username": "frank", "groups": ["survey-north"]},
    {"username": "gina.o-neil+test@example.org", "groups": ["drone-pilots"]},
]


@dataclass
class GatewayUnderTest:
    server: GunicornGateway
    env: dict[str, str]
    instance_dir: Path
    directory: Any = None  # the SlapdServer holding the users, when they live in LDAP

    @property
    def url(self) -> str:
        return self.server.base_url

    def authenticate(self, data=None, **kwargs) -> requests.Response:
        return requests.post(f"{self.url}/api/authenticate", data=data, timeout=30, **kwargs)

    def services(self) -> Services:
        """In-process services on the same database (for minting tokens, disabling users)."""
        settings = load_settings(self.env, read_dotenv=False)
        return build_services(settings, load_config(settings.config_path, self.env))

    def add_member(self, group: str, username: str) -> None:
        """Put a user in a group, wherever this gateway's users live."""
        self._change_member("add", group, username)

    def remove_member(self, group: str, username: str) -> None:
        self._change_member("delete", group, username)

    def _change_member(self, change: str, group: str, username: str) -> None:
        if self.directory is not None:
            from tests.support.ldapdata import contract_group_dn, contract_user_dn

            self.directory.modify_ldif(
                f"dn: {contract_group_dn(group)}\nchangetype: modify\n"
                f"{change}: member\nmember: {contract_user_dn(username)}\n"
            )
            return
        services = self.services()
        try:
            if change == "add":
                services.local_users.add_member(group, username)
            else:
                services.local_users.remove_member(group, username)
        finally:
            services.close()

    def stop(self) -> None:
        self.server.stop()


def gateway_env(
    instance_dir: Path,
    config_text: str,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    instance_dir.mkdir(parents=True, exist_ok=True)
    config_path = instance_dir / "gateway.yaml"
    config_path.write_text(textwrap.dedent(config_text))
    env = {
        "GATEWAY_INSTANCE_DIR": str(instance_dir),
        "GATEWAY_CONFIG": str(config_path),
        "GATEWAY_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "GATEWAY_KEY_ENCRYPTION_KEY": "test-key-encryption-secret-0123456789abcdef",
        "GATEWAY_LOG_LEVEL": "INFO",
        "GATEWAY_DOTENV": "/nonexistent",
    }
    if database_url:
        env["GATEWAY_DATABASE_URL"] = database_url
    if redis_url:
        env["GATEWAY_REDIS_URL"] = redis_url
    env.update(extra or {})
    return env


def seed(env: dict[str, str], users: list[dict[str, Any]]) -> None:
    """Prepare the database and create the given local users (all with PASSWORD)."""
    settings = load_settings(env, read_dotenv=False)
    services = build_services(settings, load_config(settings.config_path, env))
    try:
        services.prepare(migrate=True)
        for group in sorted({g for user in users for g in user.get("groups", [])}):
            if group not in {name for name, _ in services.local_users.list_groups()}:
                services.local_users.create_group(group)
        user_service = services.user_operations()
        for user in users:
            user_service.create(
                user["username"],
                user.get("password", PASSWORD),
                email=user.get("email"),
                groups=user.get("groups", ()),
                overrides=user.get("overrides"),
            )
            if user.get("disabled"):
                user_service.set_enabled(user["username"], False)
    finally:
        services.close()


def start_gateway(
    tmp_path: Path,
    config_text: str = CONTRACT_CONFIG,
    *,
    users: list[dict[str, Any]] = SEED_USERS,
    workers: int | None = None,
    port: int | None = None,
    **env_options,
) -> GatewayUnderTest:
    """Seed a database and start the gateway; one worker unless Redis shares its state."""
    if workers is None:
        workers = 2 if env_options.get("redis_url") else 1
    instance_dir = tmp_path / "instance"
    env = gateway_env(instance_dir, config_text, **env_options)
    seed(env, users)
    server = GunicornGateway.start(
        tmp_path / "gunicorn",
        env=env,
        workers=workers,
        port=port,
        extra_args=["-c", str(REPO_ROOT / "deploy" / "gunicorn.conf.py")],
    )
    return GatewayUnderTest(server=server, env=env, instance_dir=instance_dir)
