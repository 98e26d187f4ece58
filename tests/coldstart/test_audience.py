import pytest

from songlens.catalog.filters import SongFilter
from songlens.coldstart.audience import AudienceSegment, language_share
from songlens.errors import InvalidInput

NOW = 1_767_225_600.0
DAY = 86_400.0


def user(days_ago, langs):
    return {"user_id": "u", "t_ref": NOW - days_ago * DAY, "language_affinity": langs}


def test_language_share_counts_positive_affinity_only():
    assert language_share(user(0, {"粤语": 3.0, "华语": 1.0, "日语": -2.0}), "粤语") == 0.75
    assert language_share(user(0, {"日语": -2.0}), "日语") == 0.0
    assert language_share({}, "粤语") == 0.0


def test_segment_filter_and_reasons():
    seg = AudienceSegment(active_days=7, language="粤语", min_language_share=0.5,
                          skipped_artist_days=30)
    flt = seg.store_filter(now=NOW, exclude=frozenset({"heard"}))
    assert flt == SongFilter(ranges={"t_ref": (NOW - 7 * DAY, None)},
                             exclude_ids=frozenset({"heard"}))
    assert flt.matches("u", user(2, {})) and not flt.matches("u", user(8, {}))
    why = seg.why(user(2, {"粤语": 3.0, "华语": 1.0}), now=NOW, artist="陈奕迅")
    assert why == ["active 2.0 days ago (within 7)",
                   "粤语 is 75% of their language affinity (at least 50%)",
                   "has not heard the song", "no skip or dislike of 陈奕迅 in the last 30 days"]
    assert seg.why(user(2, {"粤语": 1.0, "华语": 3.0}), now=NOW) is None  # 25 % < 50 %
    assert seg.why(user(9, {"粤语": 1.0}), now=NOW) is None  # inactive
    assert AudienceSegment(exclude_heard=False).why(user(400, {}), now=NOW) == []


@pytest.mark.parametrize("kw,match", [({"active_days": 0}, "active_days"),
                                      ({"skipped_artist_days": -2}, "skipped_artist_days"),
                                      ({"min_language_share": 0}, "min_language_share")])
def test_segment_validation(kw, match):
    with pytest.raises(InvalidInput, match=match):
        AudienceSegment(**kw)
