"""A seeded listener simulator for offline cold-start evaluation.

The world
---------
* A latent taste space of ``latent_dim`` dimensions. Every style tag of the taxonomy has a latent
  prototype; every scene / emotion tag too, and every theme tag that says something about the
  music (not the audience, a show or a chart).
* **Songs** pick a style (Zipf-like popularity of styles), a latent vector ``z`` near its
  prototype, a language (each style has its own language mix), an intrinsic ``quality`` (appeal
  nobody can see in the content, only in how listeners react) and audio features driven by ``z``
  (tempo, energy, danceability, valence, loudness). Tags are drawn from ``z``: the style plus the
  closest scene / emotion / theme prototypes, with scores. Observed vectors are noisy views of
  ``z``: ``audio`` = random projection of ``z`` + noise (it does not know the language), ``text``
  = projection of ``z`` and the language + more noise, ``fused`` = their normalised concatenation.
  ``anisotropy`` > 0 adds a direction shared by every song to both views before normalising,
  as real embeddings have one (songs of unrelated sources at cosine 0.4–0.7): 1.0 puts the
  median cosine of two random songs near 0.5 in ``fused``.
  A song's payload is what the catalog stores for a real song
  (:meth:`songlens.catalog.record.SongRecord.to_payload`).
* **Listeners** have 1–3 taste centroids in the latent space (with weights; with
  ``taste_max_cos`` set, the styles behind them are at most that cosine apart, so a listener's
  tastes are far apart in audio), a preferred language
  (and dislikes of others), a preferred tempo and energy with a tolerance, per-emotion biases and
  an activity level.
* **Utility** of a song for a listener: ``3·max_c cos(c, z) + lang_pref + emotion bias −
  tempo/energy misfit + 0.6·quality`` (+ per-event noise). A shown song is played with
  probability ``sigmoid(u − 1) × position bias``; a played song completes with
  ``sigmoid(2(u − 1.5))``, a completed one is liked with ``sigmoid(2(u − 2.3))``; an unfinished
  play is a skip (early), sometimes a dislike.
* **Days**: ``initial_songs`` exist before day 0; ``new_songs_per_day`` arrive every day. Each day
  every listener sees a feed (``share_new`` of it new songs of the last ``new_window_days``,
  the rest popular catalogue songs), and also plays a few songs on their own (search, library:
  organic plays without an impression, drawn from their true taste), which is where history
  comes from.

Hidden scenes (``n_scenes`` > 0): every song also belongs to one of ``n_scenes`` scenes (a
circle of listeners, a label, a show) drawn independently of ``z``, so no content view, tag or
(unless ``artists_by_scene``) artist shows it; every listener likes one scene, which adds
``scene_weight`` to the utility of its songs. Only co-listening reveals a scene: this is the
world where a collaborative channel can beat content. Scenes come from their own generator, so
the world without them is drawn exactly as before.

Everything is drawn from one ``numpy`` generator seeded by ``seed``; the tags come from the
taxonomy (``load_taxonomy()`` unless one is passed), in its order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from songlens.catalog.record import SongRecord
from songlens.coldstart.events import Event
from songlens.content.taxonomy import Taxonomy, load_taxonomy
from songlens.units import DAY

__all__ = ["SimConfig", "SimSong", "SimUser", "Simulator"]

logger = logging.getLogger(__name__)

#: Theme tags no simulated song carries: they name an audience (儿童, 70后…), a show or a chart,
#: nothing the latent taste space draws.
UNDRAWN_THEMES = frozenset({"综艺", "儿童", "70后", "80后", "90后", "榜单", "00后"})
#: every simulated song lasts this long (a complete play is 200 s of it)
SONG_DURATION_S = 200.0


@dataclass
class SimConfig:
    n_users: int = 300
    initial_songs: int = 1500
    new_songs_per_day: int = 40
    latent_dim: int = 16
    audio_dim: int = 32
    text_dim: int = 24
    audio_noise: float = 0.5
    text_noise: float = 0.8
    song_spread: float = 0.25
    feed_per_day: float = 20.0
    organic_per_day: float = 4.0
    share_new: float = 0.6
    new_window_days: int = 7
    anisotropy: float = 0.0
    taste_max_cos: float | None = None
    n_scenes: int = 0
    scene_weight: float = 1.5
    artists_by_scene: bool = False
    start_ts: float = 1_767_225_600.0  # 2026-01-01 00:00 UTC
    seed: int = 0


@dataclass
class SimSong:
    song_id: str
    z: np.ndarray
    quality: float
    day: int
    payload: dict[str, Any]
    vectors: dict[str, np.ndarray]
    scene: int = -1


@dataclass
class SimUser:
    user_id: str
    tastes: np.ndarray  # (n_tastes, latent_dim), unit rows
    taste_w: np.ndarray
    lang_pref: np.ndarray  # per Simulator.languages
    tempo: tuple[float, float]
    energy: tuple[float, float]
    emo_bias: np.ndarray  # per Simulator.emotions
    activity: float
    heard: set[str] = field(default_factory=set)
    scene: int = -1  # the hidden scene liked (-1: none)


def _ev(user_id: str, song_id: str, event: str, ts: float, play_ms: int | None = None) -> Event:
    """A trusted simulator event (skips pydantic validation for speed)."""
    return Event.model_construct(user_id=user_id, song_id=song_id, event=event, ts=ts,
                                 play_ms=play_ms, event_id=None)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -35, 35)))


class Simulator:
    """The simulated world (see the module docstring); :meth:`run` yields one day at a time.

    ``languages``, ``styles``, ``scenes``, ``emotions`` and ``themes`` are the tags songs are
    drawn with, in the taxonomy's order.
    """

    def __init__(self, config: SimConfig | None = None, *,
                 taxonomy: Taxonomy | None = None) -> None:
        self.cfg = cfg = config or SimConfig()
        self.taxonomy = tax = taxonomy or load_taxonomy()
        self.languages = tuple(tax.tags["language"])
        self.styles = tuple(tax.tags["style"])
        self.scenes = tuple(tax.tags["scene"])
        self.emotions = tuple(tax.tags["emotion"])
        self.themes = tuple(t for t in tax.tags["theme"] if t not in UNDRAWN_THEMES)
        self.rng = rng = np.random.default_rng(cfg.seed)
        L = cfg.latent_dim
        self.style_proto = _unit(rng.normal(size=(len(self.styles), L)))
        self.scene_proto = _unit(rng.normal(size=(len(self.scenes), L)))
        self.emo_proto = _unit(rng.normal(size=(len(self.emotions), L)))
        self.theme_proto = _unit(rng.normal(size=(len(self.themes), L)))
        self.style_pop = 1.0 / np.arange(1, len(self.styles) + 1) ** 0.8
        self.style_pop /= self.style_pop.sum()
        self.style_lang = rng.dirichlet(np.full(len(self.languages), 0.4),
                                        size=len(self.styles))
        self.A_audio = rng.normal(size=(cfg.audio_dim, L)) / np.sqrt(L)
        self.A_text = rng.normal(size=(cfg.text_dim, L)) / np.sqrt(L)
        self.B_text = rng.normal(size=(cfg.text_dim, len(self.languages))) * 0.5
        self.w_tempo, self.w_energy = _unit(rng.normal(size=L)), _unit(rng.normal(size=L))
        self.w_dance, self.w_val = _unit(rng.normal(size=L)), _unit(rng.normal(size=L))
        # a shared direction (own generator: the default world is drawn as before)
        crng = np.random.default_rng([cfg.seed, 1])
        self.common_audio = _unit(crng.normal(size=cfg.audio_dim))
        self.common_text = _unit(crng.normal(size=cfg.text_dim))
        self.srng = np.random.default_rng([cfg.seed, 2])  # hidden scenes
        self.songs: dict[str, SimSong] = {}
        self.order: list[str] = []
        self.counts: dict[str, int] = {}
        self.users = [self._make_user(i) for i in range(cfg.n_users)]
        if cfg.n_scenes:
            for u in self.users:
                u.scene = int(self.srng.integers(0, cfg.n_scenes))
        for _ in range(cfg.initial_songs):
            self._make_song(day=-1 - int(rng.integers(0, 60)))
        self.day = -1

    # -- world -----------------------------------------------------------------------------------
    def _tag(self, dim: str, name: str, score: float) -> dict[str, Any]:
        return {"tag": name, "en": self.taxonomy.en[(dim, name)], "score": score,
                "evidence": [{"source": "sim", "cue": "latent", "p": 1.0}]}

    def _make_song(self, day: int) -> SimSong:
        cfg, rng = self.cfg, self.rng
        sid = f"s{len(self.order):05d}"
        st = int(rng.choice(len(self.styles), p=self.style_pop))
        z = _unit(self.style_proto[st] + cfg.song_spread * rng.normal(size=cfg.latent_dim))
        lang = int(rng.choice(len(self.languages), p=self.style_lang[st]))
        quality = float(rng.normal())
        tempo = float(np.clip(60 + 120 * _sigmoid(2.5 * self.w_tempo @ z) + rng.normal(0, 6),
                              50, 200))
        energy = float(np.clip(_sigmoid(2.5 * self.w_energy @ z + rng.normal(0, 0.2)), 0, 1))
        dance = float(_sigmoid(2 * self.w_dance @ z))
        val = float(_sigmoid(2 * self.w_val @ z))

        def top(dim: str, proto: np.ndarray, names: tuple[str, ...], n: int
                ) -> list[dict[str, Any]]:
            s = proto @ z + rng.normal(0, 0.15, size=len(names))
            idx = np.argsort(-s)[:n]
            return [self._tag(dim, names[i], round(float(_sigmoid(4 * s[i])), 3)) for i in idx]

        style, language = self.styles[st], self.languages[lang]
        styles = [self._tag("style", style, round(float(rng.uniform(0.7, 1.0)), 3))]
        second = top("style", self.style_proto, self.styles, 2)
        styles += [s for s in second if s["tag"] != style][:1]
        tags = {
            "language": [self._tag("language", language, 0.95)],
            "style": styles,
            "scene": top("scene", self.scene_proto, self.scenes, 2),
            "emotion": top("emotion", self.emo_proto, self.emotions, 2),
            "theme": top("theme", self.theme_proto, self.themes, 1),
        }
        lang_oh = np.eye(len(self.languages))[lang]
        audio = _unit(self.A_audio @ z + cfg.audio_noise * rng.normal(size=cfg.audio_dim)
                      / np.sqrt(cfg.audio_dim) * np.sqrt(cfg.latent_dim) / 4)
        text = _unit(self.A_text @ z + self.B_text @ lang_oh
                     + cfg.text_noise * rng.normal(size=cfg.text_dim)
                     / np.sqrt(cfg.text_dim) * np.sqrt(cfg.latent_dim) / 4)
        if cfg.anisotropy:
            audio = _unit(audio + cfg.anisotropy * self.common_audio)
            text = _unit(text + cfg.anisotropy * self.common_text)
        fused = _unit(np.concatenate([audio, 0.8 * text]))
        ing = cfg.start_ts + day * DAY + float(rng.uniform(0, DAY))
        artist = f"artist{int(rng.integers(0, 400))}"
        scene = int(self.srng.integers(0, cfg.n_scenes)) if cfg.n_scenes else -1
        if scene >= 0 and cfg.artists_by_scene:
            artist = f"scene{scene}-artist{int(self.srng.integers(0, 10))}"
        payload = SongRecord(
            song_id=sid, title=f"song {sid}", artist=artist, duration_s=SONG_DURATION_S,
            tags=tags, language={"primary": language, "scores": {language: 0.95},
                                 "source": "sim"},
            audio_features={"tempo_bpm": tempo, "energy": energy, "danceability": dance,
                            "valence": val, "loudness_db": -20 + 12 * energy,
                            "duration_s": SONG_DURATION_S},
            ingested_at=ing, updated_at=ing).to_payload()
        song = SimSong(sid, z, quality, day, payload,
                       {"audio": audio.astype(np.float32), "text": text.astype(np.float32),
                        "fused": fused.astype(np.float32)}, scene)
        self.songs[sid] = song
        self.order.append(sid)
        return song

    def _make_user(self, i: int) -> SimUser:
        rng, L = self.rng, self.cfg.latent_dim
        n = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25]))
        styles = rng.choice(len(self.styles), size=n, replace=False, p=self.style_pop)
        if self.cfg.taste_max_cos is not None:
            for _ in range(100):  # redraw until the styles are far apart
                c = self.style_proto[styles] @ self.style_proto[styles].T
                if n == 1 or c[np.triu_indices(n, 1)].max() <= self.cfg.taste_max_cos:
                    break
                styles = rng.choice(len(self.styles), size=n, replace=False, p=self.style_pop)
        tastes = _unit(self.style_proto[styles] + 0.12 * rng.normal(size=(n, L)))
        lang_pref = rng.normal(-0.6, 0.4, size=len(self.languages))
        lang_pref[int(rng.choice(len(self.languages), p=self.style_lang[styles[0]]))] = 1.0
        z0 = tastes[0]
        t_mean = float(60 + 120 * _sigmoid(2.5 * self.w_tempo @ z0) + rng.normal(0, 10))
        e_mean = float(_sigmoid(2.5 * self.w_energy @ z0 + rng.normal(0, 0.3)))
        return SimUser(
            user_id=f"u{i:04d}", tastes=tastes, taste_w=rng.dirichlet(np.full(n, 2.0)),
            lang_pref=lang_pref, tempo=(t_mean, float(rng.uniform(15, 35))),
            energy=(e_mean, float(rng.uniform(0.15, 0.35))),
            emo_bias=rng.normal(0, 0.3, size=len(self.emotions)),
            activity=float(rng.lognormal(0.0, 0.5)))

    # -- ground truth ----------------------------------------------------------------------------
    def utility(self, user: SimUser, song: SimSong) -> float:
        """Noise-free utility of ``song`` for ``user``."""
        pl = song.payload
        taste = 3.0 * float(np.max(user.tastes @ song.z))
        lang = float(user.lang_pref[self.languages.index(pl["language"])])
        emo = sum(user.emo_bias[self.emotions.index(t["tag"])] * t["score"]
                  for t in pl["tags"]["emotion"])
        af = pl["audio_features"]
        misfit = 0.5 * min(((af["tempo_bpm"] - user.tempo[0]) / user.tempo[1]) ** 2, 4.0)
        misfit += 0.5 * min(((af["energy"] - user.energy[0]) / user.energy[1]) ** 2, 4.0)
        return (taste + lang + float(emo) - misfit + 0.6 * song.quality
                + self._scene_bonus(user, np.array([song.scene]))[0])

    def _scene_bonus(self, user: SimUser, scenes: np.ndarray) -> np.ndarray:
        if user.scene < 0:
            return np.zeros(len(scenes))
        return self.cfg.scene_weight * (scenes == user.scene)

    def _arrays(self) -> dict[str, np.ndarray]:
        if getattr(self, "_arr_n", -1) != len(self.order):
            songs = [self.songs[s] for s in self.order]
            emo = np.zeros((len(songs), len(self.emotions)))
            for i, sg in enumerate(songs):
                for t in sg.payload["tags"]["emotion"]:
                    emo[i, self.emotions.index(t["tag"])] += t["score"]
            self._arr = {
                "z": np.array([sg.z for sg in songs]),
                "lang": np.array([self.languages.index(sg.payload["language"])
                                  for sg in songs]),
                "emo": emo,
                "tempo": np.array([sg.payload["audio_features"]["tempo_bpm"] for sg in songs]),
                "energy": np.array([sg.payload["audio_features"]["energy"] for sg in songs]),
                "quality": np.array([sg.quality for sg in songs]),
                "scene": np.array([sg.scene for sg in songs]),
            }
            self._pos = {s: i for i, s in enumerate(self.order)}
            self._arr_n = len(self.order)
        return self._arr

    def utilities(self, user: SimUser, song_ids: list[str] | np.ndarray) -> np.ndarray:
        """Vectorised :meth:`utility` over songs."""
        a = self._arrays()
        ix = np.array([self._pos[s] for s in song_ids], dtype=np.int64)
        taste = 3.0 * (a["z"][ix] @ user.tastes.T).max(axis=1)
        misfit = 0.5 * np.minimum(((a["tempo"][ix] - user.tempo[0]) / user.tempo[1]) ** 2, 4.0)
        misfit += 0.5 * np.minimum(((a["energy"][ix] - user.energy[0]) / user.energy[1]) ** 2,
                                   4.0)
        return (taste + user.lang_pref[a["lang"][ix]] + a["emo"][ix] @ user.emo_bias - misfit
                + 0.6 * a["quality"][ix] + self._scene_bonus(user, a["scene"][ix]))

    def p_complete_many(self, user: SimUser, song_ids: list[str] | np.ndarray) -> np.ndarray:
        return _sigmoid(2 * (self.utilities(user, song_ids) - 1.5))

    def p_complete(self, user: SimUser, song: SimSong) -> float:
        """True probability that ``user`` plays ``song`` to the end once it is playing."""
        return float(_sigmoid(2 * (self.utility(user, song) - 1.5)))

    # -- days ------------------------------------------------------------------------------------
    def new_song_ids(self, day: int, window: int | None = None) -> list[str]:
        """Songs that arrived in days ``(day - window, day]``."""
        w = self.cfg.new_window_days if window is None else window
        return [s for s in self.order if day - w < self.songs[s].day <= day]

    def _interact(self, user: SimUser, song: SimSong, ts: float, pos: int | None,
                  out: list[Event], u_true: float) -> None:
        rng = self.rng
        u = u_true + rng.normal(0, 0.5)
        uid, sid = user.user_id, song.song_id
        if pos is not None:
            out.append(_ev(uid, sid, event="impression", ts=ts))
            bias = 1.0 / np.sqrt(1.0 + 0.15 * pos)
            if rng.random() > _sigmoid(u - 1.0) * bias:
                return
        user.heard.add(sid)
        self.counts[sid] = self.counts.get(sid, 0) + 1
        t = ts + 1.0
        if rng.random() < _sigmoid(2 * (u - 1.5)):
            out.append(_ev(uid, sid, event="complete", ts=t + 200,
                             play_ms=200_000))
            if rng.random() < _sigmoid(2 * (u - 2.3)):
                out.append(_ev(uid, sid, event="like", ts=t + 201))
        else:
            ms = int(rng.uniform(2_000, 25_000))
            out.append(_ev(uid, sid, event="play", ts=t, play_ms=ms))
            out.append(_ev(uid, sid, event="skip", ts=t + ms / 1000,
                             play_ms=ms))
            if rng.random() < 0.3 * _sigmoid(-2 * u):
                out.append(_ev(uid, sid, event="dislike", ts=t + ms / 1000 + 1))

    def step(self) -> tuple[int, list[str], list[Event]]:
        """Advance one day: new songs arrive, listeners listen. Returns (day, new ids, events)."""
        cfg, rng = self.cfg, self.rng
        self.day += 1
        d = self.day
        new = [self._make_song(d).song_id for _ in range(cfg.new_songs_per_day)]
        recent = self.new_song_ids(d)
        cat = np.array(self.order)
        pop = np.array([self.counts.get(s, 0) + 1.0 for s in cat])
        pop_p = pop / pop.sum()
        events: list[Event] = []
        day0 = cfg.start_ts + d * DAY
        for user in self.users:
            n_feed = int(rng.poisson(cfg.feed_per_day * user.activity))
            n_org = int(rng.poisson(cfg.organic_per_day * user.activity))
            sess = day0 + float(rng.uniform(6, 23)) * 3600
            n_new = int(rng.binomial(n_feed, cfg.share_new))
            shown = list(rng.choice(recent, size=min(n_new, len(recent)), replace=False))
            shown += list(rng.choice(cat, size=n_feed - len(shown), p=pop_p))
            rng.shuffle(shown)
            shown = list(dict.fromkeys(shown))
            u_shown = self.utilities(user, shown) if shown else []
            for pos, sid in enumerate(shown):
                self._interact(user, self.songs[sid], sess + pos * 240.0, pos % 10, events,
                               float(u_shown[pos]))
            if n_org:
                # organic listening from true taste: softmax over a random slice of the catalogue
                pool = rng.choice(cat, size=min(200, len(cat)), replace=False)
                u = self.utilities(user, pool)
                p = np.exp(2 * (u - u.max()))
                p /= p.sum()
                picks = rng.choice(pool, size=min(n_org, len(pool)), replace=False, p=p)
                t0 = day0 + float(rng.uniform(0, 23)) * 3600
                u_pool = dict(zip(pool, u, strict=True))
                for j, sid in enumerate(picks):
                    self._interact(user, self.songs[sid], t0 + j * 250.0, None, events,
                                   float(u_pool[sid]))
        events.sort(key=lambda e: e.ts)
        return d, new, events

    def run(self, days: int) -> Iterator[tuple[int, list[str], list[Event]]]:
        for _ in range(days):
            yield self.step()
