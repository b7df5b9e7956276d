"""Sequential specifications ("models") that the linearizability checker holds histories against.

A model is a small class: `name`, `init() -> state` (hashable), and `step(state, op) -> (legal,
new_state)` saying whether `op` may happen next in `state` and what state follows. `op` is a
checkers.history.Operation of type "ok" (its result `op.value` must be explained) or "info" (the
outcome is unknown: `step` says what happens if it took effect; the checker itself covers the case
where it never did, so `step` may call it illegal when it could not have taken effect). Failed ops
never reach a model. Optional, with defaults in `Model`:

- `partition(ops)`: independent sub-histories (P-compositionality); by default one per `op.key`.
- `describe_op(op)` / `describe_state(state)`: words for the evidence ("read of k1 returned 3",
  "the register held 2").
- `info_deadlines(ops)`: for info ops, the time after which taking effect can no longer matter
  (-inf: it can never matter and is dropped). Lets the checker drop info reads and cut long
  histories into independent stretches despite ops of unknown outcome.
- `compile_step(op)`: a fast `state -> new_state | ILLEGAL` function for one op; the default wraps
  `step`. Returning `Expect(v)`, `Become(v)` or `Swap(e, v)` for ops of those shapes (or kv's
  `AppendText`) lets the native search run them without calling back into Python.
  `compile_steps(ops)` compiles a whole sub-history at once, which lets a model see that a state
  can never be observed and replace it by UNOBSERVABLE, merging equivalent states.
- `guards(ops)`: for each op that observes the state, `(test, enablers)` or None: `test(state)` is
  False only when, from `state`, the op cannot become legal unless one of the ops at indexes
  `enablers` is linearized first (a read of 3 needs a write of 3). The search drops a node whose
  next due op fails its test with no enabler left to run: a cheap look-ahead that cuts off the
  orderings of concurrent writes that cannot end well.

A step may have several possible outcomes (an info dequeue from an unordered queue removed some
element, we do not know which): it then returns `Branches((state1, state2, ...))`.
The op shapes of every model are tabled in docs/models.md.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any, Callable, ClassVar, Final, Iterator, cast

from mypy_extensions import mypyc_attr

from checkers.history import HistoryError, Operation


class _Illegal:
    """The result of a compiled step whose op cannot happen in the given state."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ILLEGAL"


ILLEGAL: Final[Any] = _Illegal()


class _Unobservable:
    """A state no later op can observe (a register value no read ever returns, a string no get
    ever returns a prefix of). All such states behave alike, so the search merges them."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNOBSERVABLE"


UNOBSERVABLE: Final[Any] = _Unobservable()


class Branches:
    """Several possible next states of one step (a nondeterministic op): iterate over it.

    A class of its own, not a tuple subclass, so that the compiled checker core can hold it."""

    __slots__ = ("states",)

    def __init__(self, states: Any) -> None:
        self.states: tuple = tuple(states)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.states)

    def __len__(self) -> int:
        return len(self.states)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Branches) and self.states == other.states

    def __hash__(self) -> int:
        return hash((Branches, self.states))

    def __repr__(self) -> str:
        return f"Branches({self.states!r})"


# Step functions of four common shapes, as objects the native search (kernel.py) can read
# without calling back into Python; to every other caller they are plain state -> state functions.

class Expect:
    """The step of an op legal only in state `value`, which it leaves as it was (an ok read)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, state: Any) -> Any:
        return state if state == self.value else ILLEGAL


class Become:
    """The step of an op legal in every state, after which the state is `value` (a blind write)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, state: Any) -> Any:
        return self.value


class Swap:
    """The step of an op legal only in state `expected`, after which the state is `value`
    (a compare-and-set)."""

    __slots__ = ("expected", "value")

    def __init__(self, expected: Any, value: Any) -> None:
        self.expected = expected
        self.value = value

    def __call__(self, state: Any) -> Any:
        return self.value if state == self.expected else ILLEGAL


class AppendText:
    """The step of an append of `tail` to a map that holds one key (a kv partition): the state is
    () or ((key, text),), and "" is left out. The new text becomes UNOBSERVABLE when no read
    returned a string that starts with it (`observed`: the strings reads returned, sorted): such
    a string can never be seen again, since appends only extend it (a put replaces it)."""

    __slots__ = ("key", "tail", "observed")

    def __init__(self, key: Any, tail: str, observed: list[str]) -> None:
        self.key = key
        self.tail = tail
        self.observed = observed

    def __call__(self, state: Any) -> Any:
        old = state[0][1] if state else ""
        if old is UNOBSERVABLE:
            return state
        new = old + self.tail
        if not _observable(self.observed, new):
            return ((self.key, UNOBSERVABLE),)
        return () if new == "" else ((self.key, new),)


class ModelError(HistoryError):
    """An operation the model cannot interpret (unknown f, or a value of the wrong shape)."""


def where(op: Operation) -> str:
    """How an error names an op: its position and its invocation's :index in the file."""
    return f"op {op.id} (:index {op.invoke_index}, process {op.process}, {op.f})"


