"""Settings fail fast; request pre-checks bound bodies without parsing them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from immunet.cli import serve_log_config
from immunet.http import json_depth_exceeds, request_host
from immunet.settings import Settings


def test_production_refuses_console_and_file_sms():
    for backend in ("console", "file:/tmp/x.jsonl"):
        with pytest.raises(ValidationError):
            Settings(env="production", sms_backend=backend)


def test_production_needs_provider_secrets():
    with pytest.raises(ValidationError):
        Settings(env="production", sms_backend="http")
    Settings(
        env="production",
        sms_backend="http",
        sms_http_url="https://sms.example",
        sms_http_token="t",
        public_url="https://immunet.example.in",
    )


def test_production_needs_an_https_public_url():
    with pytest.raises(ValidationError):
        Settings(
            env="production",
            sms_backend="http",
            sms_http_url="https://sms.example",
            sms_http_token="t",
            public_url="http://immunet.example.in",
        )


def test_otp_lifetime_capped_at_ten_minutes():
    with pytest.raises(ValidationError):
        Settings(otp_ttl_seconds=601)
    assert Settings(otp_ttl_seconds=600).otp_ttl_seconds == 600


def test_trusted_proxies_parsed_from_comma_list(monkeypatch):
    monkeypatch.setenv("IMMUNET_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1/32")
    assert Settings().trusted_proxies == ["10.0.0.0/8", "192.168.1.1/32"]
    monkeypatch.setenv("IMMUNET_TRUSTED_PROXIES", "not-a-network")
    with pytest.raises(ValidationError):
        Settings()


def test_json_depth_check():
    assert not json_depth_exceeds(b'{"a": [1, {"b": 2}]}', 3)
    assert json_depth_exceeds(b"[" * 33 + b"]" * 33, 32)
    # Brackets inside strings do not count.
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\""}', 2)


PRODUCTION = {
    "env": "production",
    "sms_backend": "http",
    "sms_http_token": "t",
    "public_url": "https://immunet.example.in",
}


def test_production_refuses_a_clear_text_sms_provider():
    for url in ("http://sms.example/send", "ftp://sms.example", "sms.example"):
        with pytest.raises(ValidationError, match="SMS_HTTP_URL with https"):
            Settings(**PRODUCTION, sms_http_url=url)
    assert Settings(**PRODUCTION, sms_http_url="https://sms.example/send").is_production


def test_trusted_hosts_follow_the_public_url_and_environment():
    production = Settings(**PRODUCTION, sms_http_url="https://sms.example", allowed_hosts="node-7")
    assert production.trusted_hosts == {"immunet.example.in", "node-7"}
    assert production.serves_https
    development = Settings(env="development")
    assert development.trusted_hosts == {"127.0.0.1", "localhost", "::1"}
    assert not development.serves_https
    assert "testserver" in Settings(env="test").trusted_hosts
    for bad in ("https://x.example", "x.example:443", "*.example"):
        with pytest.raises(ValidationError):
            Settings(allowed_hosts=bad)


def test_host_header_parsing():
    assert request_host("Immunet.Example.in:443") == "immunet.example.in"
    assert request_host("[::1]:8000") == "::1"
    assert request_host("127.0.0.1") == "127.0.0.1"
    for bad in (None, "", "a b", "x.example:port", "evil.example/path", "u@evil.example", "[::1"):
        assert request_host(bad) is None, bad


def test_served_logging_has_no_uvicorn_access_log():
    config = serve_log_config()
    access = config["loggers"]["uvicorn.access"]
    assert access["handlers"] == [] and not access["propagate"]
    assert config["loggers"]["immunet"]["level"] == "INFO"


def test_an_outbox_lease_must_outlast_a_provider_call():
    # A lease that lapses while the provider is still answering lets a second worker resend.
    with pytest.raises(ValidationError):
        Settings(sms_http_timeout_seconds=30, outbox_lease_seconds=60)
    assert Settings(sms_http_timeout_seconds=5, outbox_lease_seconds=60).outbox_lease_seconds == 60
