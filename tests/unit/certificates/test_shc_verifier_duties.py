"""The SMART Health Cards verifier against the spec's text and the dev-tools vectors.

Every input form people hold is accepted (QR text, raw JWS, .smart-health-card file, FHIR
$health-cards-issue response, image of the QR); every input the spec says a verifier SHALL
refuse is refused, each from a public vector (tests/data/shc/dev-tools, MIT) or built from the
spec's own example by the rule the spec states.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from pathlib import Path

import pytest
import segno
from PIL import Image

from conftest import DATA
from immunet.certificates import inputs, shc
from immunet.certificates.trust import (
    InvalidTrustEntry,
    ShcIssuer,
    TrustList,
    check_x5c_binding,
    x5c_path_error,
)
from immunet.certificates.verify import verify_qr

EX = DATA / "shc" / "spec-examples"
DT = DATA / "shc" / "dev-tools"
ISS = "https://spec.smarthealth.cards/examples/issuer"
AT = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
BEFORE_X5C_EXPIRY = dt.datetime(2022, 5, 31, tzinfo=dt.UTC)
KEYS = json.loads((EX / "issuer" / ".well-known" / "jwks.json").read_text())["keys"]
CRLS = {
    p.stem: json.loads(p.read_text())
    for p in (EX / "issuer" / ".well-known" / "crl").glob("*.json")
}


def _trust(iss: str = ISS) -> TrustList:
    return TrustList.from_dict({"shc": [{"iss": iss, "keys": KEYS}], "revoked": {"shc": CRLS}})


def _text(name: str) -> str:
    return (DT / name).read_text()


def _bytes(name: str) -> bytes:
    return (DT / name).read_bytes()


# -- every input form --------------------------------------------------------------------------


@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_smart_health_card_file_verifies(as_bytes: bool) -> None:
    data = (EX / "example-00-e-file.smart-health-card").read_bytes()
    result = verify_qr(data if as_bytes else data.decode(), _trust(), at=AT)
    assert (result.valid, result.format, result.fields["rid"]) == (True, "shc", "MKyCxh7p6uQ")
    assert verify_qr(json.loads(data), _trust(), at=AT).valid  # already parsed (API)


def test_a_raw_compact_jws_verifies() -> None:
    jws = (EX / "example-00-d-jws.txt").read_text()
    assert verify_qr(jws, _trust(), at=AT).valid
    assert verify_qr(jws.strip(), _trust(), at=AT).valid
    assert verify_qr([jws.strip()], _trust(), at=AT).valid


def test_a_health_cards_issue_response_verifies() -> None:
    assert verify_qr(_text("test-example-00-fhirhealthcard.json"), _trust(), at=AT).valid


def test_several_credentials_each_get_a_result() -> None:
    # Two cards: the second is signed by the x5c key, whose leaf certificate expired 2022-06-01.
    doc = _text("test-example-00-fhirhealthcard-with-resource-link.json")
    early = verify_qr(doc, _trust(), at=BEFORE_X5C_EXPIRY)
    assert early.valid and [c["valid"] for c in early.fields["credentials"]] == [True, True]
    late = verify_qr(doc, _trust(), at=AT)
    assert (late.valid, late.reason) == (False, "key_not_allowed")
    assert [c["valid"] for c in late.fields["credentials"]] == [True, False]
    multi = verify_qr(
        _text("test-example-00-e-file-multi-jws.smart-health-card"), _trust(), at=BEFORE_X5C_EXPIRY
    )
    assert multi.valid and len(multi.fields["credentials"]) == 2


@pytest.mark.parametrize(
    "name",
    ["test-example-00-g-qr-code-0-scaled-23.jpg", "test-example-00-g-qr-code-inflated-to-v22.png"],
)
def test_an_image_of_the_qr_verifies(name: str) -> None:
    result = verify_qr(_bytes(name), _trust(), at=AT)
    assert (result.valid, result.format) == (True, "shc"), result


def test_images_of_every_chunk_verify_together() -> None:
    """segno (not our encoder) draws the spec's three chunks side by side in one PNG."""
    chunks = [
        p.read_text().strip() for p in sorted(EX.glob("example-02-f-qr-code-numeric-value-*.txt"))
    ]
    tiles = []
    for chunk in chunks:
        out = io.BytesIO()
        segno.make(chunk, micro=False).save(out, kind="png", scale=3, border=4)
        tiles.append(Image.open(io.BytesIO(out.getvalue())).convert("L"))
    sheet = Image.new("L", (sum(t.width for t in tiles), max(t.height for t in tiles)), 255)
    x = 0
    for tile in reversed(tiles):  # order on paper does not matter
        sheet.paste(tile, (x, 0))
        x += tile.width
    png = io.BytesIO()
    sheet.save(png, format="PNG")
    assert verify_qr(png.getvalue(), _trust(), at=AT).valid


