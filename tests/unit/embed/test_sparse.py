"""Sparse encoder: BM25 document weights, binary query weights, stable term ids."""

from __future__ import annotations

import pytest

from ragplane_embed.sparse import SparseEncoder, term_id

pytestmark = pytest.mark.unit


@pytest.fixture
def encoder() -> SparseEncoder:
    return SparseEncoder(k1=1.2, b=0.75, avg_len=10.0)


def test_terms_are_lowercased_stemmed_and_stop_words_dropped(encoder):
    assert encoder.terms("The Rivers were FLOODING the valleys") == ["river", "flood", "valley"]


def test_term_ids_are_stable_crc32_of_the_stem():
    import zlib

    assert term_id("river") == zlib.crc32(b"river")
    assert term_id("river") != term_id("valley")
    assert 0 <= term_id("river") < 2**32


def test_document_weight_follows_bm25_tf_saturation_and_length_normalisation(encoder):
    vec = encoder.encode_document("river river river valley")
    weights = dict(zip(vec.indices, vec.values))
    norm = 1.2 * (1 - 0.75 + 0.75 * 4 / 10.0)
    assert weights[term_id("river")] == pytest.approx(3 * 2.2 / (3 + norm))
    assert weights[term_id("valley")] == pytest.approx(1 * 2.2 / (1 + norm))
    assert list(vec.indices) == sorted(vec.indices)


def test_longer_documents_weigh_a_term_less(encoder):
    short = encoder.encode_document("river delta")
    long = encoder.encode_document("river delta " + " ".join(f"word{i}" for i in range(40)))
    rid = term_id("river")
    assert dict(zip(short.indices, short.values))[rid] > dict(zip(long.indices, long.values))[rid]


def test_query_weights_are_one_per_unique_term(encoder):
    vec = encoder.encode_query("Where do rivers meet the river delta?")
    assert set(vec.values) == {1.0}
    # "where", "do", "the" are stop words; "rivers" and "river" share one stem.
    assert sorted(vec.indices) == sorted({term_id("river"), term_id("meet"), term_id("delta")})


def test_text_of_only_stop_words_gives_an_empty_vector(encoder):
    assert encoder.encode_document("the and of").indices == ()
    assert encoder.encode_query("what is it").indices == ()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"k1": 0}, "k1 must be > 0"), ({"b": 1.5}, "b must be between"), ({"avg_len": 0}, "avg_len must be > 0")],
)
def test_bad_parameters_are_rejected_naming_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SparseEncoder(**kwargs)
