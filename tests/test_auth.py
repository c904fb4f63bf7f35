"""Sign-in checks: Google ID tokens (signed offline), API keys, loopback-only without auth."""

from __future__ import annotations

import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from google.auth import exceptions as google_exceptions

from backend.config import Settings
from backend.errors import Forbidden, LeadScoreError, Unauthorized
from backend.web import auth
from backend.web.auth import (
    Authenticator,
    AuthUnavailable,
    CachedCertsRequest,
    StoredResponse,
    api_key_digest,
    email_allowed,
    is_loopback,
    match_api_key,
)
from backend.web.problems import http_status
from tests.test_web_support import API_KEY, AUDIENCE, id_tokens


def oidc_settings(**overrides: object) -> Settings:
    base = dict(oidc_audience=AUDIENCE, allowed_domains=("example.com", "partner@agency.io"))
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


def check_token(token: str, settings: Settings | None = None, certs: object = None) -> auth.Principal:
    authenticator = Authenticator(settings or oidc_settings(), http_request=certs or id_tokens().certs())
    return authenticator.authenticate(authorization=f"Bearer {token}", api_key=None, remote_addr="203.0.113.9")


# --------------------------------------------------------------------------- ID tokens


def test_valid_token_signs_in_with_its_email() -> None:
    principal = check_token(id_tokens().token(email="Rep@Example.com"))
    assert principal == auth.Principal("id_token", "rep@example.com")


def test_issuer_without_scheme_is_google_too() -> None:
    assert check_token(id_tokens().token(iss="accounts.google.com")).method == "id_token"


def test_allowed_address_entry_matches_that_address_only() -> None:
    assert check_token(id_tokens().token(email="partner@agency.io")).subject == "partner@agency.io"
    with pytest.raises(Forbidden):
        check_token(id_tokens().token(email="someone.else@agency.io"))


def test_expired_token_is_401_and_says_reload() -> None:
    past = int(time.time()) - 7200
    with pytest.raises(Unauthorized, match="expired"):
        check_token(id_tokens().token(iat=past - 3600, exp=past))


def test_wrong_audience_is_401() -> None:
    with pytest.raises(Unauthorized, match="different app"):
        check_token(id_tokens().token(aud="someone-elses-client-id.apps.googleusercontent.com"))


def test_wrong_issuer_is_401() -> None:
    with pytest.raises(Unauthorized, match="not issued by Google"):
        check_token(id_tokens().token(iss="https://evil.example.net"))


def test_tampered_token_is_401() -> None:
    header, payload, signature = id_tokens().token().split(".")
    other = id_tokens().token(email="ceo@example.com").split(".")[1]
    with pytest.raises(Unauthorized, match="could not be verified"):
        check_token(f"{header}.{other}.{signature}")
    assert payload != other


def test_token_signed_by_another_key_is_401() -> None:
    from tests.test_web_support import IdTokens

    stranger = IdTokens(key_id=id_tokens().key_id)  # same kid, different key
    with pytest.raises(Unauthorized):
        check_token(stranger.token())


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "x" * 5000])
def test_garbage_tokens_are_401(token: str) -> None:
    with pytest.raises(Unauthorized):
        check_token(token)


def test_wrong_domain_is_403_and_names_the_setting() -> None:
    with pytest.raises(Forbidden, match="LEADSCORE_ALLOWED_DOMAINS") as info:
        check_token(id_tokens().token(email="rep@gmail.com"))
    assert "rep@gmail.com" in info.value.detail


def test_subdomain_is_not_the_domain() -> None:
    with pytest.raises(Forbidden):
        check_token(id_tokens().token(email="rep@eu.example.com"))


@pytest.mark.parametrize("verified", [False, "false", None])
def test_unverified_email_is_403(verified: object) -> None:
    with pytest.raises(Forbidden, match="verified"):
        check_token(id_tokens().token(email_verified=verified))  # None: claim absent


def test_token_without_email_is_403() -> None:
    with pytest.raises(Forbidden, match="email"):
        check_token(id_tokens().token(email=None))


def test_no_allowed_domains_means_no_google_accounts() -> None:
    with pytest.raises(Forbidden, match="LEADSCORE_ALLOWED_DOMAINS"):
        check_token(id_tokens().token(), settings=oidc_settings(allowed_domains=()))


def test_unreachable_certificates_are_503_not_401() -> None:
    with pytest.raises(AuthUnavailable) as info:
        check_token(id_tokens().token(), certs=id_tokens().certs(status=500))
    assert http_status(info.value) == 503


def test_bearer_needs_an_audience_configured() -> None:
    settings = Settings(api_keys=(API_KEY,))
    with pytest.raises(Unauthorized, match="X-API-Key"):
        check_token(id_tokens().token(), settings=settings)


def test_authorization_must_be_bearer() -> None:
    authenticator = Authenticator(oidc_settings(), http_request=id_tokens().certs())
    with pytest.raises(Unauthorized, match="Bearer"):
        authenticator.authenticate(authorization="Basic dXNlcjpwYXNz", api_key=None, remote_addr="10.0.0.1")


