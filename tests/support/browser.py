"""Headless Chromium for browser tests, driven by Python Playwright.

Plain Python, no pytest import (like :mod:`tests.support.servers`).

The browser is Debian's ``chromium`` package (``/usr/bin/chromium``), launched
through Playwright's ``executable_path``: ``playwright install`` and browser
downloads are never used.  A missing binary raises
:class:`tests.support.servers.ServerBinaryMissing` naming the Debian package; nothing
here ever skips.

Host names: :func:`launch_browser` maps every pattern of ``host_map`` (default
``*.example.test``) to 127.0.0.1 with Chromium's ``--host-resolver-rules``, so
that one loopback machine can play ``auth.example.test`` (the gateway) and
``hub.example.test`` (the Registry) on a shared parent domain, which is what
the ``xAuthToken`` cookie (``Domain=example.test``) needs.  Ports still differ;
cookies ignore ports, origins (CSP ``frame-ancestors``, CORS) do not.

Screenshots go to ``test-artifacts/screenshots/`` at the repository root
(ignored by git) via :func:`save_screenshot`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from tests.support.paths import REPO_ROOT
from tests.support.servers import ServerBinaryMissing

__all__ = [
    "CHROMIUM_ARGS",
    "DEFAULT_HOST_MAP",
    "SCREENSHOT_DIR",
    "chromium_executable",
    "host_resolver_rules",
    "launch_browser",
    "save_screenshot",
]

SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
# How long a Playwright action or navigation may wait: a page's answer can take seconds on a
# loaded machine (a password hash, a cold worker), and no browser test asserts a duration.
PAGE_TIMEOUT_MS = 30_000

DEFAULT_HOST_MAP: tuple[str, ...] = ("*.example.test",)

# Known to work in this environment (root, no GPU, no network).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
)

_DEFAULT_CHROMIUM = "/usr/bin/chromium"


def chromium_executable() -> str:
    """Path of the Chromium binary: ``$TEST_CHROMIUM`` if set (must be
    executable), else ``/usr/bin/chromium``, else ``chromium`` on PATH."""
    override = os.environ.get("TEST_CHROMIUM")
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        found = shutil.which(override)
        if found:
            return found
        raise ServerBinaryMissing(
            f"TEST_CHROMIUM={override!r} is not an executable file; unset it to use "
            "Debian's chromium, or install the Debian package 'chromium' "
            "(apt-get install chromium), or run scripts/test which does it"
        )
    if os.path.isfile(_DEFAULT_CHROMIUM) and os.access(_DEFAULT_CHROMIUM, os.X_OK):
        return _DEFAULT_CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    raise ServerBinaryMissing(
        "Chromium not found (neither /usr/bin/chromium nor 'chromium' on PATH); "
        "install the Debian package 'chromium' (apt-get install chromium), or run "
        "scripts/test which does it, or point TEST_CHROMIUM at a Chromium binary"
    )


def host_resolver_rules(host_map: Iterable[str], address: str = "127.0.0.1") -> str:
    """The ``--host-resolver-rules`` value mapping each host pattern to ``address``
    (e.g. ``MAP *.example.test 127.0.0.1, MAP other.test 127.0.0.1``)."""
    rules = []
    for pattern in host_map:
        if not pattern or re.search(r"[\s,]", pattern):
            raise ValueError(f"bad host pattern {pattern!r}")
        rules.append(f"MAP {pattern} {address}")
    return ", ".join(rules)


def launch_browser(
    playwright,
    *,
    host_map: Iterable[str] = DEFAULT_HOST_MAP,
    extra_args: Iterable[str] = (),
    timeout: float = 30.0,
):
    """A headless Chromium (Playwright ``Browser``) from
    :func:`chromium_executable`, with :data:`CHROMIUM_ARGS` and every host
    pattern of ``host_map`` resolved to 127.0.0.1.  ``playwright`` is the
    object of ``sync_playwright().start()`` / ``with sync_playwright() as p``.
    The caller closes the browser."""
    args = list(CHROMIUM_ARGS)
    host_map = tuple(host_map)
    if host_map:
        args.append(f"--host-resolver-rules={host_resolver_rules(host_map)}")
    args.extend(extra_args)
    return playwright.chromium.launch(
        executable_path=chromium_executable(),
        headless=True,
        args=args,
        timeout=timeout * 1000,
    )


def _safe_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "screenshot"
    return name if name.lower().endswith(".png") else name + ".png"


def save_screenshot(page, name: str, *, full_page: bool = True, directory: Path | None = None) -> Path:
    """Write a PNG of ``page`` to ``test-artifacts/screenshots/<name>.png``
    (``name`` sanitised to a file name; the directory is created) and return
    its path."""
    target_dir = Path(directory) if directory is not None else SCREENSHOT_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / _safe_name(name)
    page.screenshot(path=str(path), full_page=full_page)
    return path