@pytest.mark.parametrize(
    "name", ["test-invalid-jws-payload.png", "test-example-00-g-qr-code-0-corrupted.png"]
)
def test_an_image_holding_a_bad_card_is_refused(name: str) -> None:
    result = verify_qr(_bytes(name), _trust(), at=AT)
    assert (result.valid, result.reason) == (False, "bad_encoding")


def test_images_are_bounded_before_decoding() -> None:
    huge = io.BytesIO()
    Image.new("1", (6000, 6000), 1).save(huge, format="PNG")  # 36 Mpx, a few KiB on disk
    assert len(huge.getvalue()) < inputs.MAX_IMAGE_BYTES
    result = verify_qr(huge.getvalue(), _trust(), at=AT)
    assert (result.reason, result.detail) == ("bad_encoding", "image has too many pixels")
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * inputs.MAX_IMAGE_BYTES
    assert verify_qr(big, _trust(), at=AT).detail == "image too large"
    gif = io.BytesIO()
    Image.new("L", (10, 10)).save(gif, format="GIF")
    assert not verify_qr(gif.getvalue(), _trust(), at=AT).valid


# -- what a verifier SHALL refuse ----------------------------------------------------------------


def test_a_jws_without_zip_def_is_refused() -> None:
    result = verify_qr(_text("test-example-00-d-jws-no_jws_header_zip.txt"), _trust(), at=AT)
    assert (result.reason, result.detail) == (
        "bad_encoding",
        'SMART Health Card JWS header lacks zip "DEF"',
    )


@pytest.mark.parametrize(
    "name",
    [
        "test-example-00-d-jws-no_deflate.txt",
        "test-example-00-e-file-no_deflate.smart-health-card",
        "test-example-00-e-file-invalid_deflate.smart-health-card",
    ],
)
def test_a_payload_that_is_not_deflated_is_refused(name: str) -> None:
    result = verify_qr(_text(name), _trust(), at=AT)
    assert (result.valid, result.reason) == (False, "bad_encoding")


def test_chunks_longer_than_the_spec_allows_are_refused() -> None:
    """Spec: a JWS over 1195 characters is split into chunks of 1191 or fewer."""
    too_big = [
        _text(f"test-example-02-f-qr-code-numeric-value-{i}-qr_chunk_too_big.txt") for i in (0, 1)
    ]
    result = verify_qr([t.strip() for t in too_big], _trust(), at=AT)
    assert result.reason == "bad_encoding" and "1191" in result.detail
    jws = (EX / "example-02-d-jws.txt").read_text().strip()
    for size, ok in ((1191, True), (1192, False)):
        parts = [jws[i : i + size] for i in range(0, len(jws), size)]
        texts = [f"shc:/{i}/{len(parts)}/{shc.to_numeric(p)}" for i, p in enumerate(parts, 1)]
        assert verify_qr(texts, _trust(), at=AT).valid is ok, size
    # one QR holds at most 1195 characters: the dev-tools' 1194-character card fits...
    assert verify_qr(_text("test-example-1195-byte-qrnumeric.txt"), _trust(), at=AT).valid
    # ...a 1258-character JWS does not fit one QR (but is fine in a file or as a JWS)
    long_jws = _text("test-example-00-d-jws-jws_too_long.txt").strip()
    assert len(long_jws) == 1258
    as_qr = verify_qr("shc:/" + shc.to_numeric(long_jws), _trust(), at=AT)
    assert as_qr.reason == "bad_encoding" and "1195" in as_qr.detail
    assert "1195" not in verify_qr(long_jws, _trust(), at=AT).detail