def freeze(v: Any) -> Any:
    """A hashable equivalent of a JSON value: lists become tuples, dicts sorted item tuples."""
    t = type(v)
    if t is int or t is str or v is None:
        return v
    if t is list or t is tuple:
        return tuple(freeze(x) for x in v)
    if t is dict:
        return tuple(sorted(((k, freeze(x)) for k, x in v.items()), key=lambda kv: repr(kv[0])))
    if t is set or t is frozenset:
        return frozenset(freeze(x) for x in v)
    return v


def thaw(v: Any) -> Any:
    """A JSON-able form of a model state or value (for results.json)."""
    t = type(v)
    if t is int or t is str or v is None:
        return v
    if isinstance(v, (tuple, list)):
        return [thaw(x) for x in v]
    if isinstance(v, frozenset):
        items = [thaw(x) for x in v]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


def _key_part(op: Operation) -> str:
    return "" if op.key is None else f" {op.key}"


def _fmt(v: Any) -> str:
    return "nothing (absent)" if v is None else repr(v) if isinstance(v, str) else str(thaw(v))


# a user's model may subclass any of these: compiled classes refuse that unless told
@mypyc_attr(allow_interpreted_subclasses=True)
class Model:
    """Defaults for the optional parts of a model; subclasses define name, init and step."""

    name: ClassVar[str] = "model"
    #: f names whose only effect is to observe the state: an info op of these is dropped
    read_fs: ClassVar[frozenset[str]] = frozenset({"read", "get"})

    def init(self) -> Any:
        raise NotImplementedError

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        raise NotImplementedError

    def partition(self, ops: list[Operation]) -> list[list[Operation]]:
        """Independent sub-histories: one per key (linearizability is compositional)."""
        by_key: dict[Any, list[Operation]] = {}
        for op in ops:
            key = op.key
            if type(key) is not str:
                key = freeze(key)
            part = by_key.get(key)
            if part is None:
                by_key[key] = [op]
            else:
                part.append(op)
        return list(by_key.values())

    def info_deadlines(self, ops: list[Operation]) -> dict[int, Any]:
        """An info read constrains nothing and changes nothing: drop it. Others stay open."""
        return {op.id: -math.inf for op in ops if op.type == "info" and op.f in self.read_fs}

    def compile_step(self, op: Operation) -> Callable[[Any], Any]:
        step = self.step

        def compiled(state: Any) -> Any:
            legal, new = step(state, op)
            return new if legal else ILLEGAL
        return compiled

    def compile_steps(self, ops: list[Operation]) -> list[Callable[[Any], Any]]:
        return [self.compile_step(op) for op in ops]

    def describe_op(self, op: Operation) -> str:
        value = op.value if op.type == "ok" else op.invoke_value
        outcome = "" if op.type == "ok" else f" ({op.type}: outcome unknown)"
        return f"{op.f}{_key_part(op)} {_fmt(value)}{outcome}"

    def describe_state(self, state: Any) -> str:
        return f"the state was {_fmt(state)}"


# --- registers -----------------------------------------------------------------------------------

