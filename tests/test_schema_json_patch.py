"""JSON Patch (RFC 6902) on state_data, with RFC 6901 pointers."""

import pytest

from wfapp.schemas.json_patch import JsonPatchError, apply_json_patch

DOC = {"name": "Ann", "a/b": 1, "m~n": 2, "tags": ["x", "y"], "addr": {"city": "Oslo"}}


def errors(ops, doc=DOC):
    with pytest.raises(JsonPatchError) as exc:
        apply_json_patch(doc, ops)
    return exc.value.errors


def test_add_remove_replace_test_move_copy():
    out = apply_json_patch(
        DOC,
        [
            {"op": "test", "path": "/name", "value": "Ann"},
            {"op": "replace", "path": "/name", "value": "Bo"},
            {"op": "add", "path": "/tags/1", "value": "new"},
            {"op": "add", "path": "/tags/-", "value": "end"},
            {"op": "remove", "path": "/a~1b"},
            {"op": "replace", "path": "/m~0n", "value": None},
            {"op": "add", "path": "/addr/zip", "value": "0150"},
            {"op": "copy", "from": "/addr/city", "path": "/city"},
            {"op": "move", "from": "/tags/0", "path": "/first"},
        ],
    )
    assert out == {
        "name": "Bo",
        "m~n": None,
        "tags": ["new", "y", "end"],
        "addr": {"city": "Oslo", "zip": "0150"},
        "city": "Oslo",
        "first": "x",
    }
    assert list(out)[:2] == ["name", "m~n"]  # replace keeps a field's place
    assert DOC["name"] == "Ann" and DOC["tags"] == ["x", "y"]  # the input is left alone


def test_test_compares_json_values():
    apply_json_patch(
        {"n": 1, "o": {"a": [1, 2]}},
        [{"op": "test", "path": "/n", "value": 1.0}, {"op": "test", "path": "/o", "value": {"a": [1, 2]}}],
    )
    assert (
        errors([{"op": "test", "path": "/n", "value": True}], {"n": 1})[0]["message"]
        == "operation 0 (test): the value differs"
    )


@pytest.mark.parametrize(
    ("ops", "path", "fragment"),
    [
        ([{"op": "remove", "path": "/missing"}], "/state_data/missing", "no member 'missing'"),
        ([{"op": "replace", "path": "/nope", "value": 1}], "/state_data/nope", "no member"),
        ([{"op": "add", "path": "/tags/5", "value": 1}], "/state_data/tags/5", "out of range"),
        ([{"op": "add", "path": "/tags/01", "value": 1}], "/state_data/tags/01", "not an array index"),
        ([{"op": "add", "path": "/name/x", "value": 1}], "/state_data/name/x", "neither an object nor an array"),
        ([{"op": "add", "path": "name", "value": 1}], "/state_dataname", "not a JSON Pointer"),
        ([{"op": "add", "path": "/a~2", "value": 1}], "/state_data/a~2", "'~'"),
        ([{"op": "add", "path": "/x"}], "/state_data/x", "needs a 'value'"),
        ([{"op": "frob", "path": "/x"}], "/state_data/x", "'op' must be one of"),
        ([{"op": "move", "from": "/addr", "path": "/addr/inner"}], "/state_data/addr/inner", "into itself"),
        ([{"op": "copy", "path": "/x"}], "/state_data/x", "needs 'from'"),
        (["nope"], "/state_data", "must be an object"),
        ({"op": "add"}, "/state_data", "an array of operations"),
    ],
)
def test_bad_operations_are_refused_with_a_path(ops, path, fragment):
    found = errors(ops)
    assert found[0]["path"] == path and fragment in found[0]["message"], found


def test_a_failing_operation_applies_none():
    doc = {"a": 1}
    errors([{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 2}], doc)
    assert doc == {"a": 1}


def test_the_whole_document_can_be_replaced_but_not_removed():
    assert apply_json_patch({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {"b": 2}
    assert "whole document" in errors([{"op": "remove", "path": ""}])[0]["message"]
