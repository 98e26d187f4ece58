"""A light audio embedding from librosa descriptors (no neural model).

Mean and standard deviation over time of MFCCs (timbre), chroma (harmony), spectral contrast
(texture) and onset strength (rhythm), standardised per block and L2-normalised. Weaker than
musicnn for genre and mood, but cheap and dependency-free: the ``audio.encoder: librosa`` option,
useful on very small machines and as a baseline in benchmarks.
"""

from __future__ import annotations

import librosa
import numpy as np

from songlens.embeddings.encoders import AudioAnalysis, AudioEncoder, l2_normalise

__all__ = ["LibrosaEncoder"]


class LibrosaEncoder(AudioEncoder):
    name = "librosa"

    @property
    def dim(self) -> int:
        return 2 * (20 + 12 + 7 + 1)

    def analyse(self, y: np.ndarray) -> AudioAnalysis:
        sr = self.sample_rate
        S = np.abs(librosa.stft(y, n_fft=1024, hop_length=512))
        mel = librosa.feature.melspectrogram(S=S**2, sr=sr, n_mels=64)
        blocks = [
            librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20),
            librosa.feature.chroma_stft(S=S, sr=sr),
            librosa.feature.spectral_contrast(S=S, sr=sr),
            librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr)[None, :],
        ]
        parts = []
        for b in blocks:
            stats = np.concatenate([b.mean(axis=1), b.std(axis=1)])
            parts.append(l2_normalise(stats - stats.mean()))
        return AudioAnalysis(vector=l2_normalise(np.concatenate(parts)))
