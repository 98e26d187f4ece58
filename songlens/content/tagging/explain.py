"""One plain sentence per piece of tag evidence, for people who do not read evidence codes:
``{"source": "comments", "cue": "考研", "count": 3, "example": "考研的时候天天听"}`` becomes
*3 listener comments mention “考研”, e.g. “考研的时候天天听”.*"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["explain", "with_explanations"]

_MODELS = {"MSD_musicnn": "musicnn, trained on Million Song Dataset tags",
           "MTT_musicnn": "musicnn, trained on MagnaTagATune tags"}
_FIELDS = {"title": "title", "album": "album title", "artist": "artist name",
           "language": "catalogue"}


def _times(n: Any, one: str, many: str) -> str:
    return one if not isinstance(n, int) or n <= 1 else f"{n} {many}"


def explain(ev: Mapping[str, Any], *, tag_en: str, tag: str = "") -> str:
    """A sentence saying what ``ev`` (an evidence dict of the song's tag ``tag``) saw."""
    source, cue, p = ev.get("source"), str(ev.get("cue", "")), ev.get("p")
    if source == "audio" and cue == "no voice":  # the voice detector (tagging/voice.py)
        share = ev.get("vocal_share")
        heard = (f"hears a voice in {float(share):.0%} of the song"
                 if isinstance(share, int | float) else "hears no voice")
        vp = ev.get("voice_probability")
        prob = f" (probability of a voice {float(vp):.2f})" if isinstance(vp, int | float) else ""
        return f"The audio's vocal detector {heard}{prob}: it sounds instrumental."
    if source == "audio" and ev.get("model") == "instrument_head":
        pool = str(ev.get("pool") or "mean")
        share = pool.partition(":")[2] if pool.startswith("top:") else ""
        where = _times(ev.get("patches"), "the song", "3-second patches")
        if share:
            where = f"the strongest {float(share):.0%} of {where}"
        return (f"The instrument model (trained on musicnn's features of rendered instruments) "
                f"hears {tag_en or 'it'} in {where}: probability {float(p or 0):.2f} that it "
                f"plays.")
    if source == "audio":
        model = _MODELS.get(str(ev.get("model")), str(ev.get("model") or "the audio model"))
        pct = ev.get("percentile")
        how = f"more strongly than in {pct:.0%} of reference songs" \
            if isinstance(pct, int | float) else f"with probability {float(p or 0):.2f}"
        return f"The audio model ({model}) hears “{cue}” {how}."
    if source == "instruments":
        what = str(ev.get("en") or cue)
        if isinstance(ev.get("no_voice"), int | float):
            return (f"The audio has {what} in it and, with probability {ev['no_voice']:.2f}, "
                    f"no voice.")
        return f"The audio has {what} in it (instrument score {float(p or 0):.2f})."
    if source == "clap":
        return (f"The text-audio model {ev.get('model', '')} finds the sound closest to the "
                f"description “{cue}” (rank {ev.get('rank', '?')}).")
    if cue == "valence" and source in ("lyrics", "comments"):
        mood = "positive" if float(ev.get("valence", 0)) > 0 else "sad or negative"
        by = "a sentiment model" if ev.get("by") == "model" else "a sentiment word list"
        who = "The lyrics read" if source == "lyrics" else "Listeners' comments read"
        return f"{who} as {mood} overall (valence {float(ev.get('valence', 0)):+.2f}, by {by})."
    if source == "lyrics" and cue == "script":
        main = ", the main language" if ev.get("primary") else ""
        return f"About {float(p or 0):.0%} of the lyrics are written in {tag_en}{main}."
    if source == "lyrics":
        where = "The lyrics mention" if not isinstance(ev.get("count"), int) or \
            ev["count"] <= 1 else f"{ev['count']} lyric lines mention"
        neg = " (some mentions are negated)" if ev.get("negated") else ""
        return f"{where} “{cue}”{neg}."
    if source == "comments":
        who = _times(ev.get("count"), "A listener comment mentions",
                     "listener comments mention")
        example = f", e.g. “{ev['example']}”" if ev.get("example") else ""
        return f"{who[0].upper()}{who[1:]} “{cue}”{example}."
    if source == "metadata":
        if cue == "catalogue":
            return f"The catalogue gives the song's language as {tag_en}."
        field = _FIELDS.get(str(ev.get("field")), str(ev.get("field") or "metadata"))
        return f"The {field} contains “{cue}”."
    return f"{source}: “{cue}”."


def with_explanations(tags: Mapping[str, list[Mapping[str, Any]]]
                      ) -> dict[str, list[dict[str, Any]]]:
    """A copy of a song's ``tags`` where each evidence item also has ``why`` (a sentence)."""
    return {dim: [{**t, "evidence": [{**ev, "why": explain(ev, tag_en=str(t.get("en", "")),
                                                           tag=str(t.get("tag", "")))}
                                     for ev in t.get("evidence") or []]}
                  for t in items]
            for dim, items in tags.items()}
