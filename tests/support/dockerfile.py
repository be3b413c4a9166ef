"""deploy/Dockerfile read as instructions, and what its build stage does to install the gateway.

tests/checks/test_deploy_files.py checks the Dockerfile against these; tests/checks/test_wheel.py
runs the same build stage outside Docker, so the install users get is the one the tests serve.
"""

from __future__ import annotations

import re

from tests.support.paths import REPO_ROOT

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"

# The build stage's one RUN, step by step: a wheel of the copied sources (no dependencies), a
# fresh virtualenv, the wheel with the runtime extras installed into it, and a smoke call.
BUILD_STEPS = (
    "python -m pip wheel --no-deps --wheel-dir /wheels .",
    "python -m venv /opt/gateway",
    'wheel="$(echo /wheels/dronedb_auth_gateway-*.whl)"',
    '/opt/gateway/bin/pip install --no-cache-dir "${wheel}[${GATEWAY_EXTRAS}]"',
    "/opt/gateway/bin/gateway --help >/dev/null",
)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(KEYWORD, rest of the line) for every instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def build_stage() -> list[tuple[str, str]]:
    """The instructions of the first stage (the one that builds and installs the wheel)."""
    instructions = dockerfile_instructions()
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[0] + 1 : starts[1]]


def build_copies() -> list[str]:
    """The repository paths the build stage copies into its build context."""
    return [
        source
        for keyword, rest in build_stage()
        if keyword == "COPY"
        for source in rest.split()[:-1]
        if not source.startswith("--")
    ]


def build_steps() -> list[str]:
    """The shell steps of the build stage's RUN, split at ``&&``."""
    (run,) = [rest for keyword, rest in build_stage() if keyword == "RUN"]
    return [step.strip() for step in run.split("&&")]


def default_args() -> dict[str, str]:
    """ARG name -> default value, for the ARGs that have one."""
    instructions = dockerfile_instructions()
    return dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest)
