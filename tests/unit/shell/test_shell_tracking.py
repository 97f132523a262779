"""Tracking signatures bind a report to its message, campaign and user."""

from engine.shell.tracking import check_signature, sign


def test_a_signature_binds_message_campaign_and_user():
    sig = sign(b"k", "msg-1", "cart", "u1")
    assert check_signature(b"k", "msg-1", "cart", "u1", sig)
    assert not check_signature(b"k", "msg-2", "cart", "u1", sig)
    assert not check_signature(b"k", "msg-1", "win-back", "u1", sig)  # counts moved to another campaign
    assert not check_signature(b"k", "msg-1", "cart", "u2", sig)  # a click credited to another user
    assert not check_signature(b"k", "msg-1", "", "", sig)
    assert not check_signature(b"other", "msg-1", "cart", "u1", sig)


def test_no_two_triples_share_an_encoding():
    # With plain concatenation these would sign the same bytes.
    assert sign(b"k", "m", "ab", "c") != sign(b"k", "m", "a", "bc")
    assert sign(b"k", "m|a", "b", "") != sign(b"k", "m", "a|b", "")


def test_any_text_is_a_wrong_signature_not_an_error():
    assert not check_signature(b"k", "m", "c", "u", "\udcff\u00e9")
    assert not check_signature(b"k", "m", "c", "u", "")


def test_a_variant_is_signed_with_its_message_and_none_keeps_the_old_signature():
    sig = sign(b"k", "msg-1", "ab", "u1", "b")
    assert check_signature(b"k", "msg-1", "ab", "u1", sig, "b")
    assert not check_signature(b"k", "msg-1", "ab", "u1", sig, "a")  # b's click moved to a
    assert not check_signature(b"k", "msg-1", "ab", "u1", sig)
    assert sign(b"k", "msg-1", "cart", "u1", None) == sign(b"k", "msg-1", "cart", "u1", "") == sign(b"k", "msg-1", "cart", "u1")
