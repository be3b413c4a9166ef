"""Unit tests (no sockets): which origins may post the gateway's forms, and the page that
explains a refusal when the browser opened the gateway by another address."""

from __future__ import annotations

import json
import logging

import pytest

from gateway.http.origins import opened_by_another_name, origin_accepted, readable_origin
from gateway.observe.logs import JsonFormatter


@pytest.mark.parametrize(
    ("origin", "public_url"),
    [
        (None, "https://auth.example.org"),  # no Origin header: the token check decides
        ("https://auth.example.org", "https://auth.example.org/"),
        ("HTTPS://Auth.Example.org", "https://auth.example.org"),
        ("https://auth.example.org", "https://auth.example.org:443"),
        ("http://127.0.0.1:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://localhost:8080"),
        ("http://localhost:8080", "http://127.0.0.1:8080"),
        ("http://localhost", "http://127.0.0.1:80"),
    ],
)
def test_origins_the_gateway_accepts(origin, public_url):
    assert origin_accepted(origin, public_url)


@pytest.mark.parametrize(
    ("origin", "public_url"),
    [
        ("https://evil.example", "https://auth.example.org"),
        ("http://auth.example.org", "https://auth.example.org"),
        ("https://auth.example.org:8443", "https://auth.example.org"),
        ("http://127.0.0.1:8081", "http://localhost:8080"),  # another port is another gateway
        ("https://127.0.0.1:8080", "http://localhost:8080"),
        ("http://192.168.1.20:8080", "http://localhost:8080"),  # a LAN address is not loopback
        ("http://127.0.0.1:8080", "http://gw.lan:8080"),  # loopback allowance only for loopback
        ("null", "http://localhost:8080"),
        ("http://localhost:junk", "http://localhost:8080"),
    ],
)
def test_origins_the_gateway_refuses(origin, public_url):
    assert not origin_accepted(origin, public_url)


def test_only_http_origins_are_named_back():
    assert readable_origin("HTTP://LAN-Host:8080") == "http://lan-host:8080"
    assert readable_origin("https://h.example:443") == "https://h.example"
    for junk in (None, "", "null", "file://", "http://h:x", "javascript:alert(1)", "http://é.example"):
        assert readable_origin(junk) is None


@pytest.mark.parametrize(
    ("host", "fetch_site", "by_another_name"),
    [
        ("127.0.0.1:8080", None, True),  # the form was served at the address it came from
        ("127.0.0.1", None, True),  # a proxy that passes the host without its port
        ("gateway.test", None, False),  # another site's page posted to the gateway
        (None, None, False),
        ("gateway.test", "same-origin", True),  # the browser's word wins over Host
        ("127.0.0.1:8080", "cross-site", False),
        ("127.0.0.1:8080", "same-site", False),
    ],
)
def test_a_page_served_by_the_gateway_under_another_name_is_told_apart_from_another_site(
    host, fetch_site, by_another_name
):
    assert opened_by_another_name("http://127.0.0.1:8080", host, fetch_site) is by_another_name


def test_a_form_posted_from_another_address_gets_a_page_that_names_both_and_a_log_line(client, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.http.browser"):
        response = client.post(
            "/login",
            data={"username": "a", "password": "plum-kettle-42"},
            headers={"Origin": "http://127.0.0.1:8080", "Host": "127.0.0.1:8080"},
        )
    assert response.status_code == 403 and response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "You opened <code>http://127.0.0.1:8080</code>" in text
    assert "this gateway's address is <code>http://gateway.test</code>" in text
    assert 'href="http://gateway.test/login"' in text
    assert "set <code>GATEWAY_PUBLIC_URL</code> to <code>http://127.0.0.1:8080</code>" in text
    assert "expired" not in text
    (record,) = [r for r in caplog.records if r.name == "gateway.http.browser"]
    text_line = JsonFormatter().format(record)
    assert "plum-kettle-42" not in text_line
    line = json.loads(text_line)
    assert line["level"] == "WARNING"
    assert (line["posted_origin"], line["public_origin"]) == ("http://127.0.0.1:8080", "http://gateway.test")


def test_a_form_without_its_token_from_the_right_address_still_says_it_expired(client):
    response = client.post("/login", data={"username": "a"}, headers={"Origin": "http://gateway.test"})
    assert response.status_code == 403
    assert "This form has expired" in response.get_data(as_text=True)


def test_a_form_forged_by_another_site_gets_the_plain_refusal_and_a_log_line(client, caplog):
    """Its victim's browser shows the answer: it must not advise using the forger's address."""
    with caplog.at_level(logging.WARNING, logger="gateway.http.browser"):
        response = client.post(
            "/login",
            data={"username": "a"},
            headers={
                "Origin": "https://evil.example",
                "Host": "gateway.test",
                "Sec-Fetch-Site": "cross-site",
            },
        )
    assert response.status_code == 403
    text = response.get_data(as_text=True)
    assert "This form has expired" in text and "evil.example" not in text
    (record,) = [r for r in caplog.records if r.name == "gateway.http.browser"]
    assert record.posted_origin == "https://evil.example" and "another site" in record.getMessage()


def test_a_null_origin_is_refused_as_an_expired_form(client, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.http.browser"):
        response = client.post("/login", data={"username": "a"}, headers={"Origin": "null"})
    assert response.status_code == 403
    assert "This form has expired" in response.get_data(as_text=True)
    assert [r.posted_origin for r in caplog.records if r.name == "gateway.http.browser"] == [None]
