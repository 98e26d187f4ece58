"""The track-level feature record and the definition of every field."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["AudioFeatures", "FEATURE_DOCS"]

FEATURE_DOCS: dict[str, str] = {
    "duration_s": "Length of the analysed audio. Seconds, ≥ 0.",
    "tempo_bpm": (
        "Beat rate in beats per minute (quarter notes for most pop). From one onset envelope "
        "(log-mel spectral flux, 16 ms frames): its autocorrelation (the global autocorrelation "
        "tempogram) has peaks at the beat period and at its multiples; each peak between 30 and "
        "300 BPM is refined to a fractional lag and scored by its height × a log-normal prior "
        "centred on 120 BPM with a one-octave spread (librosa's default prior), which settles "
        "most half/double-time ties. Octave check: if the winner lies outside the perceptual range "
        "70–180 BPM and an octave relative (×2, ×½, ×3, ×⅓) inside it has at least 80 % of its "
        "autocorrelation, the relative is taken. BPM, 0 when no periodic pulse is found, else "
        "30–300 (mostly 70–180)."
    ),
    "tempo_confidence": (
        "Probability that tempo_bpm is within 4 % of the beat a listener taps (the notated beat: "
        "quarter note in 4/4 and 3/4, dotted quarter in 6/8 and 12/8): the level model's "
        "softmax probability of the chosen level, Platt-calibrated on rendered tuning pieces "
        "(curve on held-out pieces in benchmarks/results/tempo_level_v2.md); scaled down where "
        "the pulse is unclear, 0 when there is no pulse. On real recordings it runs lower than "
        "on rendered music (under-confident). 0–1."
    ),
    "tempo_alt_bpm": (
        "The runner-up metrical level for the tapped beat (often ×2, ×½, ×3/2 or ×2/3 of "
        "tempo_bpm): the tempo some listeners would tap instead. BPM; null when there is none."
    ),
    "key": (
        "Tonic pitch class, sharps spelling: C, C#, D, D#, E, F, F#, G, G#, A, A#, B; null when "
        "the audio has no pitched content. Found by correlating a whole-track chroma summary "
        "(constant-Q magnitudes, 36 bins/octave, C2–C8, summed over frames) with the 24 "
        "rotations of the Albrecht & Shanahan (2013) major and minor key profiles (Pearson r) "
        "and taking the best; Krumhansl–Kessler and Temperley profiles are selectable."
    ),
    "key_pitch_class": "The key as Spotify's integer pitch class (C=0 … B=11), -1 when unknown.",
    "mode": "'major' or 'minor', from the same key-profile correlation; null with the key.",
    "key_confidence": (
        "Probability that key and mode are exactly right, calibrated (isotonic) on rendered "
        "tuning pieces from how clearly the best key beats the runner-up ((r_best − r_second) / "
        "0.2, clipped to 0–1, r the Pearson correlations with the key profiles): of songs with "
        "key_confidence ≥ 0.8, about 80 % or more have the right key (curve on held-out pieces "
        "in benchmarks/RESULTS.md). 0–1."
    ),
    "camelot": (
        "Camelot wheel code for harmonic mixing: 1–12 and A (minor) or B (major); C major = 8B, "
        "A minor = 8A; adjacent numbers and the same number are compatible."
    ),
    "loudness_db": (
        "Integrated loudness per ITU-R BS.1770-4 (K-weighting, 400 ms blocks, absolute −70 LUFS "
        "and relative −10 LU gates) via pyloudnorm; clips shorter than 400 ms are measured as one "
        "block. LUFS (dB), −70 (floor) to about 0; streaming masters sit near −14 to −6."
    ),
    "dynamic_range_db": (
        "Loudness range (LRA) per EBU Tech 3342: spread between the 10th and 95th percentiles of "
        "the 3 s short-term loudness (every 0.1 s, K-weighted), after an absolute −70 LUFS and a "
        "relative −20 LU gate. LU (= dB), ≥ 0 (0 for a steady tone; pop ≈ 4–8, classical more); "
        "null for clips under 3 s or silence."
    ),
    "energy": (
        "Perceived intensity: 0.55 × loudness term (LUFS mapped linearly from −40 → 0 to −6 → 1) "
        "+ 0.25 × onset density (onset_rate / 8 per second, capped at 1) + 0.20 × brightness. "
        "0–1; louder, busier, brighter audio scores higher."
    ),
    "danceability": (
        "How suitable for dancing: 0.5 × beat strength (tempo_confidence) + 0.2 × pulse "
        "regularity (1 − coefficient of variation of the 8 s windowed pulse clarity) + 0.3 × "
        "tempo preference (Gaussian in log-tempo around 118 BPM, σ = 0.6 octave). 0–1."
    ),
    "valence": (
        "Musical positiveness (high: happy, cheerful; low: sad, tense). With mood tags: "
        "0.75 × tag valence + 0.25 × audio valence, where tag valence = (pos + 0.02) / (pos + neg "
        "+ 0.04) over weighted happy/party/catchy vs sad tag probabilities. Audio valence = 0.2 "
        "+ 0.3 × major-ness (0.5 ± key_confidence, + for major) + 0.2 × tempo term ((bpm − 60) / "
        "120) + 0.15 × brightness + 0.15 × energy. 0–1; see valence_source."
    ),
    "valence_source": "'tags+audio' when mood tags were given, else 'audio'.",
    "acousticness": (
        "Confidence the track is acoustic (not electronic/amplified). With instrument/genre tags: "
        "(a + 0.02) / (a + e + 0.04) over weighted acoustic (acoustic, classical, strings, piano, "
        "folk, …) vs electronic (electronic, techno, synth, house, metal, …) tag probabilities. "
        "Audio only: 0.4 × tonality (1 − spectral flatness term, log10 flatness −4 → 1, 0 → 0) + "
        "0.3 × dynamics (loudness range / 12 LU) + 0.3 × (1 − loudness term) — a weak heuristic. "
        "0–1; see acousticness_source."
    ),
    "acousticness_source": "'tags' when acoustic/electronic tags were given, else 'audio'.",
    "vocal_presence": (
        "Probability the track has vocals (sung or spoken). With tags: (v + 0.02) / (v + n + "
        "0.04), v = strongest vocal tag (vocal, vocals, singing, male/female vocal, …), n = "
        "strongest no-vocal tag (no vocals, no vocal, no voice, instrumental). Audio only: "
        "0.1 + 0.8 × syllabic modulation (share of the 300–3400 Hz band envelope's 0.5–16 Hz "
        "modulation power at 2–8 Hz) × tonality (1 − spectral flatness term) — a weak heuristic "
        "kept inside 0.1–0.9 (rhythmic pitched parts at 2–8 notes/s also score); prefer tags. "
        "0–1; see vocal_source. In an ingested song's document it is the voice detector's "
        "probability instead (vocal_source 'voice': calibrated vocal vs no-vocal outputs per "
        "patch, the median patch; songlens/content/tagging/voice.py)."
    ),
    "instrumentalness": "1 − vocal_presence (Spotify: near 1 means no vocal content). 0–1.",
    "vocal_source": "'voice', 'tags' or 'audio' (for vocal_presence and instrumentalness).",
    "speechiness": (
        "Presence of spoken words (Spotify: > 0.66 mostly speech, 0.33–0.66 rap-like, < 0.33 "
        "music). With tags: max(speech, 0.7 × rap, 0.5 × Hip-Hop). Audio only: (0.5 × pause "
        "ratio (share of 16 ms frames 20 dB under the 90th-percentile frame) + 0.5 × syllabic "
        "modulation) × tonality × (1 − best key-profile correlation): speech pauses, modulates at "
        "the syllable rate, is harmonic but follows no key. A weak heuristic. 0–1; see "
        "speechiness_source."
    ),
    "speechiness_source": "'tags' when speech/rap/Hip-Hop tags were given, else 'audio'.",
    "brightness": (
        "Spectral centroid (energy-weighted mean over frames) on a log scale: 300 Hz → 0, "
        "4 kHz → 1, clipped. 0–1 (white noise ≈ 1 at 16 kHz, a bass note 0)."
    ),
    "spectral_centroid_hz": "Energy-weighted mean spectral centroid. Hz, 0–sr/2.",
    "onset_rate": "Detected note/drum onsets per second (librosa peak picking). 1/s, ≥ 0.",
}


@dataclass(frozen=True)
class AudioFeatures:
    """Track-level features; see :data:`FEATURE_DOCS` for each field's definition and range."""

    duration_s: float
    tempo_bpm: float
    tempo_confidence: float
    tempo_alt_bpm: float | None
    key: str | None
    key_pitch_class: int
    mode: str | None
    key_confidence: float
    camelot: str | None
    loudness_db: float
    dynamic_range_db: float | None
    energy: float
    danceability: float
    valence: float
    valence_source: str
    acousticness: float
    acousticness_source: str
    vocal_presence: float
    instrumentalness: float
    vocal_source: str
    speechiness: float
    speechiness_source: str
    brightness: float
    spectral_centroid_hz: float
    onset_rate: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: 0–1 scores to 3 decimals, dB and BPM to 2, Hz to 1."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, float):
                digits = 1 if name.endswith("_hz") else 2 if name in _TWO_DIGITS else 3
                value = round(value, digits)
            out[name] = value
        return out


_TWO_DIGITS = {"duration_s", "tempo_bpm", "tempo_alt_bpm", "loudness_db", "dynamic_range_db",
               "onset_rate"}
