"""checkers.edn, the fast EDN reader, against the edn_format library it replaces on the hot path:
on random EDN both must read the same data."""

from __future__ import annotations

import math

import edn_format
import pytest
from edn_format import ImmutableDict, ImmutableList
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.edn import EdnError, read_forms, read_one


def plain(x):
    """edn_format's reading as the plain data checkers.edn gives."""
    if isinstance(x, (edn_format.Keyword, edn_format.Symbol)):
        return x.name
    if isinstance(x, (ImmutableDict, dict)):
        return {hashable(plain(k)): plain(v) for k, v in x.items()}
    if isinstance(x, (ImmutableList, list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, frozenset):
        return sorted(plain(v) for v in x)
    if isinstance(x, str):
        return str(x)  # edn_format's Char is a str subclass
    return x


def hashable(k):
    return tuple(hashable(v) for v in k) if isinstance(k, list) else k


# -- random EDN, as text -------------------------------------------------------------------------

NAME = st.from_regex(r"[a-z][a-z0-9*+!_?<>=-]{0,8}(\.[a-z][a-z0-9-]{0,4})?", fullmatch=True)
KEYWORD = st.builds(lambda ns, n: f":{ns}/{n}" if ns else f":{n}", st.none() | NAME, NAME)
SYMBOL = NAME.filter(lambda n: n not in ("nil", "true", "false"))
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def edn_string(s: str) -> str:
    return '"' + "".join(ESCAPES.get(c, c) for c in s) + '"'


SCALAR = st.one_of(
    st.just("nil"), st.just("true"), st.just("false"),
    st.integers(-10**20, 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    TEXT.map(edn_string), KEYWORD, SYMBOL,
)
SEP = st.sampled_from([" ", ", ", "\n", "  ", " ;; a comment\n ", ","])


def collections(children):
    items = st.lists(st.tuples(children, SEP), max_size=5)
    join = lambda xs: "".join(text + sep for text, sep in xs)  # noqa: E731
    pairs = st.lists(st.tuples(st.one_of(KEYWORD, st.integers(0, 99).map(str)), SEP, children,
                               SEP), max_size=4, unique_by=lambda t: t[0])
    return st.one_of(
        items.map(lambda xs: "[" + join(xs) + "]"),
        items.map(lambda xs: "(" + join(xs) + ")"),
        pairs.map(lambda ps: "{" + "".join(k + s1 + v + s2 for k, s1, v, s2 in ps) + "}"),
        st.lists(st.integers(-50, 50), max_size=5, unique=True).map(
            lambda xs: "#{" + " ".join(map(str, xs)) + "}"),
    )


EDN = st.recursive(SCALAR, collections, max_leaves=20)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None)
@given(EDN)
def test_reads_random_edn_as_edn_format_does(text):
    assert same(read_one(text), plain(edn_format.loads(text)))


@settings(max_examples=100, deadline=None)
@given(st.lists(EDN, min_size=1, max_size=6), SEP)
def test_reads_a_sequence_of_forms_with_their_offsets(texts, sep):
    whole = sep.join(texts)
    forms = read_forms(whole)
    assert len(forms) == len(texts)
    for (value, offset), text in zip(forms, texts):
        assert same(value, read_one(text))
        assert whole[offset:offset + len(text)] == text


# -- hand-written cases --------------------------------------------------------------------------

def test_jepsen_op_map():
    op = read_one('{:type :ok, :f :acquire, :process 3, :time 1234, :index 7, :value nil, '
                  ':error [:not-held "lock n1"]}')
    assert op == {"type": "ok", "f": "acquire", "process": 3, "time": 1234, "index": 7,
                  "value": None, "error": ["not-held", "lock n1"]}


def test_tagged_elements_read_as_the_element():
    assert read_one('#jepsen.history.Op{:index 0, :f :read}') == {"index": 0, "f": "read"}
    assert read_one('#inst "2020-01-01T00:00:00Z"') == "2020-01-01T00:00:00Z"
    assert read_one('[#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6" 1]') == \
        ["f81d4fae-7dec-11d0-a765-00a0c91e6bf6", 1]


def test_discard_comments_chars_and_symbolic_values():
    assert read_one("[1 #_ 2 #_ #_ 3 4 5 ; six\n]") == [1, 5]
    assert read_one(r"[\a \newline \u0041 \space]") == ["a", "\n", "A", " "]
    inf, ninf, nan = read_one("[##Inf ##-Inf ##NaN]")
    assert inf == math.inf and ninf == -math.inf and math.isnan(nan)
    assert read_one("[1N 2.5M -3 +4 1/2]") == [1, 2.5, -3, 4, 0.5]


def test_a_comment_runs_to_the_end_of_its_line_even_at_the_end_of_the_text():
    from checkers.edn import _read_forms

    for read in (read_forms, _read_forms):
        assert read("[1]\n; the end\n") == [([1], 0)]
        assert read(";nil") == [] and read("; a [ b\n2") == [(2, 8)]


def test_a_vector_used_as_a_map_key_becomes_a_tuple():
    assert read_one("{[1 2] :a}") == {(1, 2): "a"}


@pytest.mark.parametrize("text,at_end", [
    ("[1 2", True), ("{:a 1", True), ('"abc', False), ("[1 2}", False), ("]", False),
    ("{:a}", False), ("#_", True), ("#{1 2", True), ("#? x", False), (":", False),
    ("12abc", False),
])
def test_malformed_text_raises_with_position(text, at_end):
    with pytest.raises(EdnError) as err:
        read_forms(text)
    assert err.value.at_end is at_end
    assert 0 <= err.value.pos <= len(text)


# -- the C fast path against the Python reader ---------------------------------------------------

native = pytest.importorskip("checkers._edn", reason="checkers/_edn.c is not built")
MANGLE = st.sampled_from(["", "]", "}", ")", "[", "{", "#_", "#", "##", "\\", '"', ":", "::",
                          "1/0", "#foo", "é", "\u00a0", "\x1c", "N", "M", "e5", "#{", ";"])


def python_or_error(text):
    from checkers.edn import _read_forms
    try:
        return _read_forms(text)
    except EdnError:
        return "error"


@settings(max_examples=600, deadline=None)
@given(st.lists(EDN, max_size=4), SEP, st.lists(st.tuples(st.integers(0, 200), MANGLE),
                                                max_size=3))
def test_the_c_reader_agrees_or_defers(texts, sep, cuts):
    """On any text, _edn.c reads what edn.py reads, or answers None and leaves it to edn.py."""
    text = sep.join(texts)
    for at, insert in cuts:  # damage it here and there
        at = min(at, len(text))
        text = text[:at] + insert + text[at:]
    fast = native.read_forms(text)
    slow = python_or_error(text)
    if fast is None:
        return
    assert slow != "error", (text, fast)
    assert len(fast) == len(slow)
    for (a, pa), (b, pb) in zip(fast, slow):
        assert same(a, b) and pa == pb, (text, fast, slow)


def test_the_c_reader_reads_what_histories_hold():
    line = ('{:type :ok, :f :txn, :value [[:append 1 2] [:r 1 [1 2]]], :process 3, '
            ':time 1234, :index 7, :error nil, :x "a\\"b\\u0041\\n"}\n')
    fast = native.read_forms(line * 3)
    assert fast is not None and len(fast) == 3
    assert fast[0][0] == {"type": "ok", "f": "txn", "value": [["append", 1, 2], ["r", 1, [1, 2]]],
                          "process": 3, "time": 1234, "index": 7, "error": None, "x": 'a"bA\n'}
    assert [pos for _, pos in fast] == [0, len(line), 2 * len(line)]
    assert native.read_forms("[1 2") is None and native.read_forms("{:a é}") is None
