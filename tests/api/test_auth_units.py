"""The security parts on their own: token buckets on a fake clock, the key ring's reload and
fail-closed rule, the loopback and same-origin rules, the settings' origin list."""

from __future__ import annotations

import os

import pytest

from songlens.api.security import Caller, Guard, KeyFile, KeyRing, RateLimiter, is_loopback_host
from songlens.api.security.keys import parse_key
from songlens.api.security.middleware import same_origin
from songlens.errors import (
    ConfigError,
    Forbidden,
    InsecureBind,
    InvalidInput,
    RateLimited,
    Unauthorized,
)
from songlens.settings import load_settings


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_burst_refill_and_retry_after():
    clock = Clock()
    lim = RateLimiter(per_minute=30, burst=2, clock=clock)  # one token every 2 s
    assert [lim.take("a"), lim.take("a")] == [0, 0]
    assert lim.take("a") == 2
    assert lim.take("b") == 0  # per caller
    clock.t += 1.0
    assert lim.take("a") == 1  # half a token back: one more second
    clock.t += 1.0
    assert lim.take("a") == 0
    clock.t += 3600
    assert [lim.take("a"), lim.take("a"), lim.take("a")] == [0, 0, 2]  # refill caps at burst
    assert RateLimiter(per_minute=0, burst=1).take("a") == 0


def test_token_bucket_prunes_idle_callers():
    clock = Clock()
    lim = RateLimiter(per_minute=60, burst=1, clock=clock)
    lim.MAX_BUCKETS = 10
    for i in range(10):
        lim.take(f"ip:{i}")
    clock.t += 10
    lim.take("new-one")
    lim.take("new-two")
    assert len(lim._buckets) <= 2


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.5.0.1", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False),
    ("myhost", False)])
def test_loopback_is_about_the_bind_address(host, loopback):
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(("origin", "host", "scheme", "same"), [
    ("http://localhost:8000", "localhost:8000", "http", True),
    ("http://LOCALHOST:8000", "localhost:8000", "http", True),
    ("http://localhost", "localhost:80", "http", True),
    ("https://api.example", "api.example", "https", True),
    ("http://api.example", "api.example", "https", False),
    ("http://localhost:8001", "localhost:8000", "http", False),
    ("http://evil.example", "localhost:8000", "http", False),
    ("null", "localhost:8000", "http", False),
    ("http://[::1]:8000", "[::1]:8000", "http", True),
    ("http://localhost:notaport", "localhost:8000", "http", False),
])
def test_same_origin(origin, host, scheme, same):
    assert same_origin(origin, {"scheme": scheme}, host) is same


def test_key_format_and_scopes(tmp_path):
    kf = KeyFile(tmp_path / "keys.json")
    key, secret = kf.create("bot", ["write"])
    assert parse_key(secret) == key.id
    assert key.allows("read") and key.allows("write") and not key.allows("admin")
    assert parse_key(secret + "x") is None and parse_key("sl_nothex00000_" + "a" * 43) is None
    with pytest.raises(InvalidInput, match="allowed: read, write, admin"):
        kf.create("x", ["superuser"])
    with pytest.raises(InvalidInput, match="letters, digits"):
        kf.create("has space", ["read"])


def test_key_ring_reloads_and_fails_closed(tmp_path):
    kf = KeyFile(tmp_path / "keys.json")
    ring = KeyRing(kf, reload_s=0)
    assert not ring.configured()
    _, secret = kf.create("a", ["read"])
    assert ring.verify(secret) is not None
    assert ring.verify(secret[:-1] + ("B" if secret[-1] != "B" else "C")) is None
    kf.path.write_text("{not json")
    assert ring.verify(secret) is None and ring.configured() and ring.broken
    os.unlink(kf.path)
    assert not ring.configured() and not ring.broken
    kf.path.write_text("[]")
    with pytest.raises(ConfigError, match="damaged"):
        KeyRing(kf)  # at start-up a damaged file is an error


def test_key_ring_checks_the_file_at_most_every_reload_s(tmp_path):
    kf = KeyFile(tmp_path / "keys.json")
    _, secret = kf.create("a", ["read"])
    ring = KeyRing(kf, reload_s=3600)
    assert ring.verify(secret) is not None
    kf.revoke("a")
    assert ring.verify(secret) is not None  # not re-read yet
    ring._checked = float("-inf")
    assert ring.verify(secret) is None


