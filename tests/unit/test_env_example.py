"""Unit tests (no sockets): .env.example lists every environment variable the code reads."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_gateway_variable_is_documented():
    used = set()
    for path in list((ROOT / "gateway").rglob("*.py")) + list((ROOT / "providers").rglob("*.py")):
        used |= set(re.findall(r"\bGATEWAY_[A-Z_]+\b", path.read_text()))
    documented = set(re.findall(r"^(GATEWAY_[A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used - documented == set()
    assert documented - used == set()