@pytest.mark.parametrize(
    "name",
    [
        "test-example-00-f-qr-code-numeric-value-0-trailing_chars.txt",
        "test-example-00-f-qr-code-numeric-value-0-wrong_qr_header.txt",
        "test-example-00-f-qr-code-numeric-value-0-odd-count.txt",
        "test-example-00-f-qr-code-numeric-value-0-number-too-big.txt",
        "test-example-00-d-jws-trailing_chars.txt",
        "test-example-00-d-jws-utf8_bom_prefix.txt",
    ],
)
def test_malformed_or_padded_qr_texts_are_refused(name: str) -> None:
    assert verify_qr(_text(name), _trust(), at=AT).reason == "bad_encoding"


def test_characters_around_a_numeric_qr_are_refused() -> None:
    qr = (EX / "example-00-f-qr-code-numeric-value-0.txt").read_text().strip()
    assert verify_qr(qr, _trust(), at=AT).valid
    assert verify_qr(qr + "\n", _trust(), at=AT).valid  # a text file's own line end
    for padded in (" " + qr, qr + " ", qr + "\t", "x" + qr, qr + "x", qr + "\n\n", "\n" + qr):
        result = verify_qr(padded, _trust(), at=AT)
        assert (result.valid, result.reason) == (False, "bad_encoding"), repr(padded[-3:])
        assert not verify_qr([padded], _trust(), at=AT).valid


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (
            "test-example-00-e-file-invalid_issuer_url_http.smart-health-card",
            "iss does not use https",
        ),
        (
            "test-example-00-e-file-issuer_url_with_trailing_slash.smart-health-card",
            "iss ends with a slash",
        ),
    ],
)
def test_an_issuer_url_the_spec_forbids_is_refused(name: str, why: str) -> None:
    jws = json.loads(_text(name))["verifiableCredential"][0]
    iss = shc.parse_jws(jws).claims["iss"]
    # even when a trust list (built without its checks) holds that very issuer and key
    lenient = TrustList(shc=[ShcIssuer(iss, tuple(KEYS))])
    result = verify_qr(jws, lenient, at=AT)
    assert (result.valid, result.reason, result.detail) == (False, "schema_error", why)
    with pytest.raises(InvalidTrustEntry, match=why):  # and importing it is refused
        TrustList.from_dict({"shc": [{"iss": iss, "keys": KEYS}], "revoked": {"shc": CRLS}})


def test_issuer_url_rule() -> None:
    assert shc.issuer_url_error(ISS) is None
    assert shc.issuer_url_error("http://127.0.0.1:8000") is None  # a development server
    assert shc.issuer_url_error("http://localhost:8000/certs") is None
    for bad in (
        "http://issuer.example",
        "https://issuer.example/",
        "ftp://x.example",
        "https://",
        "issuer",
        "https://a.example?x=1",
        "https://u@a.example",
        7,
    ):
        assert shc.issuer_url_error(bad) is not None, bad


# -- x5c -----------------------------------------------------------------------------------------

DEV_ISS = "https://smarthealth.cards/examples/issuer"


def _dev_key(name: str) -> dict[str, object]:
    doc = json.loads(_text(name))
    return dict(doc["keys"][0] if "keys" in doc else doc)


@pytest.mark.parametrize("name", ["valid_key_with_x5c.json", "valid_2_chain.public.json"])
def test_a_valid_x5c_chain_is_accepted(name: str) -> None:
    key = _dev_key(name)
    check_x5c_binding(DEV_ISS, key)
    assert x5c_path_error(key, BEFORE_X5C_EXPIRY) is None
    assert x5c_path_error(key, dt.datetime(2032, 1, 1, tzinfo=dt.UTC)) is not None  # expired