# --------------------------------------------------------------------------- API keys


def key_auth(presented: str | None, *keys: str) -> auth.Principal:
    authenticator = Authenticator(Settings(api_keys=keys))
    return authenticator.authenticate(authorization=None, api_key=presented, remote_addr="203.0.113.9")


def test_right_api_key_signs_in() -> None:
    assert key_auth(API_KEY, "other-key", API_KEY) == auth.Principal("api_key", "api-key #2")


def test_sha256_form_of_a_key_matches_the_key() -> None:
    entry = "sha256:" + hashlib.sha256(API_KEY.encode()).hexdigest().upper()
    assert key_auth(API_KEY, entry).method == "api_key"
    with pytest.raises(Unauthorized):
        key_auth(entry, entry)  # the hash itself is not the key


@pytest.mark.parametrize("presented", ["wrong", "", API_KEY[:-1], API_KEY + "x", API_KEY.upper()])
def test_wrong_api_key_is_401(presented: str) -> None:
    with pytest.raises(Unauthorized, match="not one of this server's keys"):
        key_auth(presented, API_KEY)


def test_no_credentials_is_401_and_says_how() -> None:
    with pytest.raises(Unauthorized, match="X-API-Key"):
        key_auth(None, API_KEY)


def test_api_keys_rejected_when_only_google_sign_in_is_set_up() -> None:
    authenticator = Authenticator(oidc_settings(), http_request=id_tokens().certs())
    with pytest.raises(Unauthorized, match="does not accept API keys"):
        authenticator.authenticate(authorization=None, api_key=API_KEY, remote_addr="10.0.0.1")


def test_every_key_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    digests = [api_key_digest(k) for k in (API_KEY, "second", "third")]
    assert match_api_key(API_KEY, digests) == 0
    assert len(calls) == 3 and all(len(a) == len(b) == 32 for a, b in calls)


def test_malformed_sha256_entry_fails_at_startup() -> None:
    with pytest.raises(LeadScoreError, match="64 hex digits"):
        Authenticator(Settings(api_keys=("sha256:abc",)))


# --------------------------------------------------------------------------- no auth configured


