"""API keys: created, listed and revoked by the CLI, verified by the server.

A key is ``sl_<id>_<secret>``: ``id`` (12 hex characters) is public and names the key in logs
and listings, so a lookup is one dict access; ``secret`` is ``secrets.token_urlsafe(32)`` (256
random bits). Only the SHA-256 of the whole key is stored, in one JSON file (mode 0600, replaced
atomically under a lock file, so the CLI can manage keys while the server runs).

Why plain SHA-256 and not bcrypt/argon2: slow, salted KDFs protect *low-entropy passwords* from
offline guessing. A 256-bit random secret cannot be guessed whatever the hash speed, so a fast
one-way hash is enough (it is what GitHub and most API-token systems do) and keeps verification
to microseconds on every request. The stored digest is compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from songlens.errors import ConfigError, InvalidInput, NotFound

__all__ = ["SCOPES", "ApiKey", "KeyFile", "KeyRing", "hash_key", "parse_key"]

log = logging.getLogger(__name__)

#: scopes, weakest first; each implies the ones before it (admin ⊃ write ⊃ read)
SCOPES = ("read", "write", "admin")
PREFIX = "sl"
_KEY_RE = re.compile(r"sl_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
FORMAT_VERSION = 1


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_key(key: str) -> str | None:
    """The key id of a well-formed key, else None."""
    m = _KEY_RE.fullmatch(key)
    return m.group(1) if m else None


@dataclass(frozen=True)
class ApiKey:
    """One stored key: everything but the secret."""

    id: str
    name: str
    scopes: tuple[str, ...]
    hash: str
    created: float

    def allows(self, scope: str) -> bool:
        return max_scope(self.scopes) >= SCOPES.index(scope)

    def to_json(self) -> dict:
        d = asdict(self)
        d["scopes"] = list(self.scopes)
        return d


def max_scope(scopes: tuple[str, ...] | list[str]) -> int:
    return max((SCOPES.index(s) for s in scopes), default=-1)


def _validate_scopes(scopes: list[str]) -> tuple[str, ...]:
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise InvalidInput(f"unknown scope(s) {bad or scopes!r}; allowed: {', '.join(SCOPES)}")
    return tuple(sorted(set(scopes), key=SCOPES.index))


class KeyFile:
    """The key file on disk: read, and read-modify-write under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, ApiKey]:
        """Keys by id; an absent file is no keys; a damaged one is a :class:`ConfigError`."""
        try:
            raw = self.path.read_text("utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read the API key file {str(self.path)!r}: {exc}") from exc
        try:
            data = json.loads(raw)
            keys = [ApiKey(id=k["id"], name=k["name"], scopes=_validate_scopes(k["scopes"]),
                           hash=k["hash"], created=float(k["created"]))
                    for k in data["keys"]]
        except (ValueError, KeyError, TypeError, InvalidInput) as exc:
            raise ConfigError(f"API key file {str(self.path)!r} is damaged: {exc}") from exc
        return {k.id: k for k in keys}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, ApiKey]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            keys = self.read()
            yield keys
            self._write(keys)
        finally:
            os.close(fd)  # releases the lock

    def _write(self, keys: dict[str, ApiKey]) -> None:
        body = json.dumps({"version": FORMAT_VERSION,
                           "keys": [k.to_json() for k in keys.values()]}, indent=2)
        fd, tmp = tempfile.mkstemp(prefix=".api_keys.", dir=self.path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def create(self, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
        """A new key; returns it and the secret key string (shown once, never stored)."""
        if not _NAME_RE.fullmatch(name):
            raise InvalidInput(f"key name {name!r}: use 1-64 letters, digits, '.', '_', '@', '-'")
        scope_t = _validate_scopes(scopes)
        with self._locked() as keys:
            if any(k.name == name for k in keys.values()):
                raise InvalidInput(f"a key named {name!r} exists; revoke it first or pick "
                                   "another name")
            kid = secrets.token_hex(6)
            while kid in keys:
                kid = secrets.token_hex(6)
            secret = f"{PREFIX}_{kid}_{secrets.token_urlsafe(32)}"
            key = ApiKey(id=kid, name=name, scopes=scope_t, hash=hash_key(secret),
                         created=time.time())
            keys[kid] = key
        return key, secret

    def revoke(self, name_or_id: str) -> ApiKey:
        with self._locked() as keys:
            found = [k for k in keys.values() if name_or_id in (k.name, k.id)]
            if not found:
                raise NotFound(f"no API key named {name_or_id!r}; see `songlens keys list`")
            del keys[found[0].id]
        return found[0]


@dataclass
class KeyRing:
    """The server's view of the key file, re-read when the file changes (checked at most every
    ``reload_s`` seconds). A file that becomes damaged while serving fails closed: every key is
    refused until it is fixed."""

    file: KeyFile
    reload_s: float = 2.0
    _keys: dict[str, ApiKey] = field(default_factory=dict)
    _stamp: tuple | None = None
    _checked: float = float("-inf")
    _broken: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._stamp = self._stat()
        self._keys = self.file.read()  # start-up: a damaged file is an error

    def _stat(self) -> tuple | None:
        try:
            st = os.stat(self.file.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._checked < self.reload_s:
                return
            self._checked = now
            stamp = self._stat()
            if stamp == self._stamp:
                return
            try:
                keys = self.file.read()
            except ConfigError as exc:
                if not self._broken:
                    log.error("%s; refusing every API key until it is fixed", exc.message)
                self._broken, self._stamp = True, stamp
                return
            log.info("API key file changed: %d key(s)", len(keys))
            self._keys, self._stamp, self._broken = keys, stamp, False

    def keys(self) -> dict[str, ApiKey]:
        self._refresh()
        return self._keys

    @property
    def broken(self) -> bool:
        self._refresh()
        return self._broken

    def configured(self) -> bool:
        """Whether keys are in force (a damaged file counts: it fails closed)."""
        self._refresh()
        return self._broken or bool(self._keys)

    def verify(self, key: str) -> ApiKey | None:
        """The stored key for this key string, or None (malformed, unknown, revoked)."""
        kid = parse_key(key)
        if kid is None:
            return None
        self._refresh()
        if self._broken:
            return None
        stored = self._keys.get(kid)
        if stored is None or not hmac.compare_digest(stored.hash, hash_key(key)):
            return None
        return stored
