"""The key ring: versioned field-encryption keys, vault keys and per-purpose secrets.

The key ring is a JSON file (``IMMUNET_KEYRING``) written with mode 0600. Field keys and
vault keys are versioned so that ``immunet keys rotate`` can add a key and
``immunet keys reencrypt`` can move every ciphertext onto it while the service runs;
every ciphertext names the version that sealed it. Blind-index keys and token secrets are
derived per purpose from a root secret with HKDF, so that no two purposes share a key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import struct
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEYRING_FORMAT = 1
_CIPHERTEXT_MAGIC = 0x01
_NONCE_BYTES = 12
_HEADER = struct.Struct(">BH")


class KeyringError(RuntimeError):
    """The key ring is missing, unreadable or unfit for this environment."""


class DecryptionError(RuntimeError):
    """A ciphertext failed authentication or names an unknown key version."""


class Purpose(StrEnum):
    """One derived secret per purpose; never reuse one for another."""

    MOBILE_INDEX = "blind-index:mobile"
    ID_NUMBER_INDEX = "blind-index:id-number"
    AADHAAR_INDEX = "blind-index:aadhaar"
    OTP_DIGEST = "digest:otp"
    APPOINTMENT_CODE_DIGEST = "digest:appointment-code"
    CITIZEN_TOKEN = "token:citizen"  # noqa: S105 - a purpose label, not a secret
    STAFF_TOKEN = "token:staff"  # noqa: S105
    PARTNER_TOKEN = "token:partner"  # noqa: S105
    RATE_LIMIT_KEY = "digest:rate-limit"
    IDEMPOTENCY_KEY = "digest:idempotency"
    PARTNER_API_KEY = "digest:partner-api-key"
    # Per research client: the secret is derived for "pseudonym:research:<client_id>", so
    # two clients' pseudonyms of one person differ and cannot be joined.
    RESEARCH_PSEUDONYM = "pseudonym:research"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass
class Keyring:
    environment: str
    field_keys: dict[int, bytes]
    current_field_version: int
    vault_keys: dict[int, bytes]
    current_vault_version: int
    root_secret: bytes
    created_at: str = ""
    _derived: dict[str, bytes] = field(default_factory=dict, repr=False)

    # -- construction and persistence ---------------------------------------------------
    @classmethod
    def generate(cls, *, environment: str) -> Keyring:
        return cls(
            environment=environment,
            field_keys={1: AESGCM.generate_key(bit_length=256)},
            current_field_version=1,
            vault_keys={1: AESGCM.generate_key(bit_length=256)},
            current_vault_version=1,
            root_secret=secrets.token_bytes(32),
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )

    @classmethod
    def load(cls, path: Path) -> Keyring:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise KeyringError(
                f"no key ring at {path}; create one with `immunet keys init`"
            ) from exc
        except (OSError, ValueError) as exc:
            raise KeyringError(f"the key ring at {path} cannot be read") from exc
        try:
            if raw["format"] != KEYRING_FORMAT:
                raise KeyringError(f"unsupported key ring format {raw['format']!r}")
            ring = cls(
                environment=str(raw["environment"]),
                field_keys={int(k): _unb64(v) for k, v in raw["field_keys"].items()},
                current_field_version=int(raw["current_field_version"]),
                vault_keys={int(k): _unb64(v) for k, v in raw["vault_keys"].items()},
                current_vault_version=int(raw["current_vault_version"]),
                root_secret=_unb64(raw["root_secret"]),
                created_at=str(raw.get("created_at", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyringError(f"the key ring at {path} is malformed") from exc
        ring._check()
        return ring

    def _check(self) -> None:
        if self.current_field_version not in self.field_keys:
            raise KeyringError("the current field key version is missing")
        if self.current_vault_version not in self.vault_keys:
            raise KeyringError("the current vault key version is missing")
        for key in [*self.field_keys.values(), *self.vault_keys.values()]:
            if len(key) != 32:
                raise KeyringError("every data key must be 256 bits")
        if len(self.root_secret) < 32:
            raise KeyringError("the root secret must be at least 256 bits")

    def save(self, path: Path) -> None:
        payload = {
            "format": KEYRING_FORMAT,
            "environment": self.environment,
            "created_at": self.created_at,
            "field_keys": {str(k): _b64(v) for k, v in sorted(self.field_keys.items())},
            "current_field_version": self.current_field_version,
            "vault_keys": {str(k): _b64(v) for k, v in sorted(self.vault_keys.items())},
            "current_vault_version": self.current_vault_version,
            "root_secret": _b64(self.root_secret),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
        os.replace(tmp, path)

    def rotate(self) -> tuple[int, int]:
        """Add a new field key and a new vault key and make them current."""
        field_version = max(self.field_keys) + 1
        vault_version = max(self.vault_keys) + 1
        self.field_keys[field_version] = AESGCM.generate_key(bit_length=256)
        self.vault_keys[vault_version] = AESGCM.generate_key(bit_length=256)
        self.current_field_version = field_version
        self.current_vault_version = vault_version
        return field_version, vault_version

    # -- derived secrets -----------------------------------------------------------------
    def secret(self, purpose: Purpose | str) -> bytes:
        label = str(purpose)
        cached = self._derived.get(label)
        if cached is None:
            cached = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=b"immunet-keyring-v1",
                info=label.encode("utf-8"),
            ).derive(self.root_secret)
            self._derived[label] = cached
        return cached

    @property
    def field_cipher(self) -> FieldCipher:
        return FieldCipher(self.field_keys, self.current_field_version)

    @property
    def vault_cipher(self) -> FieldCipher:
        return FieldCipher(self.vault_keys, self.current_vault_version)

    def blind_index(self, purpose: Purpose) -> BlindIndex:
        return BlindIndex(self.secret(purpose))

    def digest(self, purpose: Purpose) -> KeyedDigest:
        return KeyedDigest(self.secret(purpose))


class FieldCipher:
    """AES-256-GCM for one field at a time; the additional data binds it to its place."""

    def __init__(self, keys: dict[int, bytes], current_version: int) -> None:
        self._keys = {version: AESGCM(key) for version, key in keys.items()}
        self.current_version = current_version

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.current_version].encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        return _HEADER.pack(_CIPHERTEXT_MAGIC, self.current_version) + nonce + sealed

    def decrypt(self, blob: bytes, *, context: str) -> str:
        version = self.version_of(blob)
        key = self._keys.get(version)
        if key is None:
            raise DecryptionError(f"no key of version {version}")
        nonce = blob[_HEADER.size : _HEADER.size + _NONCE_BYTES]
        sealed = blob[_HEADER.size + _NONCE_BYTES :]
        try:
            plain = key.decrypt(nonce, sealed, context.encode("utf-8"))
        except Exception as exc:  # InvalidTag: tampered, moved or wrong key
            raise DecryptionError("ciphertext failed authentication") from exc
        return plain.decode("utf-8")

    @staticmethod
    def version_of(blob: bytes) -> int:
        if len(blob) < _HEADER.size + _NONCE_BYTES + 16:
            raise DecryptionError("ciphertext too short")
        magic, version = _HEADER.unpack_from(blob)
        if magic != _CIPHERTEXT_MAGIC:
            raise DecryptionError("not an immunet ciphertext")
        return int(version)

    def is_current(self, blob: bytes) -> bool:
        return self.version_of(blob) == self.current_version

    def reencrypt(self, blob: bytes, *, context: str) -> bytes:
        return self.encrypt(self.decrypt(blob, context=context), context=context)


class BlindIndex:
    """HMAC-SHA256 over an already-normalized value: equality look-ups without plaintext."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, normalized: str) -> str:
        return hmac.new(self._key, normalized.encode("utf-8"), hashlib.sha256).hexdigest()


class KeyedDigest:
    """Keyed digests of secrets (OTPs, codes, tokens) with constant-time comparison."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def matches(self, expected_hex: str, *parts: str) -> bool:
        return hmac.compare_digest(expected_hex, self(*parts))
