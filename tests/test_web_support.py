"""Helpers shared by the web and auth tests (no tests here).

- ``openapi_*``: validate bodies against ``backend/openapi.json`` (JSON Schema 2020-12,
  ``#/components/...`` refs resolved through a referencing registry);
- ``IdTokens``: Google-style ID tokens signed offline with a local RSA key, plus a fake
  certificate transport serving that key's certificate as Google's endpoint would.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt, transport
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from backend.web.auth import StoredResponse

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "backend" / "openapi.json"
OPENAPI_URI = "urn:leadscore:openapi"
AUDIENCE = "1234567890-leadscore.apps.googleusercontent.com"
API_KEY = "test-key-0123456789abcdef"


# --------------------------------------------------------------------------- OpenAPI


@functools.cache
def openapi_doc() -> dict[str, Any]:
    """The OpenAPI document as shipped."""
    return json.loads(OPENAPI_PATH.read_text())


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(openapi_doc(), default_specification=DRAFT202012)
    return Registry().with_resource(OPENAPI_URI, resource)


def _deref(node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        target: Any = openapi_doc()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _schema_errors(schema: Mapping[str, Any], instance: Any) -> list[str]:
    # Point the document's local refs at the registered copy of the whole document.
    text = json.dumps(schema).replace('"#/components/', f'"{OPENAPI_URI}#/components/')
    validator = Draft202012Validator(json.loads(text), registry=_registry())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def schema_errors(name: str, instance: Any) -> list[str]:
    """Errors of ``instance`` against ``#/components/schemas/<name>`` (empty when valid)."""
    return _schema_errors({"$ref": f"#/components/schemas/{name}"}, instance)


def response_errors(method: str, path: str, response: Any) -> list[str]:
    """Errors of a Flask / requests response against the documented response for its status."""
    operation = openapi_doc()["paths"][path][method.lower()]
    status = str(response.status_code)
    spec = operation["responses"].get(status) or operation["responses"].get("default")
    if spec is None:
        return [f"status {status} is not documented for {method} {path}"]
    spec = _deref(spec)
    mimetype = response.headers.get("Content-Type", "").split(";")[0].strip()
    content = spec.get("content", {})
    if mimetype not in content:
        return [f"{method} {path} {status}: content type {mimetype!r} not documented ({list(content)})"]
    data = response.data if hasattr(response, "data") else response.content
    return _schema_errors(content[mimetype]["schema"], orjson.loads(data))


def assert_documented(method: str, path: str, response: Any) -> Any:
    """Assert the response matches the OpenAPI document and carries no traceback; return its JSON."""
    errors = response_errors(method, path, response)
    assert not errors, errors
    assert_no_traceback(response)
    assert response.headers.get("X-Request-ID")
    body = orjson.loads(response.data if hasattr(response, "data") else response.content)
    if response.status_code >= 400:
        assert body["request_id"] == response.headers["X-Request-ID"]
        assert body["status"] == response.status_code
    return body


def assert_no_traceback(response: Any) -> None:
    """No traceback or source path ever reaches a client."""
    text = (response.data if hasattr(response, "data") else response.content).decode("utf-8", "replace")
    if response.status_code >= 400:
        for marker in ("Traceback", 'File "', ".py\"", "site-packages"):
            assert marker not in text, text


# --------------------------------------------------------------------------- ID tokens


class FakeCerts(transport.Request):
    """Stands in for Google's certificate endpoint: serves the test key's X.509 certificate."""

    def __init__(self, certs: Mapping[str, str], *, status: int = 200, max_age: int = 3600) -> None:
        self.certs = dict(certs)
        self.status = status
        self.max_age = max_age
        self.calls: list[str] = []

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: Any = None, **kwargs: Any) -> transport.Response:
        self.calls.append(url)
        return StoredResponse(self.status, {"Cache-Control": f"public, max-age={self.max_age}"},
                              json.dumps(self.certs).encode())


class IdTokens:
    """Signs Google-style ID tokens with a locally generated RSA key."""

    def __init__(self, key_id: str = "test-key-1") -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-signer")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                .sign(key, hashes.SHA256()))
        self.key_id = key_id
        self.private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.signer = crypt.RSASigner.from_string(self.private_pem, key_id)

    def certs(self, **kwargs: Any) -> FakeCerts:
        """A fresh fake certificate transport for this key."""
        return FakeCerts({self.key_id: self.cert_pem}, **kwargs)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Claims of a valid token for ``AUDIENCE`` (override any; None removes it)."""
        now = int(time.time())
        claims: dict[str, Any] = {"iss": "https://accounts.google.com", "aud": AUDIENCE,
                                  "sub": "1100000000000", "email": "rep@example.com",
                                  "email_verified": True, "iat": now - 10, "exp": now + 3600}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, **overrides: Any) -> str:
        """A signed ID token."""
        return jwt.encode(self.signer, self.claims(**overrides)).decode()


@functools.cache
def id_tokens() -> IdTokens:
    """One signing key per test session (RSA key generation is the slow part)."""
    return IdTokens()


# --------------------------------------------------------------------------- apps


KEY_HEADERS = {"X-API-Key": API_KEY}


def web_settings(model_dir: Path, **overrides: Any) -> Any:
    """Settings with both sign-in methods configured (API key and Google ID tokens)."""
    from backend.config import Settings

    base: dict[str, Any] = dict(model_dir=Path(model_dir), api_keys=(API_KEY,), oidc_audience=AUDIENCE,
                                allowed_domains=("example.com",))
    base.update(overrides)
    return Settings(**base)


def make_app(settings: Any, **kwargs: Any) -> Any:
    """``create_app`` with Google's certificate endpoint replaced by the offline test key."""
    from backend.web import create_app
    from backend.web.auth import Authenticator
    from backend.web.state import EXTENSION

    app = create_app(settings, **kwargs)
    app.config["TESTING"] = True
    app.extensions[EXTENSION].authenticator = Authenticator(settings, http_request=id_tokens().certs())
    return app


def bearer(**claims: Any) -> dict[str, str]:
    """Headers carrying a signed ID token (valid unless ``claims`` override it)."""
    return {"Authorization": f"Bearer {id_tokens().token(**claims)}"}


def post_json(client: Any, path: str, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
    """POST ``payload`` as JSON (orjson) with the API key unless other headers are given."""
    return client.post(path, data=orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
                       headers=dict(KEY_HEADERS if headers is None else headers),
                       content_type="application/json")