def test_a_chain_whose_signatures_do_not_validate_is_refused() -> None:
    key = _dev_key("invalid_chain.public.json")
    check_x5c_binding(DEV_ISS, key)  # the leaf itself is fine...
    assert "does not validate" in (
        x5c_path_error(key, BEFORE_X5C_EXPIRY) or ""
    )  # ...the path is not


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("cert_mismatch.public.json", "does not hold the JWK's key"),
        ("invalid_DNS_SAN.public.json", "does not name the issuer URL"),
        ("invalid_no_SAN.public.json", "no subject alternative name"),
    ],
)
def test_an_x5c_leaf_not_bound_to_the_key_and_issuer_is_refused(name: str, why: str) -> None:
    key = _dev_key(name)
    with pytest.raises(InvalidTrustEntry, match=why):
        check_x5c_binding(DEV_ISS, key)
    with pytest.raises(InvalidTrustEntry, match=why):
        TrustList.from_dict({"shc": [{"iss": DEV_ISS, "keys": [key]}]})


def test_the_spec_example_x5c_path_is_checked_at_verification_time() -> None:
    x5c_key = next(k for k in KEYS if "x5c" in k)
    assert x5c_path_error(x5c_key, BEFORE_X5C_EXPIRY) is None
    assert "not valid at validation time" in (x5c_path_error(x5c_key, AT) or "")
    card = (EX / "example-01-d-jws.txt").read_text()
    assert verify_qr(card, _trust(), at=AT).reason == "key_not_allowed"
    # the same key without its certificate: trusted by the trust list alone, the card verifies
    bare = [{k: v for k, v in key.items() if k != "x5c"} for key in KEYS]
    plain = TrustList.from_dict({"shc": [{"iss": ISS, "keys": bare}], "revoked": {"shc": CRLS}})
    assert verify_qr(card, plain, at=AT).valid
    # a chain that does not end at its own root is refused
    broken = copy.deepcopy(x5c_key)
    broken["x5c"] = broken["x5c"][:1] + broken["x5c"][2:]
    assert x5c_path_error(broken, BEFORE_X5C_EXPIRY) is not None


# -- CRLs ----------------------------------------------------------------------------------------

BAD_CRLS = {
    "duplicate-rid": "listed more than once",
    "invalid-method": "unknown method",
    "non-base64url-rid": "not base64url",
    "too-long-rid": "not base64url of at most 24",
    "version-mismatch": "is not the key's crlVersion",
}


def _badcrl(name: str) -> tuple[str, dict[str, object]]:
    folder = DT / "badcrl" / name
    jws = (folder / "jws.txt").read_text().strip()
    iss = shc.parse_jws(jws).claims["iss"]
    keys = json.loads((folder / "jwks.json").read_text())["keys"]
    crl = json.loads((folder / "crl.json").read_text())
    return jws, {"shc": [{"iss": iss, "keys": keys}], "revoked": {"shc": {crl["kid"]: crl}}}


@pytest.mark.parametrize(("name", "why"), sorted(BAD_CRLS.items()))
def test_a_crl_malformed_for_its_method_is_refused(name: str, why: str) -> None:
    jws, doc = _badcrl(name)
    with pytest.raises(InvalidTrustEntry, match=why):
        TrustList.from_dict(doc)
    # the same card under a well-formed CRL of the same key verifies
    kid = next(iter(doc["revoked"]["shc"]))  # type: ignore[call-overload]
    doc["revoked"] = {"shc": {kid: {"kid": kid, "method": "rid", "ctr": 1, "rids": []}}}
    assert verify_qr(jws, TrustList.from_dict(doc), at=AT).valid


def test_a_key_with_crl_version_needs_its_crl() -> None:
    with pytest.raises(InvalidTrustEntry, match="CRL is missing"):
        TrustList.from_dict({"shc": [{"iss": ISS, "keys": KEYS}]})
    assert _trust().is_shc_revoked(
        "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s", "vwAjHdarZuc", 1.0
    )


def test_a_trust_list_survives_its_own_round_trip() -> None:
    trust = _trust()
    again = TrustList.from_json(trust.to_json())
    assert again.to_dict() == trust.to_dict()


def test_paths(tmp_path: Path) -> None:
    assert (DT / "LICENSE").read_text().startswith("    MIT License")
