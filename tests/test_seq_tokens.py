"""Read-your-writes tokens (`TF-Seq`, `TF-Min-Seq`) on a platform of several shards: a token
is a shard and its seq in one number, and a client names up to 16 of them."""

from tradingfloor.domain.shards import ORDER_ID_SHARD_SPAN, seq_token, split_token
from tradingfloor.gateway.backend import SEQ_TOKENS_MAX, _tokens


def test_a_token_is_a_shard_and_a_seq_and_shard_zero_s_are_its_seqs() -> None:
    assert seq_token(0, 42) == 42
    assert seq_token(2, 12_345) == 2 * ORDER_ID_SHARD_SPAN + 12_345 == 20_000_000_012_345
    assert split_token(20_000_000_012_345) == (2, 12_345)


def test_the_min_seq_header_takes_one_token_a_shard() -> None:
    assert _tokens(b"12") == [12]
    assert _tokens(b"12, 10000000000005") == [12, 10_000_000_000_005]
    assert _tokens(b",".join([b"1"] * SEQ_TOKENS_MAX)) == [1] * SEQ_TOKENS_MAX


def test_a_malformed_min_seq_header_is_as_if_absent() -> None:
    for value in (b"", b"12,", b"x", b"-1", b"1" * 20, b",".join([b"1"] * (SEQ_TOKENS_MAX + 1))):
        assert _tokens(value) is None, value
