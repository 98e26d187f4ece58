"""The CLI beside a running server: the server's state file (``<data_dir>/server.json``, where it
listens), finding a live server, and an HTTP client for the verbs that read or write the catalogue
(the embedded store can be open in one process only, and a running server holds it)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from songlens.errors import SonglensError

__all__ = ["STATE_FILE", "Remote", "RemoteError", "find_server", "read_state", "remove_state",
           "write_state"]

STATE_FILE = "server.json"
#: how long a server named in the state file has to answer /healthz before it counts as stale
HEALTH_TIMEOUT_S = 2.0
#: 429 too_busy / rate_limited: at most this many retries per request, each wait capped
MAX_RETRIES = 20
MAX_RETRY_WAIT_S = 30.0


# -- the state file -------------------------------------------------------------------------------
def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a server bound to ``host``:``port``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def write_state(data_dir: Path, url: str) -> None:
    """Record (atomically) that this process serves ``data_dir`` at ``url``; replaces any stale
    record (a server that died without removing it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = state_path(data_dir)
    tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "started_at": time.time()}),
                   "utf-8")
    os.replace(tmp, path)


def remove_state(data_dir: Path) -> None:
    """Remove the state file if it is still this process's (another server may have replaced it)."""
    state = read_state(data_dir)
    if state and state.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            state_path(data_dir).unlink()


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(state_path(data_dir).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(state, dict) and isinstance(state.get("url"), str)
            and isinstance(state.get("pid"), int)):
        return None
    return state


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def answers(url: str, timeout: float = HEALTH_TIMEOUT_S) -> bool:
    import httpx

    try:
        return httpx.get(f"{url.rstrip('/')}/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def find_server(data_dir: Path) -> dict[str, Any] | None:
    """The state of a live server for ``data_dir``: its process exists and /healthz answers
    within :data:`HEALTH_TIMEOUT_S`. A stale file (dead process, no answer) is ignored."""
    state = read_state(data_dir)
    if state and pid_alive(state["pid"]) and answers(state["url"]):
        return state
    return None


# -- the HTTP client ------------------------------------------------------------------------------
class RemoteError(SonglensError):
    """An error answer of the server (its ``code`` and ``message``), or no answer at all."""

    def __init__(self, code: str, message: str, status: int = 0,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retry_after = retry_after


class Remote:
    """The v1 API of a running server, for the CLI. Every failure is a :class:`RemoteError`."""

    def __init__(self, url: str, api_key: str | None = None, *, source: str = "--server") -> None:
        import httpx

        self.url = url.rstrip("/")
        self.source = source
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # uploads wait for a heavy slot (api.queue_wait_s) and then for the models
        self.http = httpx.Client(base_url=self.url, headers=headers,
                                 timeout=httpx.Timeout(300.0, connect=5.0))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, *, retry_busy: bool = False,
                 **kwargs: Any) -> Any:
        import httpx

        for attempt in range(MAX_RETRIES + 1):
            try:
                r = self.http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise RemoteError(
                    "server_unreachable",
                    f"no songlens server answers at {self.url} (from {self.source}): "
                    f"{type(exc).__name__}: {exc or 'no answer'}; start one with "
                    "'songlens serve', or point --server / SONGLENS_SERVER elsewhere") from exc
            if r.status_code < 400:
                return r.json() if r.content else None
            err = _error(r)
            if retry_busy and r.status_code == 429 and attempt < MAX_RETRIES:
                time.sleep(min(err.retry_after or 1.0, MAX_RETRY_WAIT_S))
                continue
            raise err
        raise AssertionError("unreachable")  # pragma: no cover

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/healthz")

    def song(self, song_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/songs/{quote(song_id, safe='')}")

    def has_song(self, song_id: str) -> bool:
        try:
            self.song(song_id)
        except RemoteError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def similar(self, song_id: str, *, k: int, space: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/songs/{quote(song_id, safe='')}/similar",
                             params={"k": k, "space": space})

    def playlist(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "/v1/playlists", json=body)

    def ingest(self, path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
        """Upload one file; a busy server (429) is waited for, as its Retry-After says."""
        data = path.read_bytes()
        return self._request("POST", "/v1/songs", retry_busy=True,
                             files={"audio": (path.name, data, "application/octet-stream")},
                             data={"metadata": json.dumps(metadata, ensure_ascii=False)})

    def backup(self, dest: Path) -> None:
        """Stream the server's backup archive (``POST /v1/admin/backup``) into the file
        ``dest``."""
        import httpx

        try:
            with self.http.stream("POST", "/v1/admin/backup",
                                  timeout=httpx.Timeout(3600.0, connect=5.0)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise _error(r)
                with dest.open("wb") as out:
                    for chunk in r.iter_bytes(1 << 20):
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise RemoteError("server_unreachable",
                              f"the backup download from {self.url} broke off: "
                              f"{type(exc).__name__}: {exc}") from exc


def _error(r: Any) -> RemoteError:
    try:
        body = r.json()["error"]
        code, message = str(body["code"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        code, message = f"http_{r.status_code}", (r.text[:300] or r.reason_phrase)
    if r.status_code == 401:
        message += " (give the key with --api-key or SONGLENS_API_KEY)"
    retry = None
    with contextlib.suppress(TypeError, ValueError):
        retry = float(r.headers.get("retry-after"))
    return RemoteError(code, message, r.status_code, retry)
