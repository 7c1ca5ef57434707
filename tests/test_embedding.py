"""The static encoder's fast path: the same tokens and vectors as model2vec, whatever the batch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import ROOT
from toolkit.encoders.static import StaticEncoder, _ChunkTokenizer

EDGE_CASES = [
    "",
    " ",
    "a  b\t\tc\n\nd",
    "naïve café ÉCOLE",
    "x\u0301y z \u0301w",
    "tab\tsep\u00a0nbsp\u3000ideographic",
    "中文字符测试 and 日本語のテキスト",
    "a" * 150 + " b",
    "emoji 🙂 glued🙂text",
    "\x1ccontrol\x1dchars\x85next",
    "عاجل: أسعار الذهب اليوم",
    "S&P 500 (NYSE:NVDA) -2.3%",
]


@pytest.fixture(scope="module")
def encoder():
    return StaticEncoder()


@pytest.fixture(scope="module")
def texts():
    with open(ROOT / "datasets" / "test.jsonl", encoding="utf-8") as handle:
        corpus = [json.loads(line)["text"] for line in handle]
    return corpus[:80] + EDGE_CASES


def test_chunk_cache_gives_the_tokenizers_own_ids(encoder, texts):
    tokenizer = encoder._load().tokenizer
    chunks = _ChunkTokenizer(tokenizer)
    assert chunks.chunked
    for _ in range(2):  # cold, then from the cache
        flat, lengths = chunks.ids(texts)
        rows = np.split(flat, np.cumsum(lengths)[:-1])
        expected = [encoding.ids for encoding in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
        assert [row.tolist() for row in rows] == expected


def test_full_cache_starts_afresh(encoder, texts):
    tokenizer = encoder._load().tokenizer
    chunks = _ChunkTokenizer(tokenizer, limit=5)
    expected = [
        encoding.ids
        for encoding in tokenizer.encode_batch_fast(
            ["the cat", "the dog sat on the mat", "a new cat and the dog"], add_special_tokens=False
        )
    ]
    # each call mixes remembered chunks with new ones past the limit
    for text, ids in zip(
        ["the cat", "the dog sat on the mat", "a new cat and the dog"], expected, strict=True
    ):
        flat, _ = chunks.ids([text])
        assert flat.tolist() == ids
        assert len(chunks._known) <= max(5, len(set(text.split())) + 1)
    flat, lengths = chunks.ids(texts[:5])
    rows = np.split(flat, np.cumsum(lengths)[:-1])
    assert [row.tolist() for row in rows] == [
        e.ids for e in tokenizer.encode_batch_fast(texts[:5], add_special_tokens=False)
    ]


def test_long_chunks_are_not_remembered(encoder):
    chunks = _ChunkTokenizer(encoder._load().tokenizer)
    paragraph = "ロボットが工場で部品を運び、センサーで周囲を確かめながら作業を続けている。" * 3
    flat, _ = chunks.ids([paragraph + " short words"])
    assert paragraph not in chunks._known and "short" in chunks._known
    assert flat.size > 0


def test_vectors_match_model2vec(encoder, texts):
    ours = encoder.encode(texts)
    model = encoder._load()
    theirs = np.asarray(model.encode(texts, max_length=None, use_multiprocessing=False), dtype=np.float32)
    norms = np.linalg.norm(theirs, axis=1, keepdims=True)
    theirs = np.divide(theirs, norms, out=np.zeros_like(theirs), where=norms > 0)
    assert np.abs(ours - theirs).max() < 2e-3  # model2vec averages in float16, we sum in float32


def test_a_texts_vector_does_not_depend_on_its_batch(encoder, texts):
    alone = np.vstack([encoder.encode([text]) for text in texts[:10]])
    together = encoder.encode(texts[:10] + texts[-5:])[:10]
    np.testing.assert_allclose(alone, together, atol=1e-6)


def test_long_texts_are_read_whole(encoder):
    head = "chip fabrication plant " * 200
    longer = encoder.encode([head, head + "robot arm humanoid warehouse " * 400])
    assert float(longer[0] @ longer[1]) < 0.99


def test_other_tokenizers_are_not_chunked():
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "▁a": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    chunks = _ChunkTokenizer(tokenizer)
    assert not chunks.chunked
    flat, lengths = chunks.ids(["a a", "b"])
    assert lengths.tolist() == [2, 1]
