"""Reading EDN, as Jepsen and Knossos write histories, into plain Python data.

Values come out the way every reader of ours wants them: keywords and symbols as their names
(`:invoke` -> "invoke", `:jepsen/x` -> "jepsen/x"), vectors and lists as lists, maps as dicts
(a vector used as a key becomes a tuple), sets as sorted lists, `#inst`/`#uuid` and other tagged
elements as the element itself (a Jepsen record `#jepsen.history.Op{...}` reads as its map).

Why not the edn_format library: it parses with PLY, about 0.25 ms per op line, which made reading
most of the time of checking a history. Here one regular expression finds each token and a stack
builds the values; `tests/checkers/test_edn.py` checks on random EDN that both read the same.
Well-formed ASCII text is read faster still by `_edn.c`, a C version of the same loop built at
install; whatever it is unsure of (malformed text, non-ASCII outside strings) it leaves to the
Python reader here, which stays the definition (SPLITBRAIN_PURE_PYTHON=1 keeps to it).

`read_forms(text)` gives every top-level form with the offset where it starts, so a reader can
name the line of a bad op; malformed text raises `EdnError`, which says whether the text merely
stopped in the middle of a form (a torn last line).
"""

from __future__ import annotations

import os
import re
from typing import Any

_native: Any = None
if os.environ.get("SPLITBRAIN_PURE_PYTHON") != "1":
    try:  # checkers/_edn.c, built by setup.py when a C compiler is at hand
        from checkers import _edn as _native
    except ImportError:
        _native = None

__all__ = ["EdnError", "read_forms", "read_one", "line_of"]


class EdnError(ValueError):
    """Text that is not EDN. `pos` is the offset of the problem; `at_end` is True when the text
    ends inside a form (for example a torn last line)."""

    def __init__(self, message: str, pos: int, at_end: bool = False) -> None:
        super().__init__(message)
        self.pos = pos
        self.at_end = at_end


# One token, after any whitespace, commas and ; comments. Groups: 1 string body, 2 opening
# bracket, 3 closing bracket, 4 what follows '#', 5 character name, 6 any other atom. The skip is
# possessive (*+): a comment runs to the end of its line, never shorter to let a token match.
_TOKEN = re.compile(r"""
    (?:[\s,]++|;[^\n]*+)*+
    (?:
        "((?:[^"\\]|\\.)*)"
      | ([\[({])
      | ([\])}])
      | \#(\{|_|\#[A-Za-z-]+|[^\s,\[\](){}"\\;]*)
      | \\(newline|return|space|tab|formfeed|backspace|u[0-9A-Fa-f]{4}|.)
      | ([^\s,\[\](){}"\\;\#][^\s,\[\](){}"\\;]*)
    )""", re.VERBOSE | re.DOTALL)
_SKIP = re.compile(r"(?:[\s,]++|;[^\n]*+)*+")
_INTEGER = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?M?")
_RATIO = re.compile(r"([+-]?\d+)/(\d+)")
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_ESCAPES = {"t": "\t", "r": "\r", "n": "\n", "\\": "\\", '"': '"', "b": "\b", "f": "\f"}
_CHARS = {"newline": "\n", "return": "\r", "space": " ", "tab": "\t", "formfeed": "\f",
          "backspace": "\b"}
_SYMBOLIC = {"##Inf": float("inf"), "##-Inf": float("-inf"), "##NaN": float("nan")}
_CONSTANTS: dict[str, Any] = {"nil": None, "true": True, "false": False}
_PREFIXED = (1, 4, 5)  # groups whose match starts one character into the token
_CLOSER = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_DISCARD = "_"
_ATOM_CACHE_MAX = 1 << 16  # distinct atoms remembered (a history repeats a few of them)


def read_forms(text: str) -> list[tuple[Any, int]]:
    """Every top-level form of `text` with the offset where it starts."""
    if _native is not None:
        forms = _native.read_forms(text)
        if forms is not None:
            return forms  # type: ignore[no-any-return]
    return _read_forms(text)


