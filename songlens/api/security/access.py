"""Who is calling and what they may do: the caller of a request, the access policy of the app
(keys in force or not, loopback or network), and the route dependencies that declare scopes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from songlens.api.security.keys import SCOPES, ApiKey, KeyFile, KeyRing, max_scope
from songlens.api.security.ratelimit import RateLimiter
from songlens.errors import Forbidden, InsecureBind, RateLimited, Unauthorized
from songlens.settings import SecuritySettings, Settings

__all__ = ["Caller", "Guard", "READ", "WRITE", "ADMIN", "bearer", "is_loopback_host", "require"]

ALL_SCOPES: tuple[str, ...] = SCOPES
CREATE_HINT = "create one with `songlens keys create NAME --scope write`"


def is_loopback_host(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine. Names other than
    ``localhost`` count as network addresses (they may resolve to anything)."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _host_name(host: str) -> str:
    """The name in a ``Host`` header, without port or IPv6 brackets, lower case."""
    h = host.strip().lower()
    if h.startswith("["):
        return h[1:].split("]", 1)[0]
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _is_loopback_ip(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Caller:
    """The caller of one request: an API key, or anonymous (``key`` None) with the scopes the
    policy grants to anyone (all of them on a key-less loopback server)."""

    id: str
    scopes: tuple[str, ...]
    key: ApiKey | None = None

    def allows(self, scope: str) -> bool:
        return max_scope(self.scopes) >= SCOPES.index(scope)

    def require(self, scope: str) -> None:
        if self.allows(scope):
            return
        if self.key is None:
            raise Unauthorized(f"this needs an API key with the {scope!r} scope: send "
                               "'Authorization: Bearer <key>'")
        raise Forbidden(f"API key {self.key.name!r} has scope(s) {list(self.key.scopes)}; this "
                        f"needs {scope!r}", key_id=self.key.id)


class Guard:
    """The access policy of one app: the key ring, the rate limiter and the security settings.

    Keys are in force when the key file holds any (or is damaged: it fails closed) or when the
    server is bound to a network address without ``allow_unauthenticated`` (revoking the last key
    of such a server locks it rather than opening it)."""

    def __init__(self, settings: Settings, *, bind_host: str | None = None) -> None:
        self.security: SecuritySettings = settings.security
        self.bind_host = bind_host or settings.api.host
        self.ring = KeyRing(KeyFile(settings.keys_path), reload_s=self.security.key_reload_s)
        self.limiter = RateLimiter(per_minute=self.security.rate_limit_per_minute,
                                   burst=self.security.rate_limit_burst)

    @property
    def loopback(self) -> bool:
        return is_loopback_host(self.bind_host)

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request's ``Host`` may reach this server. On a loopback bind only loopback
        names (and ``security.allowed_hosts``) may: a browser page whose own domain was
        re-pointed at 127.0.0.1 (DNS rebinding) sends its own name and is refused, so it cannot
        pass the same-origin check of a key-less local server. A network bind answers any name
        (keys protect it)."""
        if not self.loopback:
            return True
        name = _host_name(host or "")
        allowed = {h.lower() for h in self.security.allowed_hosts}
        return name in allowed or name == self.bind_host.strip("[]").lower() or (
            name == "localhost" or name.endswith(".localhost") or _is_loopback_ip(name))

    @property
    def exposed(self) -> bool:
        """Whether others than this machine's users may reach the server: a network bind, or a
        non-loopback name in ``security.allowed_hosts`` (a reverse proxy in front)."""
        return not self.loopback or any(
            not (h.lower() == "localhost" or h.lower().endswith(".localhost")
                 or _is_loopback_ip(h.strip("[]").lower()))
            for h in self.security.allowed_hosts)

    def keys_in_force(self) -> bool:
        return self.ring.configured() or (self.exposed
                                          and not self.security.allow_unauthenticated)

    def authenticate(self, authorization: str | None, client: str) -> Caller:
        """The caller; :class:`Unauthorized` for a bad ``Authorization`` header when keys are in
        force (without keys, on loopback, the header is ignored)."""
        if not self.keys_in_force():
            # key-less: this machine's users only. The bind address comes from the settings,
            # which a server started some other way (uvicorn --host 0.0.0.0) may not follow, so
            # the connection itself must come from loopback too.
            if not (self.security.allow_unauthenticated or _is_loopback_ip(client)):
                raise Unauthorized("no API keys are configured, so this server answers clients "
                                   f"on this machine only; {CREATE_HINT}")
            return Caller(id=f"ip:{client}", scopes=ALL_SCOPES)
        if authorization is None:
            return Caller(id=f"ip:{client}", scopes=("read",) if self.security.public_reads
                          else ())
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <key>'")
        key = self.ring.verify(token.strip())
        if key is None:
            raise Unauthorized("invalid API key (unknown, malformed or revoked)")
        return Caller(id=f"key:{key.id}", scopes=key.scopes, key=key)

    def limit(self, caller: Caller) -> None:
        """:class:`RateLimited` when the caller's bucket is empty. Key-less loopback use is not
        limited (one local user); anonymous callers of a networked server are, per client IP."""
        if caller.key is None and not (self.keys_in_force()
                                       or self.security.allow_unauthenticated):
            return
        wait = self.limiter.take(caller.id)
        if wait:
            who = f"API key {caller.key.name!r}" if caller.key else f"client {caller.id[3:]}"
            raise RateLimited(f"{who} is over {self.security.rate_limit_per_minute:g} requests "
                              f"a minute; retry in {wait} s", retry_after_s=wait)

    def startup_line(self) -> str:
        """One line for the log at start-up; :class:`InsecureBind` when a non-loopback bind has no
        key and no override."""
        n = len(self.ring.keys())
        if self.ring.broken:
            return "API key file damaged: every request that needs a key is refused"
        if n:
            reads = "reads are public" if self.security.public_reads else "reads need a key"
            return f"{n} API key(s) in force; {reads}; writes need a write key"
        if self.loopback:
            return (f"no API keys: serving on loopback only ({self.bind_host}); {CREATE_HINT}")
        if self.security.allow_unauthenticated:
            return (f"no API keys and allow_unauthenticated: anyone who can reach "
                    f"{self.bind_host} can read and write; {CREATE_HINT}")
        raise InsecureBind(f"refusing to serve on {self.bind_host!r} without API keys: "
                           f"{CREATE_HINT}, bind 127.0.0.1, or pass --insecure "
                           "(security.allow_unauthenticated: true)", host=self.bind_host)


bearer = HTTPBearer(auto_error=False, scheme_name="apiKey",
                    description="an API key from `songlens keys create`: "
                                "'Authorization: Bearer sl_<id>_<secret>'")


def require(scope: str) -> Any:
    """A route dependency: the caller must have ``scope`` (401 without a key, 403 with one that
    lacks it). The security middleware has authenticated the caller before the body was read;
    this checks the route's scope, puts the bearer scheme in the OpenAPI schema and returns the
    :class:`Caller`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; allowed: {SCOPES}")

    def dependency(request: Request,
                   _: HTTPAuthorizationCredentials | None = Security(bearer)) -> Caller:  # noqa: B008
        caller = request.scope.get("state", {}).get("caller")
        if not isinstance(caller, Caller):  # the middleware is missing: fail closed
            raise Unauthorized("request was not authenticated")
        caller.require(scope)
        return caller

    dependency.required_scope = scope  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{scope}"
    return dependency


READ = require("read")
WRITE = require("write")
ADMIN = require("admin")
