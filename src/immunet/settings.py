"""One settings object for the whole service, read from ``IMMUNET_*`` variables.

It fails fast: in production it refuses development keyrings, the console and file SMS
backends, and missing secrets, so a misconfigured node never starts serving.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """The configuration cannot be used in the current environment."""


OTP_TTL_CEILING_SECONDS = 600


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMMUNET_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite:///var/immunet.sqlite3"
    redis_url: str | None = None
    # Streaming replicas (comma-separated PostgreSQL URLs) for reads that may be a little
    # stale: public availability and calendars, aggregate reports. A replica further behind
    # than the threshold, or unreachable, is skipped (its lag is measured at most every
    # `replica_check_seconds` per worker); reads then go to the primary.
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # False behind PgBouncer < 1.21 in transaction mode (Debian 12 ships 1.18): asyncpg's
    # prepared-statement cache off, statements uniquely named (docs/OPERATIONS.md).
    database_statement_cache: bool = True
    replica_max_lag_seconds: float = Field(default=5.0, ge=0, le=3600)
    replica_check_seconds: float = Field(default=1.0, ge=0, le=60)
    # Connections per worker process (PostgreSQL); as many again may overflow briefly.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    sms_backend: str = "console"
    # Settings of the HTTP SMS provider (used when sms_backend is "http").
    sms_http_url: str | None = None
    sms_http_token: str | None = None
    sms_http_timeout_seconds: float = 5.0
    keyring: Path = Path("var/keyring.json")
    # The base URL the public reaches this server at; certificates name it as issuer.
    public_url: str = "http://127.0.0.1:8000"
    # /.well-known/security.txt (RFC 9116): where to report (default security@<public host>)
    # and how many days ahead its Expires lies (at most a year).
    security_contact: str | None = None
    security_txt_valid_days: int = Field(default=180, ge=1, le=365)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Host names the server answers to besides the public URL's (e.g. a node name the load
    # balancer's health check uses); a request naming any other Host is refused (400).
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    otp_ttl_seconds: int = 180
    otp_max_attempts: int = 3
    otp_mobile_failure_ceiling: int = 10
    otp_lockout_base_seconds: int = 600
    otp_lockout_max_seconds: int = 3600
    otp_sends_per_15min: int = 3
    otp_sends_per_day: int = 10
    otp_sends_per_address_per_hour: int = 60
    citizen_token_seconds: int = 900
    public_requests_per_5min: int = 100
    api_requests_per_minute: int = 600
    max_beneficiaries_per_mobile: int = 6
    # Registrations an account may make per day, whatever the ID (deletions do not give
    # them back): bounds probing and the SMS a duplicate sends to the ID's holder.
    registrations_per_account_per_day: int = Field(default=10, ge=1)
    max_body_bytes: int = 64 * 1024
    max_json_depth: int = 32
    public_cache_seconds: int = 5
    # With Redis, each worker also keeps answers this long in memory (cross-worker staleness).
    public_cache_local_seconds: int = Field(default=1, ge=0, le=5)
    # argon2id memory for staff passwords (time cost 3 is fixed); tests may lower it.
    staff_password_memory_kib: int = Field(default=65536, ge=1024, le=1048576)
    # Failed staff logins, per 15 minutes: per (username, address) and per address; and a
    # much higher per-username ceiling per hour (NIST SP 800-63B 5.2.2: at most 100), so a
    # guesser elsewhere cannot lock a vaccinator out of their day with five wrong passwords.
    staff_login_failures_per_user_address: int = Field(default=5, ge=1, le=100)
    staff_login_failures_per_address: int = Field(default=20, ge=1, le=1000)
    staff_login_failures_per_user: int = Field(default=100, ge=1, le=100)
    # Every staff login attempt from one address per 15 minutes, successful or not
    # (credential stuffing across users); raised only by test runs such as the fuzzer's.
    staff_login_attempts_per_address: int = Field(default=60, ge=1, le=10**6)
    # Insider-misuse defences (staff/misuse.py); the read and look-up quotas are below.
    staff_wrong_codes_per_day: int = Field(default=20, ge=1)
    staff_breaches_before_suspension: int = Field(default=3, ge=1)
    break_glass_per_day: int = Field(default=3, ge=0)
    break_glass_grant_seconds: int = Field(default=900, ge=60, le=86400)
    # Citizens' reports of an access ("not me"): per account per day. A user's look-ups
    # freeze on an admin's decision, or once this many distinct accounts report them.
    citizen_disputes_per_day: int = Field(default=3, ge=1)
    dispute_freeze_accounts: int = Field(default=3, ge=2)
    # Research data (immunet/research, issue #10 §4): aggregate cells under the threshold are
    # suppressed (with complementary suppression); extracts must be k-anonymous (k >= 10);
    # each research client has this much epsilon per dataset for differentially private
    # counts, and one person contributes at most this many records to one such count.
    research_suppression_threshold: int = Field(default=10, ge=3, le=1000)
    research_k_anonymity: int = Field(default=10, ge=10, le=1000)
    research_epsilon_per_dataset: float = Field(default=1.0, gt=0, le=10)
    research_max_contributions: int = Field(default=4, ge=1, le=50)
    # The audit sequencer as a task of each `serve`/`demo` worker (one wins the election);
    # false on web nodes when `immunet sequencer` runs as its own process.
    run_sequencer: bool = True
    # Signed audit checkpoints when no sequencer runs: inline, at least every N entries or
    # every N seconds (lazily, on a proof or checkpoint request).
    # The SMS outbox: an in-process worker in each `serve`/`demo` worker (false on web
    # nodes when `immunet worker` processes drain it), its poll interval, attempts before
    # a message is dead-lettered, back-off (doubling from base, capped, jittered), and
    # the lease a claimed message is held for (longer than a provider call can take).
    run_outbox_worker: bool = True
    outbox_poll_seconds: float = Field(default=1.0, ge=0.05, le=60)
    outbox_max_attempts: int = Field(default=8, ge=1, le=50)
    outbox_backoff_base_seconds: float = Field(default=2.0, ge=0.01, le=3600)
    outbox_backoff_max_seconds: float = Field(default=900.0, ge=0.01, le=86400)
    outbox_lease_seconds: int = Field(default=60, ge=5, le=3600)
    outbox_batch: int = Field(default=20, ge=1, le=500)
    # PostgreSQL: an OTP's commit NOTIFYs the `immunet worker` processes (LISTEN), so they
    # send it at once rather than at their next poll.
    outbox_notify: bool = True
    # Operations (decision 0019): Prometheus metrics on their own listener (off unless a
    # port is set; loopback unless told otherwise: never the public port), log lines as
    # JSON objects or plain text, how long a Redis call may take before it counts as down,
    # and the ages past which /readyz reports the outbox and the sequencer as lagging.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    log_format: Literal["json", "text"] = "json"
    redis_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    ready_outbox_max_age_seconds: int = Field(default=300, ge=1)
    ready_sequencer_max_age_seconds: int = Field(default=60, ge=1)
    audit_checkpoint_every_entries: int = Field(default=1000, ge=1)
    audit_checkpoint_every_seconds: int = Field(default=300, ge=1)
    # Vaccination: person-record reads per staff user (roster reads exempt), wrong
    # secret codes, OTP look-ups, and how far back a dose may be recorded.
    staff_reads_per_hour: int = Field(default=60, ge=1)
    staff_reads_per_day: int = Field(default=300, ge=1)
    staff_code_failures_per_hour: int = Field(default=20, ge=1)
    staff_otp_lookups_per_hour: int = Field(default=30, ge=1)
    staff_otp_lookups_per_day: int = Field(default=100, ge=1)
    staff_otp_grant_seconds: int = Field(default=1800, ge=60, le=4 * 3600)
    appointment_code_max_failures: int = Field(default=5, ge=1, le=20)
    dose_backdate_days: int = Field(default=1, ge=0, le=30)

    @field_validator("trusted_proxies", "allowed_hosts", "database_replica_urls", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_replica_urls")
    @classmethod
    def _postgresql_replicas(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("postgresql://", "postgres://")):
                raise ValueError("replica URLs are postgresql:// URLs")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _plain_host_names(cls, value: list[str]) -> list[str]:
        for host in value:
            if not host or any(ch in host for ch in "/:@ ?#*"):
                raise ValueError("allowed hosts are plain host names, without scheme or port")
        return [host.lower() for host in value]

    @field_validator("otp_ttl_seconds")
    @classmethod
    def _bounded_ttl(cls, value: int) -> int:
        if not 30 <= value <= OTP_TTL_CEILING_SECONDS:
            raise ValueError(f"OTP lifetime must be between 30 and {OTP_TTL_CEILING_SECONDS} s")
        return value

    @field_validator("otp_max_attempts")
    @classmethod
    def _bounded_attempts(cls, value: int) -> int:
        if not 1 <= value <= 5:
            raise ValueError("OTP attempts per transaction must be between 1 and 5")
        return value

    @field_validator("otp_mobile_failure_ceiling")
    @classmethod
    def _bounded_ceiling(cls, value: int) -> int:
        if not 3 <= value <= 100:
            raise ValueError("the per-mobile failure ceiling must be between 3 and 100")
        return value

    @model_validator(mode="after")
    def _production_guards(self) -> Settings:
        if self.outbox_lease_seconds <= 2 * self.sms_http_timeout_seconds:
            # A lease that can lapse during a provider call lets a second worker resend.
            raise ValueError("IMMUNET_OUTBOX_LEASE_SECONDS must exceed twice the SMS timeout")
        if self.env is Environment.PRODUCTION:
            if not self.public_url.startswith("https://"):
                raise ValueError("production needs IMMUNET_PUBLIC_URL with https://")
            if self.sms_backend in ("console",) or self.sms_backend.startswith("file:"):
                raise ValueError("production refuses the console and file SMS backends")
            if self.sms_backend == "http" and not (self.sms_http_url and self.sms_http_token):
                raise ValueError("production needs IMMUNET_SMS_HTTP_URL and IMMUNET_SMS_HTTP_TOKEN")
            # The provider receives the bearer token and every OTP: never in clear text.
            if self.sms_http_url is not None and not self.sms_http_url.startswith("https://"):
                raise ValueError("production needs IMMUNET_SMS_HTTP_URL with https://")
        if urlsplit(self.public_url).hostname is None:
            raise ValueError("IMMUNET_PUBLIC_URL needs a host name")
        if self.staff_login_failures_per_user < self.staff_login_failures_per_user_address:
            raise ValueError("the per-user login failure ceiling is below the per-address one")
        return self

    @property
    def trusted_hosts(self) -> frozenset[str]:
        """Host names a request may name: the public URL's, the allowed ones, and the
        loopback names outside production (``testserver`` is the test client's)."""
        hosts = {urlsplit(self.public_url).hostname or "", *self.allowed_hosts}
        if self.env is not Environment.PRODUCTION:
            hosts |= {"localhost", "127.0.0.1", "::1"}
        if self.env is Environment.TEST:
            hosts.add("testserver")
        return frozenset(h for h in hosts if h)

    @property
    def serves_https(self) -> bool:
        """The public URL is https, so answers carry Strict-Transport-Security."""
        return self.public_url.startswith("https://")

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
