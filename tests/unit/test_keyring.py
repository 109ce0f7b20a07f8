"""Key ring: AES-GCM field sealing, context binding, rotation, derived secrets."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from immunet.security.keyring import DecryptionError, FieldCipher, Keyring, KeyringError, Purpose


@pytest.fixture(scope="module")
def ring() -> Keyring:
    return Keyring.generate(environment="test")


@given(st.text(max_size=200))
def test_round_trip(text):
    ring = Keyring.generate(environment="test")
    blob = ring.field_cipher.encrypt(text, context="beneficiary:1:name")
    assert ring.field_cipher.decrypt(blob, context="beneficiary:1:name") == text


def test_ciphertext_is_randomized_and_hides_plaintext(ring):
    a = ring.field_cipher.encrypt("Asha Kumari", context="c")
    b = ring.field_cipher.encrypt("Asha Kumari", context="c")
    assert a != b
    assert b"Asha" not in a


def test_moving_a_ciphertext_to_another_row_fails(ring):
    blob = ring.field_cipher.encrypt("Asha", context="beneficiary:1:name")
    with pytest.raises(DecryptionError):
        ring.field_cipher.decrypt(blob, context="beneficiary:2:name")


def test_tampering_fails(ring):
    blob = bytearray(ring.field_cipher.encrypt("Asha", context="c"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        ring.field_cipher.decrypt(bytes(blob), context="c")
    with pytest.raises(DecryptionError):
        ring.field_cipher.decrypt(b"\x01\x00", context="c")


def test_rotation_keeps_old_ciphertexts_readable(ring, tmp_path):
    path = tmp_path / "ring.json"
    ring.save(path)
    loaded = Keyring.load(path)
    old = loaded.field_cipher.encrypt("before", context="c")
    loaded.rotate()
    assert loaded.current_field_version == 2
    assert FieldCipher.version_of(old) == 1
    assert loaded.field_cipher.decrypt(old, context="c") == "before"
    new = loaded.field_cipher.reencrypt(old, context="c")
    assert FieldCipher.version_of(new) == 2 and loaded.field_cipher.is_current(new)


def test_keyring_file_is_private(ring, tmp_path):
    path = tmp_path / "ring.json"
    ring.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_missing_or_malformed_keyring_refused(tmp_path):
    with pytest.raises(KeyringError):
        Keyring.load(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1}')
    with pytest.raises(KeyringError):
        Keyring.load(bad)


def test_each_purpose_has_its_own_secret(ring):
    secrets = {ring.secret(p) for p in Purpose}
    assert len(secrets) == len(Purpose)
    assert ring.blind_index(Purpose.MOBILE_INDEX)("9876543210") != ring.blind_index(
        Purpose.ID_NUMBER_INDEX
    )("9876543210")


def test_keyed_digest_compares_in_constant_time_helper(ring):
    digest = ring.digest(Purpose.OTP_DIGEST)
    value = digest("txn", "code")
    assert digest.matches(value, "txn", "code")
    assert not digest.matches(value, "txn", "other")
