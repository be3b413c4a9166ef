"""The gateway as users install it: built into a wheel (and an sdist), installed into a fresh
virtualenv, and served from there.

The tests import the repository's sources (an editable install), so they cannot see a file the
wheel leaves out: a template missing from the wheel is a 500 for every Docker, compose and
Kubernetes user. Here the build stage of deploy/Dockerfile runs outside Docker (its own copy
list and its own RUN steps, with this machine's paths and pip's cache), gunicorn starts from the
virtualenv with the Dockerfile's configuration file and a working directory outside the
repository, the admin signs in, and every admin page (read from the installed app's URL map)
and every public page answers. The sdist gets the same treatment: built with ``build``, then
installed by the same steps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import requests

from tests.support.adminapi import ADMIN_CONFIG, ADMIN_PASSWORD, AdminClient
from tests.support.dockerfile import build_copies, build_steps, default_args
from tests.support.harness import gateway_env
from tests.support.paths import REPO_ROOT
from tests.support.servers import GunicornGateway, free_port

pytestmark = pytest.mark.integration

PACKAGES = ("gateway", "providers")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

# Example values for the admin pages that take one; the objects are created before the visit.
PAGE_ARGUMENTS = {
    "/admin/users/<username>": {"username": "alice"},
    "/admin/groups/<name>/members/<username>": {"name": "drone-pilots", "username": "alice"},
    "/admin/groups/<name>": {"name": "drone-pilots"},
    "/admin/roles/<name>": {"name": "pilot"},
    "/admin/rules/<name>": {"name": "pilots"},
    "/password/reset/<token>": {"token": "A" * 43},
    "/register/verify/<token>": {"token": "A" * 43},
    "/admin/providers/new/<kind>": {"kind": "ldap"},
    "/admin/providers/<provider_id>": {"provider_id": "directory"},
}
# A directory kept in the database (provider_source: database); its server refuses at once.
DIRECTORY = {
    "id": "directory",
    "type": "ldap",
    "settings": {
        "servers": ["ldap://127.0.0.1:1"],
        "user": {"base": "ou=people,dc=example,dc=com"},
        "groups": {"strategies": ["member_of"], "nested": False},
    },
}
# The self-service pages are on (with a mail server nobody will call), so their templates render.
WHEEL_CONFIG = (
    ADMIN_CONFIG
    + """
email:
  smtp: {host: 127.0.0.1, port: 9, security: none}
  sender: registry@example.org
self_service:
  password_reset: true
  registration: {enabled: true}
"""
)
PILOTS = {"name": "pilots", "match": {"group": "drone-pilots"}, "roles": ["pilot"], "maxStorageMB": 51200}

# Pages that answer something else than 200 when visited as a signed-in admin.
EXPECTED_STATUS = {
    "/login": 303,  # already signed in: on to where the form would have led
    "/sso/continue": 303,  # no Registry login under way: on to the start
    "/login/mfa": 303,  # no password verified a moment ago: back to /login
    "/admin/users/bulk/done": 303,  # no bulk action just confirmed: on to the users list
    "/password/change": 303,  # no temporary password just proven: on to the sign-in form
    "/password/reset/" + "A" * 43: 410,  # no such link: the page says so
    "/register/verify/" + "A" * 43: 410,
}

# Asks the installed application (not the repository's) for its URL map, and where it lives.
URL_MAP_SCRIPT = """
import json, gateway
from gateway.wsgi import app
rules = [
    {"rule": rule.rule, "arguments": sorted(rule.arguments)}
    for rule in app.url_map.iter_rules()
    if "GET" in rule.methods
]
print(json.dumps({"gateway": gateway.__file__, "rules": rules}))
"""


def package_files() -> set[str]:
    """Every file of the importable packages in the source tree (bytecode aside)."""
    return {
        path.relative_to(REPO_ROOT).as_posix()
        for package in PACKAGES
        for path in (REPO_ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def outside_env(**extra: str) -> dict[str, str]:
    """This environment without PYTHONPATH (so only the virtualenv's packages import)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def build_context(tmp_path: Path) -> Path:
    """What the Dockerfile's build stage copies, copied the same way."""
    context = tmp_path / "src"
    for source in build_copies():
        target = context / source
        if (REPO_ROOT / source).is_dir():
            shutil.copytree(REPO_ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / source, target)
    return context


def install(context: Path, venv: Path, wheels: Path, source: str = ".") -> None:
    """The build stage's RUN, with this machine's paths: a wheel of ``source`` (the context or an
    sdist), a fresh virtualenv at ``venv``, the wheel and the runtime extras installed into it.
    pip's cache stays on (the image turns it off only to stay small)."""
    steps = []
    for step in build_steps():
        step = step.replace("/wheels", str(wheels)).replace("/opt/gateway", str(venv))
        step = step.replace("--no-cache-dir ", "")
        if step.startswith("python -m pip wheel"):
            assert step.endswith(" ."), step
            step = f"{sys.executable} {step.removeprefix('python ')[:-1]}{source}"
        elif step.startswith("python "):
            step = f"{sys.executable} {step.removeprefix('python ')}"
        steps.append(step)
    env = outside_env(GATEWAY_EXTRAS=default_args()["GATEWAY_EXTRAS"])
    run(["bash", "-euo", "pipefail", "-c", " && ".join(steps)], context, env)


def built_sdist(context: Path, out: Path) -> Path:
    run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), "."], context, outside_env())
    (sdist,) = out.glob("dronedb_auth_gateway-*.tar.gz")
    return sdist


