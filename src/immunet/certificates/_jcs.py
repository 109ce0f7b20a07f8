"""JSON Canonicalization Scheme (RFC 8785) with a fast path for the JSON credentials carry.

``rfc8785`` (pure Python) is the reference; it costs ~60 µs on a vaccination credential, more
than the Ed25519 signature itself. For values made only of objects, arrays, strings, booleans,
null and integers of magnitude < 2**53, whose object keys are all in the Basic Multilingual
Plane, RFC 8785 output is byte-for-byte what ``json.dumps(sort_keys=True, separators=(",",
":"), ensure_ascii=False)`` writes:

* keys sort by UTF-16 code units (RFC 8785 §3.2.3); for BMP-only keys that is code-point order,
  Python's ``str`` order;
* strings escape exactly ``"``, ``\\`` and U+0000 to U+001F, with ``\\b \\t \\n \\f \\r`` short
  forms and lowercase ``\\u00xx`` otherwise (ECMAScript ``JSON.stringify``, as Python does);
  everything else is written as UTF-8;
* such integers print the same in ECMAScript's number serialization and in Python.

Anything else (floats, larger integers, astral-plane keys) goes to ``rfc8785``. The equivalence
is tested against ``rfc8785`` on generated JSON (``tests/unit/certificates/test_eddsa_jcs.py``).
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_SAFE_INT = 2**53
# No circular-reference check: ``_plain`` walks the whole value first, and a value that reaches
# ``_dumps`` is a finite tree (the check kept a set of every container's id, a tenth of the cost).
_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
).encode


class CanonicalizationError(ValueError):
    """The value has no RFC 8785 form (lone surrogate, NaN, integer out of range, …)."""


def _plain(value: Any) -> bool:
    """True if ``json`` writes ``value`` exactly as RFC 8785 does (see the module docstring)."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        node = pop()
        t = type(node)
        if t is str:
            continue
        if t is dict:
            try:
                keys = "".join(node)  # one C call per object; TypeError for a non-str key
            except TypeError:
                return False
            if not keys.isascii() and max(keys) > "\uffff":
                return False
            extend(node.values())
        elif t is list:
            extend(node)
        elif t is int:
            if not -_SAFE_INT < node < _SAFE_INT:
                return False
        elif not (t is bool or node is None):
            return False
    return True


def canonicalize(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value."""
    try:
        if _plain(value):
            return _dumps(value).encode("utf-8")
        return rfc8785.dumps(value)
    except (ValueError, TypeError, UnicodeEncodeError, rfc8785.CanonicalizationError) as exc:
        raise CanonicalizationError(f"no RFC 8785 form: {type(exc).__name__}") from None
