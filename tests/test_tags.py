"""The request checks every entry point shares (tokenizer manager, scheduler, HTTP, Engine)."""

import pytest

from sglang_patch.memory_occupation.tags import InvalidRequestError, check_release_options, normalize_tags


@pytest.mark.parametrize(
    "tags, expected",
    [
        (None, ["cuda_graph", "weights", "kv_cache"]),
        ([], ["cuda_graph", "weights", "kv_cache"]),
        (["kv_cache", "cuda_graph"], ["cuda_graph", "kv_cache"]),
        (["kv_cache"], ["kv_cache"]),
        (["kv_cache", "weights"], ["weights", "kv_cache"]),  # resume order, whatever the caller's
        (("weights",), ["weights"]),
    ],
)
def test_normalize_tags(tags, expected):
    assert normalize_tags(tags) == expected


@pytest.mark.parametrize(
    "tags, needle",
    [
        ("kv_cache", "must be a list of strings"),
        ({"kv_cache": 1}, "must be a list of strings"),
        ([None], "every tag must be a string"),
        (["kv"], "unknown tag(s) ['kv']; known tags: ['cuda_graph', 'weights', 'kv_cache']"),
        (["weights", "weights"], "given more than once"),
    ],
)
def test_bad_tags_say_what_to_send(tags, needle):
    with pytest.raises(InvalidRequestError) as e:
        normalize_tags(tags)
    assert needle in str(e.value)


@pytest.mark.parametrize("mode, timeout, seconds", [("wait", None, 60.0), ("abort", 1, 1.0), ("reject", 0.5, 0.5)])
def test_release_options_ok_give_the_seconds_to_wait(mode, timeout, seconds):
    assert check_release_options(mode, timeout) == seconds


@pytest.mark.parametrize("mode, timeout", [("later", None), ("wait", 0), ("wait", -1), ("wait", "5"), ("wait", True)])
def test_release_options_bad(mode, timeout):
    with pytest.raises(InvalidRequestError):
        check_release_options(mode, timeout)
