"""A configured sentiment model: a tiny, randomly initialised BERT classifier of the real class,
saved with ``save_pretrained`` and loaded through ``text.sentiment_model`` like a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from songlens.content.metadata import parse_metadata
from songlens.content.text.analyse import analyse_text
from songlens.content.text.sentiment_model import SentimentModel, label_valences
from songlens.errors import ConfigError

LYRICS = ("[00:01.00]眼泪掉下来 我好孤独\n[00:05.00]阳光很好 我很开心\n"
          "[00:09.00]眼泪掉下来 我好孤独\n")
COMMENTS = [("太好听了 单曲循环", 300), ("听哭了", 12), ("打卡", 0)]


def build_tiny_classifier(folder, labels: list[str]) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(0)
    chars = sorted(set(LYRICS + "".join(c for c, _ in COMMENTS) + "abcdefghijklmnopqrstuvwxyz"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [c for c in chars if not c.isspace()]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", "utf-8")
    BertTokenizer(str(folder / "vocab.txt"), tokenize_chinese_chars=True).save_pretrained(folder)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=37, max_position_embeddings=64,
                     num_labels=len(labels), id2label=dict(enumerate(labels)),
                     label2id={lab: i for i, lab in enumerate(labels)}, initializer_range=0.5)
    BertForSequenceClassification(cfg).eval().save_pretrained(folder)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sentiment") / "tiny-bert-sentiment"
    build_tiny_classifier(folder, ["negative", "positive"])
    return folder


@pytest.mark.parametrize(("labels", "expected"), [
    ({0: "negative", 1: "positive"}, [-1, 1]),
    ({0: "NEG", 1: "neutral", 2: "POS"}, [-1, 0, 1]),
    ({0: "正面", 1: "负面"}, [1, -1]),
    ({0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"}, [-1, -.5, 0, .5, 1]),
    ({0: "LABEL_0", 1: "LABEL_1"}, [-1, 1]),
])
def test_labels_become_valences(labels, expected):
    assert label_valences(labels).tolist() == pytest.approx(expected)


@pytest.mark.parametrize("labels", [{0: "joy", 1: "anger"}, {0: "positive", 1: "neutral"},
                                    {i: f"LABEL_{i}" for i in range(6)}])
def test_labels_it_cannot_read_are_a_config_error(labels):
    with pytest.raises(ConfigError, match="cannot tell"):
        label_valences(labels)


def test_valence_is_the_expectation_over_the_classes(model_dir):
    import torch

    m = SentimentModel(model_dir)
    texts = ["眼泪掉下来 我好孤独", "阳光很好 我很开心", "", "x" * 500]
    v = m.valence(texts)
    assert v.shape == (4,) and np.all(np.abs(v) <= 1)
    enc = m.tokenizer(texts[:2], padding=True, return_tensors="pt")
    with torch.no_grad():
        p = torch.softmax(m.model(**enc).logits, -1).numpy()
    assert v[:2] == pytest.approx(p @ np.array([-1.0, 1.0]), abs=1e-5)
    assert len(set(np.round(v[:2], 4))) == 2  # the random model does tell the two lines apart


def test_model_replaces_the_lexicon_with_weighted_means(model_dir, resources):
    m = SentimentModel(model_dir)
    a = analyse_text(title="夜曲", artist="x", lyrics=LYRICS, comments=COMMENTS,
                     valence_model=m.valence, resources=resources)
    sad, happy = m.valence(["眼泪掉下来 我好孤独", "阳光很好 我很开心"])
    lyric = (2 * sad + happy) / 3  # the sad line is sung twice
    assert a.sentiment == pytest.approx(0.6 * lyric + 0.4 * _comment_mean(m, resources),
                                        abs=1e-4)
    for ev in a.evidence:
        if ev.cue == "valence":
            assert ev.detail["by"] == "model"


def _comment_mean(m, resources):
    from songlens.content.text.comments import weigh_comments

    w = weigh_comments(COMMENTS, t2s=resources.t2s)
    v = m.valence([c.text for c in w])
    return float(sum(c.weight * x for c, x in zip(w, v, strict=True)) / sum(c.weight for c in w))


def test_bad_folders_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        SentimentModel(tmp_path)
    folder = tmp_path / "emotions"
    build_tiny_classifier(folder, ["joy", "anger", "fear"])
    with pytest.raises(ConfigError, match="joy"):
        SentimentModel(folder)


def test_catalog_uses_the_configured_model(model_dir, test_settings_factory, models,
                                           music_clips, resources):
    from songlens.catalog.pipeline import Catalog
    from songlens.embeddings.models import Models, build_sentiment_model
    from songlens.store import open_store

    settings = test_settings_factory(text={"sentiment_model": str(model_dir)})
    sentiment = build_sentiment_model(settings)
    store = open_store(path=settings.qdrant_path)
    try:
        cat = Catalog(settings=settings, store=store,
                      models=Models(audio=models.audio, text=models.text, sentiment=sentiment),
                      resources=resources)
        meta = parse_metadata({"song_id": "s1", "title": "夜曲", "lyrics": LYRICS,
                               "comments": [{"text": t, "likes": n} for t, n in COMMENTS]})
        doc = cat.ingest(music_clips["feelings"], meta, filename="f.ogg").record.to_document()
        assert doc["models"]["sentiment"] == "sentiment:tiny-bert-sentiment"
        expected = analyse_text(title="夜曲", artist="", lyrics=LYRICS, comments=COMMENTS,
                                valence_model=sentiment.valence, resources=resources).sentiment
        assert doc["sentiment"] == pytest.approx(expected, abs=1e-4)
    finally:
        store.close()
