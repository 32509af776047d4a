"""JSON Merge Patch (RFC 7396), as PUT /api/workflows/<id> applies it to state_data: the
examples of the RFC's appendix A, and that neither input is changed."""

import copy

import pytest

from wfapp.services.lifecycle import merge_patch

# RFC 7396, Appendix A: (original, patch, result)
APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "result"), APPENDIX_A)
def test_rfc_7396_appendix_a(original, patch, result):
    assert merge_patch(original, patch) == result


def test_rfc_7396_section_3_example():
    original = {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    }
    patch = {"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": None}, "tags": ["example"]}
    assert merge_patch(original, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    }


def test_removing_a_missing_key_changes_nothing():
    assert merge_patch({"a": 1}, {"b": None}) == {"a": 1}
    assert merge_patch({"a": {"x": 1}}, {"a": {"y": None}}) == {"a": {"x": 1}}


def test_an_empty_patch_keeps_the_target():
    assert merge_patch({"a": {"b": [1, 2]}}, {}) == {"a": {"b": [1, 2]}}


@pytest.mark.parametrize(("original", "patch", "result"), APPENDIX_A)
def test_neither_input_is_changed(original, patch, result):
    original_before, patch_before = copy.deepcopy(original), copy.deepcopy(patch)
    merge_patch(original, patch)
    assert original == original_before
    assert patch == patch_before


def test_a_nested_target_object_is_not_changed_in_place():
    inner = {"b": "c", "keep": 1}
    target = {"a": inner}
    result = merge_patch(target, {"a": {"b": None, "new": 2}})
    assert result == {"a": {"keep": 1, "new": 2}}
    assert inner == {"b": "c", "keep": 1}
    assert target == {"a": {"b": "c", "keep": 1}}
