"""Every EU DCC test vector, every flag in EXPECTEDRESULTS, through immunet's own decoding steps.

A flag that is absent is skipped; ``true`` must succeed; ``false`` must fail cleanly. Inputs come
from the vector itself; a stage the vector omits is derived from the previous stage. Vectors in
``eu_dcc_known_quirks.json`` are expected to disagree (xfail, strict).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import pytest

from conftest import DATA
from immunet.certificates import dcc
from immunet.certificates._safe import DecodeError
from immunet.certificates.keys import dcc_kid
from immunet.certificates.trust import DccSigner, TrustList
from immunet.certificates.verify import verify_qr

VECTORS = DATA / "eu-dcc" / "testdata"
QUIRKS = json.loads((Path(__file__).parent / "eu_dcc_known_quirks.json").read_text())["quirks"]
QUIRK_KEYS = {(q["vector"], q["flag"]): q["reason"] for q in QUIRKS}
STEPS = (
    "EXPECTEDPICTUREDECODE",
    "EXPECTEDUNPREFIX",
    "EXPECTEDB45DECODE",
    "EXPECTEDCOMPRESSION",
    "EXPECTEDVERIFY",
    "EXPECTEDDECODE",
    "EXPECTEDVALIDJSON",
    "EXPECTEDSCHEMAVALIDATION",
    "EXPECTEDEXPIRATIONCHECK",
    "EXPECTEDKEYUSAGE",
    "EXPECTEDVALIDOBJECT",
    "EXPECTEDENCODE",
)


def _vector_files() -> list[Path]:
    # case-insensitive: IE uses 2DCode/Raw, PT adds a schema-version level
    return sorted(p for p in VECTORS.rglob("*.json") if "/2dcode/raw/" in p.as_posix().lower())


FILES = _vector_files()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _name(path: Path) -> str:
    return path.relative_to(VECTORS).as_posix()


def _cases() -> list[Any]:
    cases = []
    for path in FILES:
        expected = _load(path).get("EXPECTEDRESULTS", {})
        for flag in STEPS:
            if flag not in expected:
                continue
            marks = []
            if (_name(path), flag) in QUIRK_KEYS:
                marks.append(pytest.mark.xfail(reason=QUIRK_KEYS[(_name(path), flag)], strict=True))
            cases.append(
                pytest.param(path, flag, expected[flag], id=f"{_name(path)}:{flag}", marks=marks)
            )
    return cases


# -- stage derivation ----------------------------------------------------------------------------


def _base45(v: dict[str, Any]) -> str:
    return v["BASE45"] if "BASE45" in v else dcc.unprefix(v["PREFIX"])


def _compressed(v: dict[str, Any]) -> bytes:
    return bytes.fromhex(v["COMPRESSED"]) if "COMPRESSED" in v else dcc.base45_decode(_base45(v))


def _cose(v: dict[str, Any]) -> bytes:
    return bytes.fromhex(v["COSE"]) if "COSE" in v else dcc.decompress(_compressed(v))


def _has_cose(v: dict[str, Any]) -> bool:
    return any(k in v for k in ("COSE", "COMPRESSED", "BASE45", "PREFIX"))


def _claims(v: dict[str, Any]) -> dict[Any, Any]:
    return dcc.decode_claims(dcc.parse_cose(_cose(v)).payload)


def _cbor_level(v: dict[str, Any]) -> Any:
    """The vector's CBOR field: either the whole claims map or the payload alone."""
    return dcc.to_jsonable(cbor2.loads(bytes.fromhex(v["CBOR"])))


def _payload(v: dict[str, Any]) -> dict[str, Any]:
    if _has_cose(v):
        return dcc.hcert_payload(_claims(v))
    if "CBOR" in v:
        obj = _cbor_level(v)
        return obj["-260"]["1"] if "-260" in obj else obj
    return dict(v["JSON"])


def _same(a: Any, b: Any) -> bool:
    """Structural equality where date-times compare as instants ("+00:00" equals "Z")."""
    return bool(_norm(a) == _norm(b))


def _norm(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _norm(x) for k, x in value.items()}
    if isinstance(value, list):
        return [_norm(x) for x in value]
    if isinstance(value, str) and len(value) > 10 and value[4:5] == "-" and "T" in value:
        try:
            t = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()
    return value


def _signer(v: dict[str, Any]) -> DccSigner:
    der = base64.b64decode(v["TESTCTX"]["CERTIFICATE"])
    return DccSigner(dcc_kid(der), der)


def _clock(v: dict[str, Any]) -> dt.datetime:
    clock = dt.datetime.fromisoformat(v["TESTCTX"]["VALIDATIONCLOCK"])
    return clock if clock.tzinfo else clock.replace(tzinfo=dt.UTC)


# -- the steps -----------------------------------------------------------------------------------


def step_picture(v: dict[str, Any]) -> bool:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    png = v.get("2DCODE") or v.get("_2DCODE")
    if png is None:  # the flag is set but the vector carries no image (IE/*, common/B1)
        pytest.skip("vector has no 2DCODE image")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(png)))
        results = zxingcpp.read_barcodes(image)
    except Exception:  # an unreadable image is a failed picture decode (common/Q1)
        return False
    return bool(results) and results[0].text == v["PREFIX"]


