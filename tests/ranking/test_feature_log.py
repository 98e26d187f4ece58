import sqlite3

from songlens.coldstart.events import Event, local_time
from songlens.coldstart.feedback_log import FeedbackLog
from songlens.ranking.feature_log import FeatureLog


def test_served_features_come_back_exactly(tmp_path):
    log = FeatureLog(tmp_path / "served.sqlite")
    items = {f"s{i}": {"bias": 1.0, "cos_long_fused": 0.1 + i / 3, "time:hour=7": 1.0,
                       "crate": -1 / 7} for i in range(50)}
    size = log.record("r1", user_id="u", ts=1.0, items=items)
    assert size < len(repr(items)) / 4  # one compressed blob per request
    assert log.get("r1", "s7") == items["s7"]  # bit for bit
    assert log.get("r1", "nope") is None and log.get("r2", "s1") is None
    log.close()
    again = FeatureLog(tmp_path / "served.sqlite")
    assert again.get("r1", "s49") == items["s49"] and again.count() == 1


def test_log_written_before_request_ids_opens_and_keeps_them(tmp_path):
    path = tmp_path / "feedback.sqlite"
    db = sqlite3.connect(path)  # the first release's table
    db.executescript("""CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_key TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, song_id TEXT NOT NULL,
        event TEXT NOT NULL, ts REAL NOT NULL, play_ms INTEGER, event_id TEXT,
        received_at REAL NOT NULL);
        INSERT INTO events VALUES (1, 'k', 'u', 's', 'play', 5.0, 40000, NULL, 6.0);""")
    db.commit()
    db.close()
    with FeedbackLog(path) as log:
        log.append([Event(user_id="u", song_id="s", event="impression", ts=9.0,
                          request_id="r1", tz_offset_min=-300)])
        got = [le.event for le in log.iter_events(0)]
    assert got[0].request_id is None and got[0].play_ms == 40000
    assert got[1].request_id == "r1" and got[1].tz_offset_min == -300


def test_local_time():
    ts = 1_767_225_600.0  # 2026-01-01 00:00 UTC, a Thursday
    assert local_time(ts, None) is None
    assert local_time(ts, 480) == (8, 3) and local_time(ts, -60) == (23, 2)