def _read_forms(text: str) -> list[tuple[Any, int]]:
    """read_forms in Python: the definition, and the reader of whatever _edn.c leaves to it."""
    forms: list[tuple[Any, int]] = []
    # One frame per open collection: [opening bracket, items, offset, pending prefixes].
    # Prefixes are the tags and #_ discards waiting for the next value in that frame.
    top: list[Any] = [None, forms, 0, []]
    stack: list[list[Any]] = [top]
    frame = top
    atoms: dict[str, Any] = {}
    match = _TOKEN.match
    end = len(text)
    pos = 0
    form_start = -1  # where the top-level form being read began
    while True:
        m = match(text, pos)
        if m is None:
            pos = _SKIP.match(text, pos).end()  # type: ignore[union-attr]
            if pos >= end:
                break
            raise EdnError(f"unexpected {text[pos]!r}", pos)
        group = m.lastindex
        # where the token starts: before its opening quote, '#' or backslash
        token_at = m.start(group) - (group in _PREFIXED)  # type: ignore[arg-type]
        pos = m.end()
        if frame is top and form_start < 0:
            form_start = token_at
        if group == 6:
            atom = m.group(6)
            value = atoms.get(atom, atoms)
            if value is atoms:
                value = _atom(atom, token_at)
                if len(atoms) < _ATOM_CACHE_MAX:
                    atoms[atom] = value
        elif group == 1:
            body = m.group(1)
            value = _unescape(body) if "\\" in body else body
        elif group == 2:
            frame = [m.group(2), [], token_at, []]
            stack.append(frame)
            continue
        elif group == 3:
            closer = m.group(3)
            if frame is top:
                raise EdnError(f"unmatched {closer!r}", token_at)
            opener, items, _, prefixes = frame
            if _CLOSER[opener] != closer:
                raise EdnError(f"{opener!r} closed by {closer!r}", token_at)
            if prefixes:
                raise EdnError("a tag or #_ with no value after it", token_at)
            value = _collection(opener, items, frame[2])
            stack.pop()
            frame = stack[-1]
        elif group == 4:
            dispatch = m.group(4)
            if dispatch == "{":
                frame = ["#{", [], token_at, []]
                stack.append(frame)
                continue
            if dispatch.startswith("#"):
                if "##" + dispatch[1:] not in _SYMBOLIC:
                    raise EdnError(f"unknown symbolic value #{dispatch}", token_at)
                value = _SYMBOLIC["##" + dispatch[1:]]
            elif dispatch == _DISCARD or (dispatch and dispatch[0].isalpha()):
                frame[3].append(dispatch)
                continue
            else:
                raise EdnError(f"unknown dispatch #{dispatch}", token_at)
        else:
            name = m.group(5)
            value = _CHARS.get(name) or (chr(int(name[1:], 16)) if len(name) == 5 else name)
        # a complete value: apply the frame's pending tags, or drop it after a #_
        prefixes = frame[3]
        while prefixes:
            if prefixes.pop() == _DISCARD:
                break
        else:
            if frame is top:
                forms.append((value, form_start))
                form_start = -1
            else:
                frame[1].append(value)
            continue
        if frame is top and not prefixes:
            form_start = -1  # a discarded top-level form
    if len(stack) > 1:
        raise EdnError(f"the text ends inside the {stack[-1][0]!r} opened here", stack[-1][2],
                       at_end=True)
    if top[3]:
        raise EdnError("the text ends after a tag or #_ with no value", end, at_end=True)
    return forms


def read_one(text: str) -> Any:
    """The single form of `text` (EdnError if there is none or more than one)."""
    forms = read_forms(text)
    if len(forms) != 1:
        raise EdnError(f"expected one EDN form, found {len(forms)}", 0)
    return forms[0][0]


def line_of(text: str, pos: int) -> int:
    """The 1-based line of offset `pos`."""
    return text.count("\n", 0, pos) + 1


def _atom(atom: str, pos: int) -> Any:
    first = atom[0]
    if first == ":":
        if len(atom) == 1 or atom[1] == ":" and len(atom) == 2:
            raise EdnError("a keyword with no name", pos)
        return atom[1:]
    if first.isdigit() or (first in "+-" and len(atom) > 1 and atom[1].isdigit()):
        if _INTEGER.fullmatch(atom):
            return int(atom.rstrip("N"))
        if _FLOAT.fullmatch(atom):
            return float(atom.rstrip("M"))
        ratio = _RATIO.fullmatch(atom)
        if ratio and int(ratio.group(2)):
            return int(ratio.group(1)) / int(ratio.group(2))
        raise EdnError(f"{atom!r} is not a number", pos)
    if atom in _CONSTANTS:
        return _CONSTANTS[atom]
    return atom  # a symbol: its name


def _unescape(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if len(code) == 5:
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, code)
    return _ESCAPE.sub(one, body)


def _collection(opener: str, items: list[Any], pos: int) -> Any:
    if opener == "{":
        if len(items) % 2:
            raise EdnError("a map with an odd number of forms", pos)
        keys = items[::2]
        for k in keys:
            if type(k) is list or type(k) is dict:
                return {_hashable(k): v for k, v in zip(keys, items[1::2])}
        return dict(zip(keys, items[1::2]))
    if opener == "#{":
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    return items


def _hashable(key: Any) -> Any:
    if type(key) is list:
        return tuple(_hashable(k) for k in key)
    if type(key) is dict:
        return tuple(sorted((_hashable(k), _hashable(v)) for k, v in key.items()))
    return key
