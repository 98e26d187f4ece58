import numpy as np
import pytest

from songlens.errors import InvalidInput, ModelError
from songlens.ranking.ranker import Ranker, RankerConfig


def separable(n, seed=0):
    """Label = 1 iff the sample carries feature "good=<k>" for k < 5 (plus noise features)."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for _ in range(n):
        k = int(rng.integers(0, 10))
        f = {"bias": 1.0, f"cat={k}": 1.0, f"noise={int(rng.integers(0, 30))}": 1.0,
             "num": float(rng.normal())}
        X.append(f)
        y.append(int(k < 5))
    return X, np.array(y)


def auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def test_learns_separable_problem():
    X, y = separable(3000)
    r = Ranker(RankerConfig(n_bits=16, alpha=0.1)).fit(X, y, y)
    Xt, yt = separable(1000, seed=1)
    P = r.predict_many(Xt)
    assert auc(yt, P[:, 0]) > 0.9 and auc(yt, P[:, 2]) > 0.9
    pc, pl, score = r.predict(Xt[0])
    assert 0 < pc < 1 and score == pytest.approx((pc + pl) / 2)


def test_partial_fit_alone_learns():
    X, y = separable(3000)
    r = Ranker(RankerConfig(n_bits=16, alpha=0.1))
    for i in range(0, 3000, 500):
        r.partial_fit(X[i:i + 500], y[i:i + 500], y[i:i + 500])
    Xt, yt = separable(1000, seed=1)
    assert auc(yt, r.predict_many(Xt)[:, 0]) > 0.9


def test_unadmitted_rare_feature_has_zero_weight():
    X, y = separable(2000)
    X = [dict(x) for x in X]
    for i in range(2):  # seen twice, always positive: looks perfect, but is not admitted
        X[i]["song=rare"] = 1.0
        y[i] = 1
    r = Ranker(RankerConfig(n_bits=16, admit_batch=5)).fit(X, y, y)
    assert r.frequency("song=rare") == 2
    assert r.weight("song=rare") == 0.0
    assert r.weight("cat=0") != 0.0
    base = dict(X[5])
    assert r.predict({**base, "song=rare": 1.0}) == r.predict(base)
    # online: admitted once seen admit_online times in total
    from songlens.ranking.features import hash_feature

    idx = hash_feature("song=rare", r.config.n_bits)
    assert not r.admitted[idx]
    r.partial_fit([{**base, "song=rare": 1.0}], [1], [1])
    assert r.frequency("song=rare") == 3 and r.admitted[idx]
    assert r.models["complete"].n[idx] > 0  # trained from its admission on


def test_dynamic_l1_shrinks_rare_features_more():
    """Same data, same admission; only the dynamic L1 differs: rare features shrink harder."""
    rng = np.random.default_rng(3)
    X, y = [], []
    for i in range(4000):
        k = int(rng.integers(0, 2))
        f = {"bias": 1.0, f"common={k}": 1.0}
        lab = int(rng.random() < (0.8 if k else 0.2))
        if i % 500 == 0:  # a rare id, seen 8 times, positive-leaning
            f["id=rare"] = 1.0
            lab = 1
        X.append(f)
        y.append(lab)
    kw = dict(n_bits=16, admit_batch=1, l1=0.3, dyn_l1_n=50, epochs=1)
    plain = Ranker(RankerConfig(**kw, dyn_l1_c=0.0)).fit(X, y, y)
    dyn = Ranker(RankerConfig(**kw, dyn_l1_c=10.0)).fit(X, y, y)
    assert abs(dyn.weight("id=rare")) < abs(plain.weight("id=rare"))
    assert 0.0 <= dyn.weight("id=rare") < 0.5 * plain.weight("id=rare")
    # frequent features (seen far more than N) are untouched by the dynamic part
    assert dyn.weight("common=1") == pytest.approx(plain.weight("common=1"), rel=0.05)


def test_time_features_frozen_in_partial_fit_but_trained_in_fit():
    rng = np.random.default_rng(5)
    X, y = [], []
    for _ in range(2000):
        h = int(rng.integers(0, 24))
        X.append({"bias": 1.0, f"time:hour={h}": 1.0, f"x={int(rng.integers(0, 4))}": 1.0})
        y.append(int(rng.random() < (0.8 if h < 12 else 0.2)))
    r = Ranker(RankerConfig(n_bits=16)).fit(X, y, y)
    w_time = {h: r.weight(f"time:hour={h}") for h in range(24)}
    assert w_time[3] > 0 > w_time[20]  # batch fit trains time features
    w_x = r.weight("x=1")
    # a stream all at hour 20, all positive: online updates must not move time features
    stream = [{"bias": 1.0, "time:hour=20": 1.0, "x=1": 1.0}] * 300
    r.partial_fit(stream, [1] * 300, [1] * 300)
    assert {h: r.weight(f"time:hour={h}") for h in range(24)} == w_time
    assert r.weight("x=1") > w_x  # non-time features do move
    # an unseen time feature is counted but never admitted to training online
    r.partial_fit([{"bias": 1.0, "time:weekday=6": 1.0}] * 10, [1] * 10, [1] * 10)
    assert r.weight("time:weekday=6") == 0.0


def test_snapshot_round_trip_and_warm_start(tmp_path):
    X, y = separable(2000)
    r = Ranker(RankerConfig(n_bits=15)).fit(X[:1000], y[:1000], y[:1000])
    path = r.save(tmp_path / "snap" / "ranker.npz")
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    q = Ranker.load(path)
    assert q.version == r.version == 1 and q.config == r.config
    for x in X[1000:1100]:
        assert q.predict(x) == r.predict(x)  # exact
    # warm start continues exactly as the live model would
    r.partial_fit(X[1000:], y[1000:], y[1000:])
    q.partial_fit(X[1000:], y[1000:], y[1000:])
    assert q.version == r.version == 2
    np.testing.assert_array_equal(q.predict_many(X[:200]), r.predict_many(X[:200]))
    assert q.n_seen == 2000


def test_bad_input_errors(tmp_path):
    r = Ranker(RankerConfig(n_bits=10))
    with pytest.raises(InvalidInput, match="one value per sample"):
        r.fit([{"a": 1.0}], [1, 0], [1])
    with pytest.raises(InvalidInput, match="0 or 1"):
        r.partial_fit([{"a": 1.0}], [2], [1])
    with pytest.raises(InvalidInput, match="unknown targets"):
        Ranker(RankerConfig(score_weights={"click": 1.0}))
    (tmp_path / "junk.npz").write_bytes(b"not a snapshot")
    with pytest.raises(ModelError, match="cannot read"):
        Ranker.load(tmp_path / "junk.npz")


def test_every_ranker_setting_reaches_the_config():
    from songlens.settings import RankerSettings

    s = RankerSettings(alpha=0.2, beta=2.0, l1=0.1, l2=3.0, n_bits=12, admit_batch=7,
                       admit_online=4, epochs=3, complete_weight=2.0, like_weight=0.5)
    c = RankerConfig.from_settings(s)
    for name in set(RankerSettings.model_fields) - {"complete_weight", "like_weight"}:
        assert getattr(c, name) == getattr(s, name), name
    assert c.score_weights == {"complete": 2.0, "like": 0.5}