@mypyc_attr(allow_interpreted_subclasses=True)
class Register(Model):
    """A read/write register that starts absent (None).

    read: invoke value null, ok value = the value read (null = absent).
    write: invoke value = the value written.
    """

    name = "register"
    read_fs = frozenset({"read"})

    def init(self) -> Any:
        return None

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        f = op.f
        if f == "read":
            return (op.type != "ok" or freeze(op.value) == state), state
        if f == "write":
            return True, freeze(op.invoke_value)
        raise ModelError(f"{where(op)}: the {self.name} model has no operation {f!r}")

    def compile_step(self, op: Operation) -> Callable[[Any], Any]:
        f = op.f
        if f == "read":
            if op.type != "ok":
                return lambda s: s
            return Expect(freeze(op.value))
        if f == "write":
            return Become(freeze(op.invoke_value))
        return super().compile_step(op)

    def compile_steps(self, ops: list[Operation]) -> list[Callable[[Any], Any]]:
        """As compile_step, but a write of a value that no op ever observes leaves the register
        UNOBSERVABLE: all such values are alike to every later op."""
        effects = [self._effect(op) for op in ops]
        observed = {_hkey(v) for needs, _ in effects for v in needs}
        steps = []
        for op, (_, leaves) in zip(ops, effects):
            step = self.compile_step(op)
            if op.f != "read" and _hkey(leaves) not in observed:
                step = _unobservable_after(step)
            steps.append(step)
        return steps

    _memo: dict[int, tuple[Operation, Any]] | None = None

    def _effect(self, op: Operation) -> tuple[list[Any], Any]:
        """(values this op must see to be legal, the value it leaves), for the deadline
        analysis, compile_steps, required_states and guards: each asks for every op, so the
        answers are remembered (per op object, a bounded number of them)."""
        memo = self._memo
        if memo is None:
            memo = self._memo = {}
        hit = memo.get(id(op))
        if hit is not None and hit[0] is op:
            return hit[1]
        effect = self._effect_of(op)
        if len(memo) >= 1 << 16:
            memo.clear()
        memo[id(op)] = (op, effect)
        return effect

    def _effect_of(self, op: Operation) -> tuple[list[Any], Any]:
        if op.f == "read":
            return ([freeze(op.value)] if op.type == "ok" else []), None
        return [], freeze(op.invoke_value)

    def info_deadlines(self, ops: list[Operation]) -> dict[int, Any]:
        """An info op that writes v matters only until the last op that could observe v
        returns: after that, a register holding v can only be overwritten blindly, exactly as
        if the op had never happened. Computed as a least fixpoint because an info cas both
        observes (its expected value) and writes."""
        # times as Any, not float: compiled code would round int ns times through a double
        deadlines: dict[int, Any] = {op.id: -math.inf for op in ops if op.type == "info"}
        observers: dict[Any, list[Operation]] = {}
        produces: dict[int, Any] = {}
        for op in ops:
            needs, leaves = self._effect(op)
            if op.type == "info":
                needs = needs if op.f != "read" else []
                produces[op.id] = leaves if op.f != "read" else _NOTHING
            for v in needs:
                observers.setdefault(_hkey(v), []).append(op)
        writers = [op for op in ops if op.type == "info" and produces[op.id] is not _NOTHING]
        changed = True
        while changed:
            changed = False
            for op in writers:
                best = deadlines[op.id]
                for o in observers.get(_hkey(produces[op.id]), ()):
                    t = o.end if o.type == "ok" else deadlines[o.id]
                    if t > best:
                        best = t
                if best > deadlines[op.id]:
                    deadlines[op.id] = best
                    changed = True
        return {i: (d if d >= op_start else -math.inf)
                for i, d, op_start in ((op.id, deadlines[op.id], op.start)
                                       for op in ops if op.type == "info")}

    def required_states(self, ops: list[Operation]) -> dict[int, Any]:
        """An ok read of v, and a cas expecting v, is legal exactly when the register holds v."""
        out: dict[int, Any] = {}
        for i, op in enumerate(ops):
            needs = self._effect(op)[0] if op.type == "ok" or op.f != "read" else []
            if needs and _hkey(needs[0])[0]:
                out[i] = needs[0]
        return out

    def guards(self, ops: list[Operation]) -> list[Any]:
        """A read of v (or a cas expecting v) needs the register to hold v: only an op that
        writes v can help a state holding something else."""
        producers: dict[Any, list[int]] = {}
        for i, op in enumerate(ops):
            if op.f != "read":
                producers.setdefault(_hkey(self._effect(op)[1]), []).append(i)
        out: list[Any] = []
        for op in ops:
            needs = self._effect(op)[0] if op.type == "ok" else []
            if not needs:
                out.append(None)
                continue
            v = needs[0]
            out.append(((lambda s, v=v: s == v), producers.get(_hkey(v), [])))
        return out

    def describe_op(self, op: Operation) -> str:
        k = _key_part(op)
        tail = "" if op.type == "ok" else f" ({op.type}: outcome unknown)"
        if op.f == "read":
            if op.type == "ok":
                return f"read of{k or ' the register'} returned {_fmt(op.value)}"
            return f"read of{k or ' the register'}{tail}"
        if op.f == "write":
            return f"write {_fmt(op.invoke_value)}{' to' + k if k else ''}{tail}"
        if op.f == "cas":
            e, n = _cas_pair(op)
            return f"cas{k} from {_fmt(e)} to {_fmt(n)}{tail}"
        return super().describe_op(op)

    def describe_state(self, state: Any) -> str:
        return "the register was absent" if state is None else f"the register held {_fmt(state)}"