def served(tmp_path: Path, venv: Path) -> tuple[GunicornGateway, dict[str, str], Path]:
    """gunicorn from ``venv`` with the image's configuration file (the master migrates the empty
    database and creates the admin), in a working directory outside the repository."""
    app_dir = tmp_path / "app"
    (app_dir / "deploy").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "deploy" / "gunicorn.conf.py", app_dir / "deploy")
    port = free_port()
    env = gateway_env(
        tmp_path / "instance", WHEEL_CONFIG, extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    )
    env["PYTHONPATH"] = ""  # an empty value is ignored: the repository's sources stay out of reach
    server = GunicornGateway.start(
        tmp_path / "gunicorn",
        env=env,
        workers=1,
        port=port,
        cwd=str(app_dir),
        python=str(venv / "bin" / "python"),
        extra_args=["-c", str(app_dir / "deploy" / "gunicorn.conf.py")],
    )
    return server, env, app_dir


def installed_url_map(venv: Path, env: dict[str, str], cwd: Path) -> tuple[Path, list[dict]]:
    output = run([str(venv / "bin" / "python"), "-c", URL_MAP_SCRIPT], cwd, {**outside_env(), **env})
    answer = json.loads(output.splitlines()[-1])
    return Path(answer["gateway"]), answer["rules"]


def signed_in_admin(base_url: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    form = session.get(f"{base_url}/login", timeout=10)
    assert form.status_code == 200, form.text
    signed_in = session.post(
        f"{base_url}/login",
        timeout=30,
        allow_redirects=False,
        data={"csrf_token": CSRF.search(form.text).group(1), "username": "admin", "password": ADMIN_PASSWORD},
    )
    assert signed_in.status_code in (302, 303), signed_in.text
    return session


def create_page_objects(base_url: str) -> None:
    """A user, a group, a role, a rule and a provider, so that the pages about one have one to show."""
    admin = AdminClient.login(base_url)
    for path, body in (
        ("/groups", {"name": "drone-pilots"}),
        (
            "/users",
            {"userName": "alice", "password": "purple-anchor-42-windmill", "groups": ["drone-pilots"]},
        ),
        ("/users/roles", {"roleName": "pilot"}),
        ("/mapping/rules", {"rule": PILOTS}),
        ("/providers", DIRECTORY),
    ):
        response = admin.post(path, json=body)
        assert response.status_code == 201, (path, response.text)


def page_paths(rules: list[dict]) -> list[str]:
    """Every GET page of the admin UI and every public page, arguments filled in; not the JSON
    admin API (tests/integration/admin covers it) nor the SSO flows that need an identity provider."""
    paths = []
    for rule in rules:
        path = rule["rule"]
        if path.startswith(("/admin/api", "/sso/login/", "/sso/callback/", "/static/")):
            continue
        if rule["arguments"]:
            stem = next((stem for stem in PAGE_ARGUMENTS if path.startswith(stem)), None)
            assert stem is not None, f"{path}: add an example value to PAGE_ARGUMENTS"
            for name, value in PAGE_ARGUMENTS[stem].items():
                path = path.replace(f"<{name}>", value)
        paths.append(path)
    assert "/admin" in paths and "/login" in paths, paths
    return sorted(set(paths))


def assert_every_page_answers(tmp_path: Path, venv: Path) -> None:
    server, env, app_dir = served(tmp_path, venv)
    try:
        location, rules = installed_url_map(venv, env, app_dir)
        assert location.is_relative_to(venv), f"gateway imported from {location}, not the virtualenv"
        create_page_objects(server.base_url)
        browser = signed_in_admin(server.base_url)
        answers = {
            path: browser.get(f"{server.base_url}{path}", timeout=30, allow_redirects=False).status_code
            for path in page_paths(rules)
        }
        expected = {path: EXPECTED_STATUS.get(path, 200) for path in answers}
        assert answers == expected
        static_dir = REPO_ROOT / "gateway" / "http" / "static"
        for static in static_dir.rglob("*"):
            if static.is_file():
                url = f"{server.base_url}/static/{static.relative_to(static_dir).as_posix()}"
                assert browser.get(url, timeout=10).content == static.read_bytes(), url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> Path:
    return build_context(tmp_path_factory.mktemp("build"))


def test_the_wheel_holds_every_package_file_and_serves_every_page(context, tmp_path):
    wheels = tmp_path / "wheels"
    install(context, tmp_path / "venv", wheels)
    (wheel,) = wheels.glob("dronedb_auth_gateway-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith(tuple(f"{p}/" for p in PACKAGES))}
    assert shipped == package_files()
    assert_every_page_answers(tmp_path, tmp_path / "venv")


def test_the_sdist_holds_every_package_file_and_serves_every_page(context, tmp_path):
    sdist = built_sdist(context, tmp_path / "dist")
    with tarfile.open(sdist) as archive:
        top = sdist.name.removesuffix(".tar.gz")
        shipped = {
            name.removeprefix(f"{top}/")
            for name in archive.getnames()
            if name.startswith(tuple(f"{top}/{p}/" for p in PACKAGES)) and archive.getmember(name).isfile()
        }
    assert package_files() <= shipped
    install(context, tmp_path / "venv", tmp_path / "wheels", source=str(sdist))
    assert_every_page_answers(tmp_path, tmp_path / "venv")
