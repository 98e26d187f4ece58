import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from songlens.coldstart.events import Event
from songlens.coldstart.feedback_log import FeedbackLog
from songlens.errors import StoreError

T0 = 1_767_225_600.0


def _events(n, start=0, user="u"):
    return [Event(user_id=user, song_id=f"s{i % 7}", event="complete" if i % 3 else "skip",
                  ts=T0 + start + i, play_ms=1000 * i) for i in range(n)]


def test_append_is_idempotent_and_ordered(tmp_path):
    with FeedbackLog(tmp_path / "log.db") as log:
        batch = _events(20)
        assert log.append(batch) == 20
        assert log.append(batch) == 0  # a retried batch does not double-count
        assert log.append(batch[:5] + _events(3, start=100)) == 3
        assert log.count() == 23
        seqs = [le.seq for le in log.iter_events()]
        assert seqs == sorted(seqs) and len(set(seqs)) == 23
        tail = list(log.iter_events(since_seq=seqs[19]))
        assert [le.event.ts for le in tail] == [T0 + 100, T0 + 101, T0 + 102]
        assert tail[0].event == _events(3, start=100)[0]


def test_client_event_id_wins_over_content_hash(tmp_path):
    with FeedbackLog(tmp_path / "log.db") as log:
        a = Event(user_id="u", song_id="s", event="like", ts=T0, event_id="e1")
        b = Event(user_id="u", song_id="s", event="like", ts=T0 + 5, event_id="e1")
        assert log.append([a]) == 1
        assert log.append([b]) == 0


def test_song_counts_and_few_interactions(tmp_path):
    with FeedbackLog(tmp_path / "log.db") as log:
        log.append(_events(21))
        log.append([Event(user_id="v", song_id="s0", event="impression", ts=T0)])
        counts = log.song_counts()
        assert sum(sum(c.values()) for c in counts.values()) == 22
        assert counts["s0"]["impression"] == 1
        n = log.interaction_counts(["s0", "s1", "new"])
        assert n["s0"] == 3  # impressions are not interactions
        assert [s for s, k in n.items() if k < 3] == ["new"]
        assert sum(log.user_counts("u").values()) == 21 and log.user_counts("nobody") == {}
        assert [le.event.user_id for le in log.iter_events(user_id="v")] == ["v"]


def test_threads_append_concurrently(tmp_path):
    log = FeedbackLog(tmp_path / "log.db")
    errors = []

    def work(k):
        try:
            for j in range(10):
                log.append(_events(10, start=1000 * j, user=f"t{k}"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert log.count() == 400
    log.close()
    with pytest.raises(StoreError, match="closed"):
        log.count()


def test_memory_path_refused():
    with pytest.raises(StoreError, match="memory"):
        FeedbackLog(":memory:")


_WRITER = r"""
import sys
from songlens.coldstart.events import Event
from songlens.coldstart.feedback_log import FeedbackLog
log = FeedbackLog(sys.argv[1])
i = 0
while True:
    batch = [Event(user_id="u", song_id=f"s{j % 13}", event="like", ts=1e9 + i * 100 + j)
             for j in range(100)]
    log.append(batch)
    i += 1
    print(i, flush=True)  # acknowledged: append has returned
"""


def test_log_survives_sigkill(tmp_path):
    path = tmp_path / "crash.db"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    acked = 0
    deadline = time.time() + 30
    while acked < 15 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acked = int(line)
    os.kill(proc.pid, signal.SIGKILL)  # mid-way: the writer is inside its next append
    proc.wait()
    proc.stdout.close()
    assert acked >= 15
    with FeedbackLog(path) as log:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n = log.count()
        assert n >= acked * 100  # everything acknowledged is there
        assert n % 100 == 0  # batches land whole or not at all
        assert log.last_seq() == n
        counts = log.song_counts()
        assert sum(c["like"] for c in counts.values()) == n