def step_unprefix(v: dict[str, Any]) -> bool:
    return dcc.unprefix(v["PREFIX"]) == v.get("BASE45", dcc.unprefix(v["PREFIX"]))


def step_b45(v: dict[str, Any]) -> bool:
    data = dcc.base45_decode(_base45(v))
    return "COMPRESSED" not in v or data == bytes.fromhex(v["COMPRESSED"])


def step_compression(v: dict[str, Any]) -> bool:
    data = dcc.decompress(_compressed(v))
    return "COSE" not in v or data == bytes.fromhex(v["COSE"])


def step_verify(v: dict[str, Any]) -> bool:
    cose = dcc.parse_cose(_cose(v))
    signer = _signer(v)
    if cose.kid is None or base64.b64encode(cose.kid).decode() != signer.kid:
        return False
    return dcc.verify_signature(cose, signer.public_key())


def step_decode(v: dict[str, Any]) -> bool:
    if _has_cose(v):
        claims = _claims(v)
        payload = dcc.hcert_payload(claims)
        if "CBOR" in v:
            cbor = _cbor_level(v)
            carried = dcc.to_jsonable(claims) if "-260" in cbor else payload
            if not _same(cbor, carried):
                return False
    else:
        cbor = _cbor_level(v)
        payload = cbor["-260"]["1"] if isinstance(cbor, dict) and "-260" in cbor else cbor
        if not isinstance(payload, dict):
            return False
    return "JSON" not in v or _same(payload, v["JSON"])


def step_valid_json(v: dict[str, Any]) -> bool:
    return _same(_payload(v), v["JSON"])


def step_schema(v: dict[str, Any]) -> bool:
    return not dcc.schema_errors(_payload(v))


def step_expiration(v: dict[str, Any]) -> bool:
    return dcc.check_time(_claims(v), _signer(v).certificate, _clock(v))


def step_key_usage(v: dict[str, Any]) -> bool:
    return dcc.certificate_type(_payload(v)) in _signer(v).allowed_types()


def step_valid_object(v: dict[str, Any]) -> bool:
    return not dcc.schema_errors(v["JSON"])


def step_encode(v: dict[str, Any]) -> bool:
    encoded = dcc.to_jsonable(cbor2.loads(cbor2.dumps(v["JSON"])))
    if "CBOR" not in v:  # compare with what the COSE carries
        return _same(encoded, _payload(v))
    cbor = _cbor_level(v)
    if isinstance(cbor, dict) and "-260" in cbor:
        cbor = cbor["-260"]["1"]
    return _same(encoded, cbor)


STEP_FUNCS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "EXPECTEDPICTUREDECODE": step_picture,
    "EXPECTEDUNPREFIX": step_unprefix,
    "EXPECTEDB45DECODE": step_b45,
    "EXPECTEDCOMPRESSION": step_compression,
    "EXPECTEDVERIFY": step_verify,
    "EXPECTEDDECODE": step_decode,
    "EXPECTEDVALIDJSON": step_valid_json,
    "EXPECTEDSCHEMAVALIDATION": step_schema,
    "EXPECTEDEXPIRATIONCHECK": step_expiration,
    "EXPECTEDKEYUSAGE": step_key_usage,
    "EXPECTEDVALIDOBJECT": step_valid_object,
    "EXPECTEDENCODE": step_encode,
}


def test_vector_inventory() -> None:
    assert len(FILES) == 187
    assert sum(1 for f in FILES if f.parent.name == "Raw") == 4  # IE
    assert sum(1 for f in FILES if "PT/1." in _name(f)) == 10  # version subfolders


@pytest.mark.parametrize(("path", "flag", "expected"), _cases())
def test_vector_step(path: Path, flag: str, expected: bool) -> None:
    vector = _load(path)
    try:
        ok = STEP_FUNCS[flag](vector)
    except DecodeError:
        ok = False
    assert ok is expected


def _first_stage_failure(v: dict[str, Any]) -> bool:
    er = v.get("EXPECTEDRESULTS", {})
    return any(er.get(f) is False for f in STEPS if f != "EXPECTEDPICTUREDECODE")


@pytest.mark.parametrize("path", [f for f in FILES if "PREFIX" in _load(f)], ids=_name)
def test_vector_end_to_end(path: Path) -> None:
    """verify_qr on the QR text: a vector with any false flag is invalid; a vector whose
    verification flags are all present and true is valid. Never an exception."""
    v = _load(path)
    er = v.get("EXPECTEDRESULTS", {})
    trust = TrustList()
    if "CERTIFICATE" in v.get("TESTCTX", {}):
        trust.add_dcc(base64.b64decode(v["TESTCTX"]["CERTIFICATE"]))
    result = verify_qr(
        v["PREFIX"], trust, at=_clock(v) if "VALIDATIONCLOCK" in v.get("TESTCTX", {}) else None
    )
    assert result.format in ("dcc", None)
    quirky = any(_name(path) == q[0] for q in QUIRK_KEYS)
    if _first_stage_failure(v):
        assert not result.valid
        return
    needed = (
        "EXPECTEDVERIFY",
        "EXPECTEDSCHEMAVALIDATION",
        "EXPECTEDEXPIRATIONCHECK",
        "EXPECTEDKEYUSAGE",
    )
    if all(er.get(f) is True for f in needed) and not quirky:
        assert result.valid, result
        assert result.reason == "ok"
