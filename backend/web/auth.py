"""Who may call the API: Google ID tokens from the add-on, or server-side API keys.

Framework-free: the web layer hands over the raw header values and the peer address and
gets back a :class:`Principal` or a :class:`~backend.errors.LeadScoreError` (401 / 403 /
503).  Google's signing certificates are fetched through a transport owned by the app
(:class:`CachedCertsRequest`), so they are cached per process without a module global.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.auth import exceptions as google_exceptions
from google.auth import transport
from google.oauth2 import id_token

from backend.config import Settings
from backend.errors import Forbidden, LeadScoreError, Unauthorized

log = logging.getLogger(__name__)

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CLOCK_SKEW_SECONDS = 10
_MAX_AGE = re.compile(r"max-age=(\d+)", re.IGNORECASE)


class AuthUnavailable(LeadScoreError):
    """Google's signing certificates could not be fetched, so no token can be checked."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: how they signed in and who they are (for logs)."""

    method: str          # "id_token", "api_key" or "loopback"
    subject: str         # email address, "api-key #n" or "local"


# --------------------------------------------------------------------------- transport


@dataclass(frozen=True)
class StoredResponse(transport.Response):
    """A fully read response kept in memory (google.auth.transport.Response interface)."""

    _status: int
    _headers: Mapping[str, str]
    _data: bytes

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


class CachedCertsRequest(transport.Request):
    """A google-auth transport that caches successful GETs for their ``Cache-Control: max-age``.

    Google rotates its ID-token signing certificates slowly and says for how long a copy is
    good; caching them keeps token verification off the network for nearly every request.
    Hardened against callers that send junk tokens on purpose:

    - one fetch at a time per URL: concurrent requests wait for it and share its answer;
    - a short timeout (``timeout``, capping any longer one asked for);
    - a failed fetch (network error, non-200, or a 200 whose body is not a certificate set)
      is remembered for ``failure_ttl`` seconds, so a burst of bad requests costs one fetch;
      a body that is not a certificate set is never kept as if it were one.
    """

    def __init__(self, inner: transport.Request | None = None, *, default_ttl: float = 300.0,
                 max_ttl: float = 86400.0, timeout: float = 3.0, failure_ttl: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if inner is None:
            from google.auth.transport.requests import Request as RequestsRequest
            inner = RequestsRequest()
        self._inner = inner
        self._default_ttl = default_ttl
        self._max_ttl = max_ttl
        self._timeout = timeout
        self._failure_ttl = failure_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}
        self._cache: dict[str, tuple[float, StoredResponse]] = {}
        self._failures: dict[str, tuple[float, StoredResponse | Exception]] = {}

    def __call__(self, url: str, method: str = "GET", body: Any = None,
                 headers: Mapping[str, str] | None = None, timeout: float | None = None,
                 **kwargs: Any) -> transport.Response:
        """Serve a cached copy (or a recent failure) of ``url``; otherwise fetch it, once."""
        wait = min(timeout, self._timeout) if timeout else self._timeout
        if method.upper() != "GET" or body is not None:
            return self._inner(url, method=method, body=body, headers=headers, timeout=wait, **kwargs)
        known = self._known(url)
        if known is not None:
            return known
        with self._lock:
            fetch_lock = self._fetching.setdefault(url, threading.Lock())
        with fetch_lock:  # single flight: whoever waited here finds the answer in the cache
            known = self._known(url)
            if known is not None:
                return known
            return self._fetch(url, headers, wait, **kwargs)

    def _known(self, url: str) -> StoredResponse | None:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(url)
            failed = self._failures.get(url)
        if hit is not None and hit[0] > now:
            return hit[1]
        if failed is not None and failed[0] > now:
            if isinstance(failed[1], Exception):
                raise google_exceptions.TransportError(
                    f"fetching {url} failed moments ago ({failed[1]}); not retried yet")
            return failed[1]
        return None

    def _fetch(self, url: str, headers: Mapping[str, str] | None, wait: float,
               **kwargs: Any) -> transport.Response:
        now = self._clock()
        try:
            response = self._inner(url, method="GET", headers=headers, timeout=wait, **kwargs)
            stored = StoredResponse(response.status, dict(response.headers or {}), bytes(response.data))
        except Exception as exc:
            failure = exc if isinstance(exc, google_exceptions.TransportError) else \
                google_exceptions.TransportError(f"fetching {url} failed: {type(exc).__name__}")
            self._remember_failure(url, now, failure)
            raise failure from exc
        if stored.status != 200:
            self._remember_failure(url, now, stored)
            return stored
        if not _is_certificate_set(stored.data):
            failure = google_exceptions.TransportError(
                f"{url} answered 200 with something that is not a set of certificates")
            self._remember_failure(url, now, failure)
            raise failure
        with self._lock:
            self._cache[url] = (now + self._ttl(stored.headers), stored)
            self._failures.pop(url, None)
        return stored

    def _remember_failure(self, url: str, now: float, failure: StoredResponse | Exception) -> None:
        log.warning("could not fetch %s: %s", url,
                    f"HTTP {failure.status}" if isinstance(failure, StoredResponse) else failure)
        with self._lock:
            self._failures[url] = (now + self._failure_ttl, failure)

    def _ttl(self, headers: Mapping[str, str]) -> float:
        control = next((v for k, v in headers.items() if k.lower() == "cache-control"), "")
        if "no-store" in control.lower() or "no-cache" in control.lower():
            return 0.0
        match = _MAX_AGE.search(control)
        return min(float(match.group(1)), self._max_ttl) if match else self._default_ttl