def _guard(tmp_path, **security) -> Guard:
    return Guard(load_settings(None, data_dir=str(tmp_path),
                               security={"key_reload_s": 0, **security}))


def test_guard_policy(tmp_path):
    g = _guard(tmp_path)
    assert g.authenticate(None, "127.0.0.1").allows("admin")  # no keys, loopback
    assert "loopback only" in g.startup_line()
    g.bind_host = "0.0.0.0"
    with pytest.raises(InsecureBind, match="--insecure"):
        g.startup_line()
    with pytest.raises(Unauthorized):  # no key on a network bind: locked, not open
        g.authenticate(None, "1.2.3.4").require("read")
    _, secret = KeyFile(g.ring.file.path).create("r", ["read"])
    caller = g.authenticate(f"Bearer {secret}", "1.2.3.4")
    with pytest.raises(Forbidden, match="needs 'write'"):
        caller.require("write")
    assert g.startup_line() == "1 API key(s) in force; reads need a key; writes need a write key"
    with pytest.raises(Unauthorized, match="Bearer"):
        g.authenticate(f"Token {secret}", "1.2.3.4")


def test_guard_limits_anonymous_callers_only_off_loopback(tmp_path):
    g = _guard(tmp_path, rate_limit_per_minute=60, rate_limit_burst=1)
    local = g.authenticate(None, "127.0.0.1")
    g.limit(local)
    g.limit(local)  # key-less loopback use is not limited
    g = _guard(tmp_path / "b", rate_limit_per_minute=60, rate_limit_burst=1,
               allow_unauthenticated=True)
    g.bind_host = "0.0.0.0"
    anon = g.authenticate(None, "10.0.0.9")
    g.limit(anon)
    with pytest.raises(RateLimited, match="client 10.0.0.9") as info:
        g.limit(anon)
    assert info.value.retry_after_s == 1
    g.limit(Caller(id="ip:10.0.0.10", scopes=()))


def test_cors_origins_are_validated():
    with pytest.raises(ConfigError, match="scheme://host"):
        load_settings(None, security={"cors_origins": ["*"]})
    with pytest.raises(ConfigError, match="scheme://host"):
        load_settings(None, security={"cors_origins": ["https://app.example/path"]})
    s = load_settings(None, security={"cors_origins": ["https://App.example/"]})
    assert s.security.cors_origins == ["https://app.example"]


def test_a_loopback_server_answers_to_loopback_names_only(tmp_path):
    g = _guard(tmp_path)
    for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "app.localhost"):
        assert g.host_allowed(host), host
    # DNS rebinding: a page on evil.example re-pointed at 127.0.0.1 sends its own name
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "", None):
        assert not g.host_allowed(host), host
    assert _guard(tmp_path, allowed_hosts=["music.lan"]).host_allowed("music.lan:8000")
    networked = Guard(load_settings(None, data_dir=str(tmp_path), api={"host": "0.0.0.0"}))
    assert networked.host_allowed("evil.example")  # keys protect a network bind


def test_key_less_means_this_machine_only(tmp_path):
    """Without keys only loopback clients get in, whatever the settings say the bind is (a
    server started by hand with uvicorn --host 0.0.0.0 reads api.host 127.0.0.1)."""
    g = _guard(tmp_path)
    assert g.authenticate(None, "::1").allows("admin")
    for client in ("10.0.0.5", "192.168.1.20", "testclient", "unknown"):
        with pytest.raises(Unauthorized, match="clients on this machine only"):
            g.authenticate(None, client)
    assert _guard(tmp_path / "b", allow_unauthenticated=True).authenticate(
        None, "10.0.0.5").allows("admin")  # the operator said so
    # a non-loopback name in allowed_hosts means a proxy in front: keys are needed
    proxied = _guard(tmp_path / "c", allowed_hosts=["music.example.com"])
    assert proxied.exposed and proxied.keys_in_force()
    with pytest.raises(Unauthorized):
        proxied.authenticate(None, "127.0.0.1").require("read")
    assert not _guard(tmp_path / "d", allowed_hosts=["app.localhost"]).exposed