def test_without_auth_only_loopback_callers_are_served() -> None:
    authenticator = Authenticator(Settings())
    assert authenticator.authenticate(authorization=None, api_key=None, remote_addr="127.0.0.1").method == "loopback"
    assert authenticator.authenticate(authorization=None, api_key=None, remote_addr="::1").method == "loopback"
    with pytest.raises(Forbidden, match="LEADSCORE_API_KEYS"):
        authenticator.authenticate(authorization=None, api_key=None, remote_addr="192.168.1.20")


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", True), ("127.10.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("::ffff:127.0.0.1", True), ("0.0.0.0", False), ("::", False), ("", False), (None, False),
    ("10.0.0.1", False), ("example.com", False),
])
def test_is_loopback(host: str | None, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize(("email", "expected"), [
    ("rep@example.com", True), ("REP@EXAMPLE.COM", True), ("rep@example.com.evil.io", False),
    ("rep@notexample.com", False), ("partner@agency.io", True), ("x@agency.io", False),
    ("example.com", False), ("@example.com", False),
])
def test_email_allowed(email: str, expected: bool) -> None:
    assert email_allowed(email, ("example.com", "Partner@Agency.io")) is expected


# --------------------------------------------------------------------------- certificate cache


def test_certificates_are_cached_for_their_max_age() -> None:
    now = [1000.0]
    fake = id_tokens().certs(max_age=600)
    cached = CachedCertsRequest(fake, clock=lambda: now[0])
    authenticator = Authenticator(oidc_settings(), http_request=cached)
    for _ in range(3):
        authenticator.authenticate(authorization=f"Bearer {id_tokens().token()}", api_key=None, remote_addr=None)
    assert len(fake.calls) == 1
    now[0] += 601
    authenticator.authenticate(authorization=f"Bearer {id_tokens().token()}", api_key=None, remote_addr=None)
    assert len(fake.calls) == 2


def test_failed_certificate_fetches_are_kept_only_briefly() -> None:
    now = [1000.0]
    fake = id_tokens().certs(status=503)
    cached = CachedCertsRequest(fake, failure_ttl=10, clock=lambda: now[0])
    for _ in range(2):
        assert cached("https://www.googleapis.com/oauth2/v1/certs").status == 503
    assert len(fake.calls) == 1
    now[0] += 11
    assert cached("https://www.googleapis.com/oauth2/v1/certs").status == 503
    assert len(fake.calls) == 2


# --------------------------------------------------------------------------- hostile callers


class SlowCerts:
    """A certificate transport that takes ``delay`` seconds and counts its calls."""

    def __init__(self, inner: object = None, *, delay: float = 0.0, error: Exception | None = None) -> None:
        self.inner = inner
        self.delay = delay
        self.error = error
        self.calls = 0
        self.timeouts: list[object] = []

    def __call__(self, url: str, method: str = "GET", body: object = None, headers: object = None,
                 timeout: object = None, **kwargs: object) -> object:
        self.calls += 1
        self.timeouts.append(timeout)
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.inner(url, method=method, headers=headers, timeout=timeout)  # type: ignore[operator]


def test_concurrent_certificate_fetches_are_one_fetch() -> None:
    slow = SlowCerts(id_tokens().certs(), delay=0.3)
    authenticator = Authenticator(oidc_settings(), http_request=CachedCertsRequest(slow))
    token = id_tokens().token()
    with ThreadPoolExecutor(8) as pool:
        principals = list(pool.map(lambda _i: authenticator.authenticate(
            authorization=f"Bearer {token}", api_key=None, remote_addr=None), range(8)))
    assert slow.calls == 1
    assert {p.subject for p in principals} == {"rep@example.com"}


def test_failed_certificate_fetch_is_cached_briefly_with_a_short_timeout() -> None:
    now = [1000.0]
    failing = SlowCerts(error=google_exceptions.TransportError("connection timed out"))
    authenticator = Authenticator(oidc_settings(), http_request=CachedCertsRequest(failing, clock=lambda: now[0]))
    for _ in range(4):
        with pytest.raises(AuthUnavailable):
            authenticator.authenticate(authorization="Bearer a.b.c", api_key=None, remote_addr=None)
    assert failing.calls == 1
    assert all(t is not None and float(t) <= 5 for t in failing.timeouts)  # type: ignore[arg-type]
    now[0] += 60
    with pytest.raises(AuthUnavailable):
        authenticator.authenticate(authorization="Bearer a.b.c", api_key=None, remote_addr=None)
    assert failing.calls == 2


def test_api_keys_never_wait_for_certificates() -> None:
    slow = SlowCerts(id_tokens().certs(), delay=1.5)
    settings = oidc_settings(api_keys=(API_KEY,))
    authenticator = Authenticator(settings, http_request=CachedCertsRequest(slow))
    with ThreadPoolExecutor(4) as pool:
        junk = [pool.submit(authenticator.authenticate, authorization="Bearer x.y.z", api_key=None,
                            remote_addr=None) for _ in range(3)]
        time.sleep(0.1)
        started = time.monotonic()
        principal = authenticator.authenticate(authorization="Bearer x.y.z", api_key=API_KEY, remote_addr=None)
        elapsed = time.monotonic() - started
        for future in junk:
            with pytest.raises(Unauthorized):
                future.result()
    assert principal.method == "api_key" and elapsed < 0.2
    assert slow.calls == 1


@pytest.mark.parametrize("body", [b"<html>maintenance</html>", b"{}", b'{"k": "not a cert"}', b"[]"])
def test_a_200_that_is_not_a_certificate_set_is_503_and_not_kept(body: bytes) -> None:
    now = [1000.0]
    good = id_tokens().certs()
    answers = [StoredResponse(200, {"Cache-Control": "max-age=3600"}, body)]

    def transport(url: str, method: str = "GET", **kwargs: object) -> object:
        return answers.pop(0) if answers else good(url)

    authenticator = Authenticator(oidc_settings(), http_request=CachedCertsRequest(transport, clock=lambda: now[0]))
    token = f"Bearer {id_tokens().token()}"
    with pytest.raises(AuthUnavailable) as info:
        authenticator.authenticate(authorization=token, api_key=None, remote_addr=None)
    assert http_status(info.value) == 503
    now[0] += 60
    assert authenticator.authenticate(authorization=token, api_key=None, remote_addr=None).method == "id_token"


def test_token_without_issuer_is_401() -> None:
    with pytest.raises(Unauthorized, match="not issued by Google"):
        check_token(id_tokens().token(iss=None))


def test_rejected_tokens_are_logged_by_fingerprint_only(caplog: pytest.LogCaptureFixture) -> None:
    header, payload, signature = id_tokens().token().split(".")
    nearly = f"{header}.{payload}.{signature[:-6]}AAAAAA"
    junk = f"{header}.{payload}"  # two segments: the library quotes the token in its error
    caplog.set_level(logging.DEBUG)
    for token in (nearly, junk):
        with pytest.raises(Unauthorized):
            check_token(token)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "ID token rejected" in logged
    assert payload not in logged and header not in logged and signature[:20] not in logged
    assert auth.token_fingerprint(nearly) in logged


@pytest.mark.parametrize("key", ["clé-secrète-1234", "naïve-key-000000", "ключ"])
def test_non_ascii_api_keys_are_refused_at_startup(key: str) -> None:
    with pytest.raises(LeadScoreError, match="ASCII") as info:
        Authenticator(Settings(api_keys=("good-key-123", key)))
    assert "key #2" in info.value.detail and key not in info.value.detail