def _is_certificate_set(data: bytes) -> bool:
    """True for Google's PEM map (``{"kid": "-----BEGIN CERTIFICATE-----..."}``) or a JWK set."""
    try:
        body = json.loads(data)
    except ValueError:
        return False
    if not isinstance(body, dict) or not body:
        return False
    if "keys" in body:
        keys = body["keys"]
        return isinstance(keys, list) and bool(keys) and all(isinstance(k, dict) and "kid" in k for k in keys)
    return all(isinstance(v, str) and v.lstrip().startswith("-----BEGIN CERTIFICATE-----") for v in body.values())


def token_fingerprint(token: str) -> str:
    """A short, stable name for a token in logs (the token itself is never logged)."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:12]


# --------------------------------------------------------------------------- checks


def api_key_digest(entry: str) -> bytes:
    """The sha256 digest a configured key entry stands for (``sha256:<hex>`` or a plain key)."""
    if entry.lower().startswith("sha256:"):
        hexdigest = entry[len("sha256:"):].strip().lower()
        try:
            digest = bytes.fromhex(hexdigest)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise LeadScoreError("LEADSCORE_API_KEYS: an entry 'sha256:<hex>' needs the 64 hex "
                                 "digits of the key's sha256 after 'sha256:'.")
        return digest
    return hashlib.sha256(entry.encode("utf-8")).digest()


def match_api_key(presented: str, digests: Iterable[bytes]) -> int | None:
    """Index of the configured key ``presented`` matches, or None.

    Compares digests of equal length with ``hmac.compare_digest`` against every configured
    key, never stopping early, so timing says nothing about which key (or how much) matched.
    """
    candidate = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
    found: int | None = None
    for index, digest in enumerate(digests):
        if hmac.compare_digest(candidate, digest) and found is None:
            found = index
    return found


def email_allowed(email: str, allowed: Iterable[str]) -> bool:
    """True when ``email`` is listed, or its domain is (exact domain; subdomains must be listed)."""
    email = email.strip().lower()
    local, _, domain = email.rpartition("@")
    if not local or not domain:
        return False
    for entry in allowed:
        entry = entry.strip().lower()
        if "@" in entry.lstrip("@"):
            if email == entry:
                return True
        elif entry and domain == entry.lstrip("@"):
            return True
    return False


def verify_google_id_token(token: str, *, audience: str, allowed: Iterable[str],
                           http_request: transport.Request) -> Principal:
    """Verify a Google ID token (signature, expiry, audience, issuer) and its verified email."""
    try:
        claims = id_token.verify_oauth2_token(token, http_request, audience=audience,
                                              clock_skew_in_seconds=CLOCK_SKEW_SECONDS)
    except google_exceptions.TransportError as exc:
        log.warning("could not fetch Google's signing certificates: %s", exc)
        raise AuthUnavailable("Google's sign-in certificates could not be fetched just now, "
                              "so your sign-in could not be checked. Try again in a minute.") from exc
    except (ValueError, KeyError, TypeError, google_exceptions.GoogleAuthError) as exc:
        # The library's messages may quote the token: log what went wrong, never the token.
        reason = "no issuer" if isinstance(exc, KeyError) else _scrub(str(exc), token)
        log.info("ID token rejected (%s, %s): %s", token_fingerprint(token), type(exc).__name__, reason)
        raise Unauthorized(_token_problem("issuer" if isinstance(exc, KeyError) else str(exc))) from exc
    if claims.get("iss") not in GOOGLE_ISSUERS:  # verify_oauth2_token checks it too; stay explicit
        raise Unauthorized("The sign-in token was not issued by Google.")
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise Forbidden("The Google sign-in carries no email address. The add-on needs the "
                        "'openid' and 'userinfo.email' scopes in appsscript.json.")
    if claims.get("email_verified") not in (True, "true", "True"):
        raise Forbidden(f"The Google account {email} has no verified email address, so it "
                        "cannot be matched against the allowed domains. Verify it with Google first.")
    allowed = tuple(allowed)
    if not allowed:
        raise Forbidden("This server accepts no Google accounts yet: its administrator must list "
                        "your domain or address in LEADSCORE_ALLOWED_DOMAINS.")
    if not email_allowed(email, allowed):
        raise Forbidden(f"The Google account {email} is not allowed to use this server. Ask its "
                        "administrator to add your domain or address to LEADSCORE_ALLOWED_DOMAINS.")
    return Principal("id_token", email.lower())


_TOKENISH = re.compile(r"[A-Za-z0-9_\-=+/.]{16,}")


def _scrub(message: str, token: str) -> str:
    """A library error message with the token, and anything that may be part of it, cut out."""
    for part in {token, *token.split(".")}:
        if len(part) >= 4:
            message = message.replace(part, "<token>")
    return _TOKENISH.sub("<…>", message)[:300]


def _token_problem(reason: str) -> str:
    lowered = reason.lower()
    if "expired" in lowered:
        return "Your Google sign-in has expired. Reload the sheet and score again."
    if "audience" in lowered:
        return ("The sign-in token was issued for a different app: this server expects tokens "
                "for its own Apps Script project (LEADSCORE_OIDC_AUDIENCE).")
    if "issuer" in lowered:
        return "The sign-in token was not issued by Google."
    return "Your Google sign-in could not be verified. Reload the sheet and score again."


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if not address:
        return False
    host = address.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


# --------------------------------------------------------------------------- authenticator


class Authenticator:
    """Checks a request's credentials against the settings; one per app."""

    def __init__(self, settings: Settings, *, http_request: transport.Request | None = None) -> None:
        self.settings = settings
        for number, entry in enumerate(settings.api_keys, start=1):
            if not entry.isascii():
                raise LeadScoreError(
                    f"LEADSCORE_API_KEYS: key #{number} has characters outside ASCII. HTTP headers carry "
                    "ASCII only, so a caller could never send it. Use letters, digits and punctuation, e.g. "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))'.")
        self._digests = tuple(api_key_digest(entry) for entry in settings.api_keys)
        self._http_request = http_request
        self._lock = threading.Lock()

    @property
    def http_request(self) -> transport.Request:
        """The certificate transport, created on first use."""
        if self._http_request is None:
            with self._lock:
                if self._http_request is None:
                    self._http_request = CachedCertsRequest()
        return self._http_request

    def authenticate(self, *, authorization: str | None, api_key: str | None,
                     remote_addr: str | None) -> Principal:
        """Return who is calling, or raise Unauthorized / Forbidden / AuthUnavailable."""
        settings = self.settings
        if not settings.auth_configured:
            if is_loopback(remote_addr):
                return Principal("loopback", "local")
            raise Forbidden("This server has no sign-in configured, so it only answers requests "
                            "from the machine it runs on. Set LEADSCORE_API_KEYS or "
                            "LEADSCORE_OIDC_AUDIENCE to serve others.")
        if api_key is not None:
            if not self._digests:
                raise Unauthorized("This server does not accept API keys: sign in with Google "
                                   "(Authorization: Bearer <ID token>).")
            index = match_api_key(api_key.strip(), self._digests)
            if index is None:
                raise Unauthorized("The X-API-Key sent is not one of this server's keys. Check "
                                   "the key in the add-on's settings.")
            return Principal("api_key", f"api-key #{index + 1}")
        if authorization:
            scheme, _, token = authorization.strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise Unauthorized("The Authorization header must be 'Bearer <Google ID token>'.")
            if not settings.oidc_audience:
                raise Unauthorized("This server does not accept Google sign-in: send an X-API-Key.")
            return verify_google_id_token(token, audience=settings.oidc_audience,
                                          allowed=settings.allowed_domains,
                                          http_request=self.http_request)
        raise Unauthorized("Sign-in required: send 'Authorization: Bearer <Google ID token>' "
                           "(the add-on does this for you) or an X-API-Key header.")
