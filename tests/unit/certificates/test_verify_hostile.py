"""Hostile input to the verifier: always a clean invalid answer, quickly, never an exception."""

from __future__ import annotations

import base64
import io
import time
import zipfile
import zlib

import cbor2
import pytest

from conftest import NOW, make_record
from immunet.certificates import TrustList, issue_all, verify_qr
from immunet.certificates.base45 import b45encode
from immunet.certificates.keys import CertificateKeySet
from immunet.certificates.shc import to_numeric

FAST = 1.0  # seconds per hostile input; real answers take milliseconds


def _check(
    text: object, trust: TrustList | None = None, reason: str | None = "bad_encoding"
) -> None:
    start = time.perf_counter()
    result = verify_qr(text, trust or TrustList(), at=NOW)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    assert not result.valid
    if reason:
        assert result.reason == reason, result
    assert elapsed < FAST, elapsed
    assert set(result.to_dict()) == {"valid", "format", "reason", "fields"}


@pytest.fixture(scope="module")
def good(keyset: CertificateKeySet) -> dict:
    return issue_all(make_record(), keyset)


@pytest.mark.parametrize("fmt", ["dcc", "vc"])
def test_truncated(good: dict, keyset: CertificateKeySet, fmt: str) -> None:
    text = good[fmt]["qr"]
    for cut in (5, len(text) // 2, len(text) - 3):
        _check(text[:cut], TrustList.from_keyset(keyset), reason=None)


def test_truncated_shc(good: dict, keyset: CertificateKeySet) -> None:
    text = good["shc"]["qr"][0]
    for cut in (6, len(text) // 2, len(text) - 2):
        _check(text[:cut], TrustList.from_keyset(keyset), reason=None)


@pytest.mark.parametrize("prefix", ["HC1:", "shc:/", "", "UEsDB"])
def test_ten_megabytes(prefix: str) -> None:
    _check(prefix + "A" * (10 * 1024 * 1024))
    _check((prefix + "A" * (10 * 1024 * 1024)).encode())


def test_zip_bomb_hc1() -> None:
    bomb = zlib.compress(b"\0" * (50 * 1024 * 1024), 9)  # ~50 KiB → 50 MiB
    _check("HC1:" + b45encode(bomb[:8000]))  # truncated bomb
    small_bomb = zlib.compress(b"\0" * (5 * 1024 * 1024), 9)  # 5 KiB → 5 MiB, fits the text cap
    assert len(b45encode(small_bomb)) < 16 * 1024
    _check("HC1:" + b45encode(small_bomb))


def test_zip_bomb_shc() -> None:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(b"{" + b" " * (5 * 1024 * 1024)) + comp.flush()
    jws = (
        "eyJ6aXAiOiJERUYiLCJhbGciOiJFUzI1NiIsImtpZCI6IngifQ."
        + base64.urlsafe_b64encode(body).rstrip(b"=").decode()
        + ".AA"
    )
    _check("shc:/" + to_numeric(jws))


def test_zip_bomb_vc() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("certificate.json", b" " * (5 * 1024 * 1024))
    _check(base64.b64encode(buf.getvalue()).decode())


def test_zip_with_lying_size_header() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("certificate.json", b"[" * 200_000)
    _check(base64.b64encode(buf.getvalue()).decode())


def test_deeply_nested_cbor() -> None:
    nested = b"\x81" * 100_000 + b"\x00"  # 100k nested arrays
    _check("HC1:" + b45encode(zlib.compress(nested)))
    inner = cbor2.dumps(cbor2.CBORTag(18, [b"\xa0", {}, b"\x81" * 5000 + b"\x00", b"\0" * 64]))
    _check("HC1:" + b45encode(zlib.compress(inner)))


def test_cbor_huge_declared_lengths() -> None:
    for blob in (
        b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\x9b\x00\x00\x00\x10\x00\x00\x00\x00",
        b"\xbb\x00\x00\x00\x10\x00\x00\x00\x00",
    ):
        _check("HC1:" + b45encode(zlib.compress(blob)))


def test_cbor_weird_types() -> None:
    for obj in (
        [1, 2, 3, 4],
        cbor2.CBORTag(18, [1, 2, 3, 4]),
        cbor2.CBORTag(99, []),
        {"a": 1},
        cbor2.CBORTag(1, 10**30),
    ):
        _check("HC1:" + b45encode(zlib.compress(cbor2.dumps(obj))))


@pytest.mark.parametrize(
    "text",
    [
        "HC2:NCFOXN",
        "HL0:NCFOXN",
        "hc1:NCFOXN",
        "NCFOXN%TS3DH",
        "shc:/9",
        "shc:/99",
        "shc:/1/2/00",
        "",
        "   ",
        "\x00\x01",
    ],
)
def test_wrong_prefix_and_junk(text: str) -> None:
    _check(text)


def test_non_utf8() -> None:
    _check(b"HC1:\xff\xfe\xfd")
    _check(b"\xc3\x28" * 10)
    _check("HC1:\udcff")  # lone surrogate


def test_bad_json_in_shc() -> None:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(b"[" * 100_000) + comp.flush()
    jws = (
        "eyJ6aXAiOiJERUYiLCJhbGciOiJFUzI1NiIsImtpZCI6IngifQ."
        + base64.urlsafe_b64encode(body).rstrip(b"=").decode()
        + ".AA"
    )
    _check("shc:/" + to_numeric(jws))


def test_vc_with_unbundled_context(keyset: CertificateKeySet, good: dict) -> None:

    cred = dict(good["vc"]["credential"])
    cred["@context"] = [*cred["@context"], "https://evil.example/ctx"]
    from immunet.certificates.vc import to_qr

    _check(to_qr(cred), TrustList.from_keyset(keyset))


def test_non_string_inputs() -> None:
    _check(None)  # type: ignore[arg-type]
    _check(12345)  # type: ignore[arg-type]
    _check([])
    _check(["HC1:A", "HC1:B"])
