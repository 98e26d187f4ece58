"""The catalogue of benchmarks/text_search.py: real songs with real lyrics and listener text,
read at run time from three public repositories (nothing copied into songlens):

* MuChin (github.com/CarlWangChina/MuChin, MIT licence for the dataset; the lyrics remain their
  authors'): 1,000 Chinese songs, each with its lyrics (``raw_lyric``), name, singer and genre
  (``meta_info``) and listeners' descriptions of it (``amat_desc_json`` by amateur listeners,
  ``prof_desc_json`` by music professionals): the descriptions stand in for comments.
  ``--muchin`` names its ``dataset/bm-data`` folder.
* utahaku (github.com/Sakaki-Ya/utahaku, Japanese 童謡, 子守唄 and 民謡 whose lyrics the site
  states are out of copyright; the repository states no licence): ``--utahaku`` names its
  ``content/posts`` folder.
* The UCI YouTube Spam Collection (Alberto, Lochter & Almeida 2015, CC BY 4.0; the copy in
  github.com/shravyashetty04/youtube-spam-detector): comments under five music videos, the
  non-spam ones (CLASS 0) only, as five English-titled songs with comments and no lyrics.
  ``--youtube`` names the folder of its ``Youtube0*.csv`` files.

Songs are drawn by a seeded sample (:data:`SEED`); MuChin songs holding a text of the held-out
half of /work/textlabels (when present) are left out of the draw.
"""

from __future__ import annotations

import csv
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20261130
N_MUCHIN, N_UTAHAKU = 80, 15
_LRC = re.compile(r"^\s*(\[[^\]]*\])+")


@dataclass
class Song:
    song_id: str
    title: str
    artist: str
    lyrics: str
    comments: list[str] = field(default_factory=list)
    genre: str = ""
    source: str = ""


def _heldout_texts() -> set[str]:
    p = Path("/work/textlabels/items.jsonl")
    if not p.exists():
        return set()
    rows = [json.loads(x) for x in p.read_text("utf-8").splitlines() if x.strip()]
    return {r["text"] for r in rows if r.get("split") == "heldout"}


def _descs(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [a["desc"].strip() for a in data.get("ans", []) if (a.get("desc") or "").strip()]


def muchin_songs(root: Path, n: int = N_MUCHIN, seed: int = SEED) -> list[Song]:
    heldout = _heldout_texts()
    songs = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        meta = dict(line.split(":", 1) for line in (d / "meta_info").read_text("utf-8")
                    .splitlines() if ":" in line)
        meta = {k.strip(): v.strip() for k, v in meta.items()}
        lines = [_LRC.sub("", ln).strip() for ln in (d / "raw_lyric").read_text("utf-8")
                 .splitlines()]
        lines = [ln for ln in lines if ln and ":" not in ln[:6] and "：" not in ln[:6]]
        comments = _descs(d / "amat_desc_json") + _descs(d / "prof_desc_json")
        if not lines or not comments:
            continue
        text = "\n".join(lines + comments)
        if any(h in text for h in heldout):
            continue
        songs.append(Song(f"muchin-{d.name}", meta.get("name", d.name), meta.get("singer", ""),
                          "\n".join(lines), comments, meta.get("genre", ""), "MuChin"))
    return random.Random(seed).sample(songs, n)


def utahaku_songs(root: Path, n: int = N_UTAHAKU, seed: int = SEED) -> list[Song]:
    songs = []
    for f in sorted(root.glob("*/*.md")):
        text = f.read_text("utf-8")
        title = re.search(r"^title\s*=\s*'([^']*)'|^title\s*=\s*\"([^\"]*)\"", text, re.M)
        body = re.search(r"## 歌詞\s*\n(.*?)(\n## |\Z)", text, re.S)
        if not title or not body:
            continue
        lines = [ln.strip().rstrip("\\").strip() for ln in body.group(1).splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith(("{{", "!["))]
        if len(lines) < 2:
            continue
        songs.append(Song(f"utahaku-{f.stem}", title.group(1) or title.group(2), "",
                          "\n".join(lines), [], f.parent.name, "utahaku"))
    return random.Random(seed).sample(songs, min(n, len(songs)))


YOUTUBE = {"Youtube01-Psy.csv": ("Gangnam Style", "PSY"),
           "Youtube02-KatyPerry.csv": ("Roar", "Katy Perry"),
           "Youtube03-LMFAO.csv": ("Party Rock Anthem", "LMFAO"),
           "Youtube04-Eminem.csv": ("Love the Way You Lie", "Eminem ft. Rihanna"),
           "Youtube05-Shakira.csv": ("Waka Waka (This Time for Africa)", "Shakira")}


def youtube_songs(root: Path, per_song: int = 30, seed: int = SEED) -> list[Song]:
    songs = []
    for name, (title, artist) in YOUTUBE.items():
        with open(root / name, encoding="utf-8", newline="") as fh:
            rows = [r["CONTENT"].strip() for r in csv.DictReader(fh) if r["CLASS"] == "0"]
        rows = sorted({r for r in rows if 10 <= len(r) <= 300})
        comments = random.Random(seed).sample(rows, min(per_song, len(rows)))
        songs.append(Song(f"youtube-{name.split('-')[0].lower()}", title, artist, "", comments,
                          "", "UCI YouTube Spam Collection"))
    return songs


def load_catalogue(muchin: Path, utahaku: Path, youtube: Path) -> list[Song]:
    return muchin_songs(muchin) + utahaku_songs(utahaku) + youtube_songs(youtube)


def dump(songs: list[Song], path: Path) -> None:
    """A reading copy for the judge: every song's title, lyrics excerpt and comments."""
    out = []
    for s in songs:
        out.append(f"## {s.song_id} | {s.title} | {s.artist} | {s.genre}")
        out.append("lyrics: " + " / ".join(s.lyrics.splitlines()[:14]))
        out += [f"comment: {c[:200]}" for c in s.comments[:6]]
        out.append("")
    path.write_text("\n".join(out), "utf-8")