_NOTHING: Final[Any] = object()


def _unobservable_after(step: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if type(step) is Become:
        return Become(UNOBSERVABLE)
    if type(step) is Swap:
        return Swap(step.expected, UNOBSERVABLE)

    def compiled(state: Any) -> Any:
        return ILLEGAL if step(state) is ILLEGAL else UNOBSERVABLE
    return compiled


def _hkey(v: Any) -> Any:
    """Values as dictionary keys; unhashable ones fall back to their repr."""
    try:
        hash(v)
        return (True, v)
    except TypeError:
        return (False, repr(v))


def _cas_pair(op: Operation) -> tuple[Any, Any]:
    v = op.invoke_value
    if isinstance(v, dict) and "from" in v and "to" in v:
        return freeze(v["from"]), freeze(v["to"])
    if not (isinstance(v, (list, tuple)) and len(v) == 2):
        raise ModelError(f"{where(op)}: a cas needs the value [expected, new], got {v!r}")
    return freeze(v[0]), freeze(v[1])


@mypyc_attr(allow_interpreted_subclasses=True)
class CasRegister(Register):
    """A register with compare-and-set, starting absent (None).

    cas: invoke value [expected, new]; an ok cas applies only if the register held `expected`.
    A failed cas is dropped before the search, an info cas may or may not have applied.
    """

    name = "cas-register"

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        if op.f == "cas":
            e, n = _cas_pair(op)
            return (True, n) if state == e else (False, state)
        return super().step(state, op)

    def compile_step(self, op: Operation) -> Callable[[Any], Any]:
        if op.f == "cas":
            e, n = _cas_pair(op)
            return Swap(e, n)
        return super().compile_step(op)

    def _effect_of(self, op: Operation) -> tuple[list[Any], Any]:
        if op.f == "cas":
            e, n = _cas_pair(op)
            return [e], n
        return super()._effect_of(op)


# --- key-value maps ------------------------------------------------------------------------------

def _lookup(state: tuple, key: Any, default: Any) -> Any:
    for item in state:
        pair = cast(tuple, item)  # compiled: a tuple's items are read directly
        k = pair[0]
        if k is key or k == key:  # keys are usually the very same (shared) object
            return pair[1]
    return default


def _assoc(state: tuple, key: Any, value: Any, default: Any) -> tuple:
    """The map `state` (a tuple of pairs sorted by the keys' repr, default values left out)
    with key set."""
    for i in range(len(state)):
        k = cast(tuple, state[i])[0]
        if k is key or k == key:
            if value == default:
                return state[:i] + state[i + 1:]
            return state[:i] + ((key, value),) + state[i + 1:]
    if value == default:
        return state
    rank = repr(key)
    i = 0
    while i < len(state) and repr(cast(tuple, state[i])[0]) < rank:
        i += 1
    return state[:i] + ((key, value),) + state[i:]


def _prefix_test(key: Any, want: str) -> Callable[[Any], bool]:
    def test(state: tuple) -> bool:
        held = _lookup(state, key, "")
        return held is not UNOBSERVABLE and want.startswith(held)
    return test


def _append_step(key: Any, tail: str,
                 observable: Callable[[Any, Any], bool]) -> Callable[[Any], Any]:
    def compiled(state: tuple) -> tuple:
        old = _lookup(state, key, "")
        if old is UNOBSERVABLE:
            return state
        new = old + tail
        return _assoc(state, key, new if observable(key, new) else UNOBSERVABLE, "")
    return compiled


def _one_key(key: Any, text: Any) -> tuple:
    """The state of a map with only `key` (as _assoc((), key, text, "") builds it)."""
    return () if text == "" else ((key, text),)


def _observable(values: list[str] | None, text: Any) -> bool:
    """Whether some string in `values` (sorted) starts with `text`."""
    if not values or not isinstance(text, str):
        return False
    i = bisect_left(values, text)
    return i < len(values) and values[i].startswith(text)


def _put_step(key: Any, new: Any) -> Callable[[Any], Any]:
    return lambda state: _assoc(state, key, new, "")


@mypyc_attr(allow_interpreted_subclasses=True)
class KV(Model):
    """A map from keys to strings, every key starting as "" (Porcupine's kv model).

    get (or read): ok value = the whole string. put (or write): invoke value = the new string.
    append: invoke value = the string appended. The state is a key-sorted tuple of (key, string)
    pairs, so one KV object may hold many keys when the history is checked un-partitioned.
    """

    name = "kv"
    read_fs = frozenset({"get", "read"})

    def init(self) -> Any:
        return ()

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        # The same rules as compile_step, without building a function per call: the sequential
        # shortcut and the evidence replay call this once per op (a property test keeps the
        # two in agreement).
        f, key = op.f, op.key
        if type(key) is not str:
            key = freeze(key)
        if f in ("get", "read"):
            if op.type != "ok":
                return True, state
            return _lookup(state, key, "") == ("" if op.value is None else op.value), state
        if f in ("put", "write"):
            return True, _assoc(state, key, "" if op.invoke_value is None else op.invoke_value,
                                "")
        if f == "append" and isinstance(op.invoke_value, str):
            return True, _assoc(state, key, _lookup(state, key, "") + op.invoke_value, "")
        self.compile_step(op)  # raises the ModelError that names the problem
        raise AssertionError("unreachable: compile_step accepts only get, put and append")

    def compile_steps(self, ops: list[Operation]) -> list[Callable[[Any], Any]]:
        """As compile_step, but a string that is no prefix of any value a get returned can never
        be observed (appends only extend it): it becomes UNOBSERVABLE until a put. With one key
        (a partition) the state is () or ((key, text),), so gets, puts and appends become
        Expect, Become and AppendText steps, which the native search runs without calling
        back."""
        seen: dict[Any, list[str]] = {}
        first = freeze(ops[0].key) if ops else None
        single = True
        # each op's f and key, read once: attribute reads are much of the cost here
        fs: list[str] = []
        keys: list[Any] = []
        for op in ops:
            key: Any = op.key
            if type(key) is not str:
                key = freeze(key)
            f = op.f
            fs.append(f)
            keys.append(key)
            if key is not first and key != first:
                single = False
            if (f == "get" or f == "read") and op.type == "ok":
                value = op.value
                text = "" if value is None else str(value)
                values = seen.get(key)
                if values is None:
                    seen[key] = [text]
                else:
                    values.append(text)
        for values in seen.values():
            values.sort()

        def observable(key: Any, text: Any) -> bool:
            return _observable(seen.get(key), text)

        # with one key, its read values, looked up once
        only: list[str] = seen.get(first, []) if single else []
        steps: list[Callable[[Any], Any]] = []
        for i in range(len(ops)):
            op, f, key = ops[i], fs[i], keys[i]
            if f == "put" or f == "write":
                new = op.invoke_value
                if new is None:
                    new = ""
                if single:
                    held = new if _observable(only, new) else UNOBSERVABLE
                    steps.append(Become(_one_key(key, held)))
                else:
                    held = new if _observable(seen.get(key), new) else UNOBSERVABLE
                    steps.append(_put_step(key, held))
            elif f == "append":
                tail = op.invoke_value
                if isinstance(tail, str):
                    steps.append(AppendText(key, tail, only) if single
                                 else _append_step(key, tail, observable))
                else:
                    steps.append(self.compile_step(op))
            elif single and (f == "get" or f == "read") and op.type == "ok":
                value = op.value
                steps.append(Expect(_one_key(key, "" if value is None else freeze(value))))
            else:
                steps.append(self.compile_step(op))
        return steps

    def compile_step(self, op: Operation) -> Callable[[Any], Any]:
        f, key = op.f, freeze(op.key)
        if f in ("get", "read"):
            if op.type != "ok":
                return lambda s: s
            want = "" if op.value is None else op.value
            return lambda s: s if _lookup(s, key, "") == want else ILLEGAL
        if f in ("put", "write"):
            new = "" if op.invoke_value is None else op.invoke_value
            return lambda s: _assoc(s, key, new, "")
        if f == "append":
            tail = op.invoke_value
            if not isinstance(tail, str):
                raise ModelError(f"{where(op)}: an append needs a string value, got {tail!r}")
            return lambda s: _assoc(s, key, _lookup(s, key, "") + tail, "")
        raise ModelError(f"{where(op)}: the kv model has no operation {f!r}")

    def required_states(self, ops: list[Operation]) -> dict[int, Any]:
        """With one key (a partition), an ok get of V is legal exactly in the state holding V
        (the empty tuple for "", which the state leaves out)."""
        if not ops:
            return {}
        key = freeze(ops[0].key)
        if any(freeze(op.key) != key for op in ops):
            return {}
        out: dict[int, Any] = {}
        for i, op in enumerate(ops):
            if op.f in ("get", "read") and op.type == "ok":
                out[i] = _one_key(key, "" if op.value is None else freeze(op.value))
        return out

    def guards(self, ops: list[Operation]) -> list[Any]:
        """Appends only extend a string: a get of V needs the key's string to be a prefix of V,
        unless a put of some prefix of V can run first."""
        puts: dict[Any, list[int]] = {}
        for i, op in enumerate(ops):
            if op.f in ("put", "write"):
                puts.setdefault(freeze(op.key), []).append(i)
        out: list[Any] = []
        for op in ops:
            if op.f not in ("get", "read") or op.type != "ok":
                out.append(None)
                continue
            key = freeze(op.key)
            want = "" if op.value is None else op.value
            if not isinstance(want, str):
                out.append(None)
                continue
            helpers = [i for i in puts.get(key, ())
                       if isinstance(ops[i].invoke_value, str)
                       and want.startswith(ops[i].invoke_value)]
            out.append((_prefix_test(key, want), helpers))
        return out

    def describe_op(self, op: Operation) -> str:
        # f-strings of str parts only: compiled, each is one allocation (formatting with !r is
        # several times dearer), and the evidence describes every op up to a failure
        f, outcome, key = op.f, op.type, repr(op.key)
        tail = "" if outcome == "ok" else f" ({outcome}: outcome unknown)"
        if f == "get" or f == "read":
            if outcome == "ok":
                value = _fmt(op.value)
                return f"get of {key} returned {value}"
            return f"get of {key}{tail}"
        value = _fmt(op.invoke_value)
        if f == "put" or f == "write":
            return f"put {value} to {key}{tail}"
        return f"append {value} to {key}{tail}"

    def describe_state(self, state: Any) -> str:
        if not state:
            return "every key held \"\""
        return "the map held " + ", ".join(f"{k!r}: {_fmt(v)}" for k, v in state)


@mypyc_attr(allow_interpreted_subclasses=True)
class MultiRegister(Model):
    """Several registers read and written together, each starting absent (None).

    txn: value = a list of micro-ops [f, key, value] with f "r"/"read" or "w"/"write"; on the
    invoke a read's value is null, on ok it is the value read. read / write: value = a map
    {key: value} (a read's invoke map has null values). Ops sharing no key are independent, so
    the history splits into groups of keys that ops connect.
    """

    name = "multi-register"
    read_fs = frozenset({"read"})

    def init(self) -> Any:
        return ()

    def _micro_ops(self, op: Operation) -> list[tuple[str, Any, Any]]:
        value = op.value if op.type == "ok" else op.invoke_value
        if op.f == "txn":
            if not isinstance(value, (list, tuple)):
                raise ModelError(f"{where(op)}: a txn needs a list of [f, key, value], "
                                 f"got {value!r}")
            out = []
            for m in value:
                if not (isinstance(m, (list, tuple)) and len(m) == 3):
                    raise ModelError(f"{where(op)}: micro-op {m!r} is not [f, key, value]")
                mf = {"r": "read", "w": "write"}.get(m[0], m[0])
                if mf not in ("read", "write"):
                    raise ModelError(f"{where(op)}: micro-op f {m[0]!r} is not r or w")
                out.append((mf, freeze(m[1]), freeze(m[2])))
            return out
        if op.f in ("read", "write"):
            if not isinstance(value, dict):
                raise ModelError(f"{where(op)}: {op.f} needs a map {{key: value}}, got {value!r}")
            return [(op.f, freeze(k), freeze(v)) for k, v in value.items()]
        raise ModelError(f"{where(op)}: the multi-register model has no operation {op.f!r}")

    def keys_of(self, op: Operation) -> set[Any]:
        return {k for _, k, _ in self._micro_ops(op)}

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        check_reads = op.type == "ok"
        for mf, k, v in self._micro_ops(op):
            if mf == "read":
                if check_reads and _lookup(state, k, None) != v:
                    return False, state
            else:
                state = _assoc(state, k, v, None)
        return True, state

    def partition(self, ops: list[Operation]) -> list[list[Operation]]:
        parent: dict[Any, Any] = {}

        def find(x: Any) -> Any:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        op_keys = [sorted(self.keys_of(op), key=repr) for op in ops]
        for keys in op_keys:
            for k in keys[1:]:
                parent[find(keys[0])] = find(k)
        groups: dict[Any, list[Operation]] = {}
        for op, keys in zip(ops, op_keys):
            groups.setdefault(find(keys[0]) if keys else None, []).append(op)
        return list(groups.values())

    def describe_op(self, op: Operation) -> str:
        parts = [f"{mf} {k!r}={_fmt(v)}" for mf, k, v in self._micro_ops(op)]
        tail = "" if op.type == "ok" else f" ({op.type}: outcome unknown)"
        return f"{op.f} [{', '.join(parts)}]{tail}"

    def describe_state(self, state: Any) -> str:
        if not state:
            return "every register was absent"
        return "the registers held " + ", ".join(f"{k!r}: {_fmt(v)}" for k, v in state)


# --- locks, queues, sets, counters ---------------------------------------------------------------

@mypyc_attr(allow_interpreted_subclasses=True)
class Mutex(Model):
    """A lock, initially free. acquire: legal only when free; release: legal only when held.
    Values are ignored."""

    name = "mutex"
    read_fs = frozenset()

    def init(self) -> Any:
        return False

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        if op.f == "acquire":
            return (not state), True
        if op.f == "release":
            return bool(state), False
        raise ModelError(f"{where(op)}: the mutex model has no operation {op.f!r}")

    def compile_step(self, op: Operation) -> Callable[[Any], Any]:
        if op.f == "acquire":
            return lambda s: ILLEGAL if s else True
        if op.f == "release":
            return lambda s: False if s else ILLEGAL
        return super().compile_step(op)

    def describe_op(self, op: Operation) -> str:
        tail = "" if op.type == "ok" else f" ({op.type}: outcome unknown)"
        return f"{op.f} by process {op.process}{tail}"

    def describe_state(self, state: Any) -> str:
        return "the lock was held" if state else "the lock was free"


def _dequeued(op: Operation) -> Any:
    return freeze(op.value)


@mypyc_attr(allow_interpreted_subclasses=True)
class FifoQueue(Model):
    """A first-in first-out queue, initially empty.

    enqueue: invoke value = the element. dequeue: ok value = the element removed, or null when the
    queue was empty; an info dequeue removed the head, if it happened.
    """

    name = "fifo-queue"
    read_fs = frozenset()

    def init(self) -> Any:
        return ()

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        if op.f == "enqueue":
            return True, state + (freeze(op.invoke_value),)
        if op.f == "dequeue":
            if op.type != "ok":
                return (True, state[1:]) if state else (False, state)
            v = _dequeued(op)
            if v is None:
                return (not state), state
            return (bool(state) and state[0] == v), state[1:]
        raise ModelError(f"{where(op)}: the fifo-queue model has no operation {op.f!r}")

    def describe_op(self, op: Operation) -> str:
        if op.f == "dequeue" and op.type == "ok":
            return ("dequeue found the queue empty" if op.value is None
                    else f"dequeue returned {_fmt(op.value)}")
        return super().describe_op(op)

    def describe_state(self, state: Any) -> str:
        return ("the queue was empty" if not state
                else f"the queue held {_fmt(list(state))} (head first)")


def _multiset_add(state: tuple, v: Any) -> tuple:
    return tuple(sorted(state + (v,), key=repr))


def _multiset_remove(state: tuple, v: Any) -> tuple | None:
    for i, x in enumerate(state):
        if x == v:
            return state[:i] + state[i + 1:]
    return None


@mypyc_attr(allow_interpreted_subclasses=True)
class UnorderedQueue(FifoQueue):
    """A queue that may deliver its elements in any order (a multiset), initially empty.
    Shapes as fifo-queue; an info dequeue removed some element, we do not know which."""

    name = "unordered-queue"

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        if op.f == "enqueue":
            return True, _multiset_add(state, freeze(op.invoke_value))
        if op.f == "dequeue":
            if op.type != "ok":
                if not state:
                    return False, state
                outcomes = {_multiset_remove(state, x) for x in state}
                return True, Branches(sorted(outcomes, key=repr))
            v = _dequeued(op)
            if v is None:
                return (not state), state
            rest = _multiset_remove(state, v)
            return (rest is not None), (state if rest is None else rest)
        raise ModelError(f"{where(op)}: the unordered-queue model has no operation {op.f!r}")

    def describe_state(self, state: Any) -> str:
        return "the queue was empty" if not state else f"the queue held {_fmt(list(state))}"


@mypyc_attr(allow_interpreted_subclasses=True)
class SetModel(Model):
    """A grow-only set, initially empty. add: invoke value = the element. read: ok value = all
    elements (a list, in any order)."""

    name = "set"
    read_fs = frozenset({"read"})

    def init(self) -> Any:
        return frozenset()

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        if op.f == "add":
            return True, state | {freeze(op.invoke_value)}
        if op.f == "read":
            if op.type != "ok":
                return True, state
            seen = op.value if op.value is not None else []
            return frozenset(freeze(x) for x in seen) == state, state
        raise ModelError(f"{where(op)}: the set model has no operation {op.f!r}")

    def compile_step(self, op: Operation) -> Callable[[Any], Any]:
        if op.f == "add":
            x = freeze(op.invoke_value)
            return lambda s: s | {x}
        if op.f == "read" and op.type == "ok":
            want = frozenset(freeze(x) for x in (op.value or []))
            return lambda s: s if s == want else ILLEGAL
        return super().compile_step(op)

    def describe_op(self, op: Operation) -> str:
        if op.f == "read" and op.type == "ok":
            return f"read returned {_fmt(op.value or [])}"
        if op.f == "add":
            tail = "" if op.type == "ok" else f" ({op.type}: outcome unknown)"
            return f"add {_fmt(op.invoke_value)}{tail}"
        return super().describe_op(op)

    def describe_state(self, state: Any) -> str:
        return f"the set held {_fmt(state)}" if state else "the set was empty"


@mypyc_attr(allow_interpreted_subclasses=True)
class Counter(Model):
    """An integer counter starting at 0. add: invoke value = the amount (null means 1).
    read: ok value = the count."""

    name = "counter"
    read_fs = frozenset({"read"})

    def init(self) -> Any:
        return 0

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        if op.f in ("add", "incr", "increment"):
            amount = 1 if op.invoke_value is None else op.invoke_value
            if not isinstance(amount, (int, float)) or isinstance(amount, bool):
                raise ModelError(f"{where(op)}: an add needs a number, got {amount!r}")
            return True, state + amount
        if op.f == "read":
            return (op.type != "ok" or op.value == state), state
        raise ModelError(f"{where(op)}: the counter model has no operation {op.f!r}")

    def describe_op(self, op: Operation) -> str:
        if op.f == "read" and op.type == "ok":
            return f"read returned {_fmt(op.value)}"
        return super().describe_op(op)

    def describe_state(self, state: Any) -> str:
        return f"the counter was {state}"


MODELS: dict[str, type[Model]] = {cls.name: cls for cls in (
    Register, CasRegister, KV, MultiRegister, Mutex, FifoQueue, UnorderedQueue, SetModel,
    Counter)}


def compiled_steps(model: Any, ops: list[Operation]) -> list[Callable[[Any], Any]]:
    """One fast step function per op, whichever of compile_steps, compile_step or step the model
    defines."""
    compile_all = getattr(model, "compile_steps", None)
    if compile_all is not None:
        return compile_all(ops)
    compile_step = getattr(model, "compile_step", None)
    if compile_step is None:
        return [Model.compile_step(model, op) for op in ops]  # type: ignore[arg-type]
    return [compile_step(op) for op in ops]
