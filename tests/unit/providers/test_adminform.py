"""Unit tests (no sockets): every catalogued type's guided admin form matches the type: each
input stands for a key its schema has, choices have values to offer, secrets are the type's
secret fields, and the checks are diagnostics the type offers. A form filled in as a new one
reads back into a section the type's schema accepts."""

from __future__ import annotations

import pytest
from marshmallow import fields as mfields

from gateway.admin.providerconfigs import editable_types
from gateway.http.adminui import providerform
from providers.adminform import CHOICE, CHOICES, SECRET, AdminForm, FormField
from providers.catalog import CATALOG

FORMS = [(name, kind.admin_form) for name, kind in CATALOG.items() if kind.admin_form is not None]


def _schema_field(schema, dotted: str):
    node = schema
    for key in dotted.split("."):
        node = (node.schema if isinstance(node, mfields.Nested) else node).fields[key]
    return node


@pytest.mark.parametrize("name, form", FORMS, ids=[name for name, _ in FORMS])
def test_a_form_matches_its_type(name, form):
    kind = CATALOG[name]
    for item in form.fields:
        _schema_field(kind.schema(), item.key)  # KeyError: no such key
        if item.kind in (CHOICE, CHOICES):
            assert providerform.choices(name, item.key), item.name
        assert (item.kind == SECRET) == (item.key in kind.secret_fields), item.name
        for covered in item.covers:
            _schema_field(kind.schema(), covered)
    assert kind.diagnostics is not None or not form.checks
    for check in form.checks:
        assert getattr(kind.diagnostics, check) is not None, check
        assert check in providerform.CHECK_BUTTONS
    assert set(kind.secret_fields) <= {item.key for item in form.fields}


def test_the_editable_types_are_those_with_a_form():
    assert editable_types() == tuple(name for name, _ in FORMS)
    assert "local" not in editable_types()


def test_a_form_refuses_inputs_that_clash_with_the_pages_own():
    with pytest.raises(ValueError):
        AdminForm("x", "Add x", (FormField("id", "id", "Id"),))
    with pytest.raises(ValueError):
        AdminForm("x", "Add x", (FormField("a", "a", "A", kind="colour"),))
