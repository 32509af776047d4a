"""How deeply a parsed JSON value nests, and the limit past which documents are refused."""

from typing import Any

# Documents nested deeper than this are refused before validation: validators, schema compilers
# and merges recurse over them (Python's recursion limit would turn them into a 500).
MAX_NESTING = 64


def nesting_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (counted without recursion;
    stops early once past MAX_NESTING)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                return depth
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest
