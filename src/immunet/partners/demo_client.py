"""The partner's side of the demo, as a real partner app would run it: PAR with
``private_key_jwt`` and PKCE S256, the citizen on immunet's consent page, the callback on a
loopback port, the code exchanged with a DPoP proof, then ``/partner/v1/Immunization``.

``python -m immunet.partners.demo_client`` (after ``make demo`` and with the server up).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class DemoPartner:
    issuer: str
    client_id: str
    kid: str
    key: ECKey
    redirect_uri: str
    dpop_key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", private=True))
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    @classmethod
    def load(cls, issuer: str, document: dict[str, Any]) -> DemoPartner:
        return cls(
            issuer=issuer.rstrip("/"),
            client_id=document["client_id"],
            kid=document["kid"],
            key=ECKey.import_key(document["key"]),
            redirect_uri=document["redirect_uri"],
        )

    def _assertion(self) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.issuer,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(24),
        }
        return {
            "client_id": self.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": jwt.encode({"alg": "ES256", "kid": self.kid}, claims, self.key),
        }

    def _dpop(self, method: str, path: str, access_token: str | None = None) -> str:
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(24),
            "htm": method,
            "htu": self.issuer + path,
            "iat": int(time.time()),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        header = {"alg": "ES256", "typ": "dpop+jwt", "jwk": self.dpop_key.as_dict(private=False)}
        return jwt.encode(header, claims, self.dpop_key)

    async def authorization_url(self, http: httpx.AsyncClient) -> str:
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode("ascii")).digest())
            .decode("ascii")
            .rstrip("=")
        )
        response = await http.post(
            "/oauth/par",
            data={
                "response_type": "code",
                "redirect_uri": self.redirect_uri,
                "scope": "immunization.read",
                "state": self.state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                **self._assertion(),
            },
        )
        response.raise_for_status()
        query = urlencode(
            {"client_id": self.client_id, "request_uri": response.json()["request_uri"]}
        )
        return f"{self.issuer}/oauth/authorize?{query}"

    async def finish(self, http: httpx.AsyncClient, callback_query: str) -> dict[str, Any]:
        answer = {k: v[0] for k, v in parse_qs(callback_query).items()}
        if answer.get("iss") != self.issuer or answer.get("state") != self.state:
            raise RuntimeError("the answer is not from our authorization server (RFC 9207)")
        if "code" not in answer:
            return {"denied": answer.get("error", "unknown")}
        tokens = await http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": self.redirect_uri,
                "code_verifier": self.verifier,
                **self._assertion(),
            },
            headers={"DPoP": self._dpop("POST", "/oauth/token")},
        )
        tokens.raise_for_status()
        access = tokens.json()["access_token"]
        bundle = await http.get(
            "/partner/v1/Immunization",
            headers={
                "Authorization": f"DPoP {access}",
                "DPoP": self._dpop("GET", "/partner/v1/Immunization", access),
            },
        )
        bundle.raise_for_status()
        result: dict[str, Any] = bundle.json()
        return result


def _wait_for_callback(redirect_uri: str) -> str:
    target = urlsplit(redirect_uri)
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.append(urlsplit(self.path).query)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"Demo Health App: back from immunet. See the terminal.")

        def log_message(self, *args: Any) -> None:
            return

    with HTTPServer((target.hostname or "127.0.0.1", target.port or 80), Handler) as server:
        while not received:
            server.handle_request()
    return received[0]


def main() -> None:
    import asyncio

    from immunet.partners.demo import demo_client_file
    from immunet.settings import get_settings

    settings = get_settings()
    document = json.loads(demo_client_file(settings).read_text(encoding="utf-8"))
    partner = DemoPartner.load(settings.public_url, document)

    async def run() -> None:
        async with httpx.AsyncClient(
            base_url=partner.issuer, timeout=10.0, follow_redirects=False
        ) as http:
            url = await partner.authorization_url(http)
            print(f"Open within 60 seconds: {url}")
            query = await asyncio.to_thread(_wait_for_callback, partner.redirect_uri)
            print(json.dumps(await partner.finish(http, query), indent=2))

    asyncio.run(run())


if __name__ == "__main__":
    main()
