"""The sandbox every expression and script of a diagram runs in.

SpiffWorkflow's own `PythonScriptEngine` is plain `eval`/`exec`: whoever can deploy a diagram
could run anything on the server. Here every script, gateway condition, timer expression and DMN
cell is compiled by RestrictedPython with a stricter policy, both when a diagram is deployed
(a refusal names the element) and when it runs:

- no `import` in any form, no `while` loops (a runaway loop would hold a case's lock), no class
  definitions;
- no names or attributes that start with `_`, nor frame/generator/code inspection attributes;
- none of `eval`, `exec`, `open`, `getattr`, `compile`, `globals`, ... : only a small allow-list
  of builtins plus the helpers of `script_helpers`;
- `str.format` is refused at run time (it can walk attributes); `range` is bounded;
- every operation that can build far more than it is given is checked BEFORE it runs, since one
  C-level operation holds the interpreter (no other thread, `/health` included, runs meanwhile)
  and no between-lines check can stop it: integer `*`, `**`, `<<`, `+` (result bits), repeating
  and concatenating sequences, padding, replacing, `join`, `translate`, `to_bytes`, `round`, `%`
  formatting and f-string widths and precisions (`SizeLimit`);
- all the code an act runs, helpers included, shares one budget (`engine.budget`): a deadline
  (`SCRIPT_TIME_LIMIT_S`) checked on every traced line and inside the helpers' loops, and a
  ceiling on the process's memory growth checked every few lines;
- what a script leaves in the case data and what an expression gives must be JSON data (or a
  date/time): a generator, bytes, a complex number, a self-referencing list or `inf` is an error
  of the element (`NotJsonData`), and a timer expression must give a valid ISO 8601 text.

Every limit is a `SandboxLimit`: the same code on the same data fails the same way, so the timer
worker does not retry it.

Case data is only ever data: it is handed to the code as variables, never compiled.
Compiled code is cached by source text, which also makes repeated evaluation cheap.
"""

from __future__ import annotations

import ast
import builtins
import math
import operator
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from types import CodeType, ModuleType
from typing import Any, Literal

from RestrictedPython import RestrictingNodeTransformer, compile_restricted
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from RestrictedPython.Limits import limited_range
from RestrictedPython.PrintCollector import PrintCollector
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)

from . import budget as budgets
from .budget import Budget, NotJsonData, SandboxLimit, ScriptMemoryLimit, ScriptTimeLimit, SizeLimit
from .calendar import WorkingCalendar
from .script_helpers import HELPER_NAMES, make_helpers

__all__ = [
    "NotJsonData",
    "SandboxLimit",
    "ScriptMemoryLimit",
    "ScriptRejected",
    "ScriptTimeLimit",
    "SizeLimit",
    "act_budget",
    "check_code",
    "check_timer_expression",
    "json_data_problem",
]

FORBIDDEN_NAMES = frozenset(
    {
        "eval",
        "exec",
        "open",
        "compile",
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "globals",
        "locals",
        "vars",
        "dir",
        "input",
        "breakpoint",
        "help",
        "type",
        "object",
        "super",
        "memoryview",
        "classmethod",
        "staticmethod",
        "property",
        "exit",
        "quit",
    }
)

MAX_POWER_RESULT_BITS = 4096
# The largest integer arithmetic may make (a squaring of a 10,000-bit number takes microseconds;
# of a billion-bit one, a minute with the interpreter held).
MAX_INT_BITS = 10_000
# The longest string, bytes or list one operation may build ("-" * 20 is fine; [0] * 10 ** 9 is not).
MAX_REPEATED_ITEMS = 1_000_000
# Operators whose result can grow far beyond their operands: each runs through a guard.
BOUNDED_OPERATORS = {
    ast.Pow: "_safe_pow_",
    ast.LShift: "_safe_lshift_",
    ast.Mult: "_safe_mul_",
    ast.Add: "_safe_add_",
    ast.Mod: "_safe_mod_",
}
# Wall-clock budget of one act: every script, condition, timer expression, DMN cell and helper
# it runs together (an evaluation outside an act gets one of its own). Ours take microseconds.
SCRIPT_TIME_LIMIT_S = 1.0
# Memory is read (from /proc) every this many traced lines; the guards bound what one line can
# allocate (about MAX_REPEATED_ITEMS pointers), so the overshoot between two reads is bounded too.
MEMORY_CHECK_EVERY_LINES = 8
# The most values (nested items counted each time they appear) case data may take from a script.
MAX_DATA_ITEMS = 100_000
# How deeply case data may nest (JSON encoders and databases recurse; ours nest 3 or 4 levels).
MAX_DATA_DEPTH = 64
SCRIPT_FILENAME = "<script>"

# RestrictedPython warns at compile time about print without `printed`; scripts may print freely.
warnings.filterwarnings("ignore", category=SyntaxWarning, module="RestrictedPython.compile")


class ScriptRejected(SyntaxError):
    """Code a diagram may not run. A SyntaxError, so SpiffWorkflow's DMN parsing treats it so."""

    def __init__(self, messages: list[str], lineno: int | None = None):
        super().__init__("; ".join(messages))
        self.messages = messages
        self.lineno = lineno


def _wrapped(guard: str, node: ast.expr) -> ast.expr:
    call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node], keywords=[])
    ast.copy_location(call.func, node)
    return ast.copy_location(call, node)


class ScriptPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, tightened for process diagrams."""

    def check_import_names(self, node):
        self.error(node, "import is not allowed in process scripts")
        return node

    def visit_While(self, node):
        self.error(node, "while loops are not allowed; loop over a list or a range instead")
        return node

    def visit_ClassDef(self, node):
        self.error(node, "class definitions are not allowed in process scripts")
        return node

    def visit_Global(self, node):
        self.error(node, "global is not allowed in process scripts")
        return node

    def visit_Nonlocal(self, node):
        self.error(node, "nonlocal is not allowed in process scripts")
        return node

    def visit_Name(self, node):
        if node.id in FORBIDDEN_NAMES:
            self.error(node, f'"{node.id}" is not available in process scripts')
        elif isinstance(node.ctx, ast.Store | ast.Del) and node.id in HELPER_NAMES:
            self.error(node, f'"{node.id}" is a helper function and cannot be assigned')
        return super().visit_Name(node)

    def visit_FormattedValue(self, node):
        """`f"{x:>{w}}"` becomes `f"{_format_(x, 'r', f'>{w}')}"`: widths are checked first."""
        node = self.node_contents_visit(node)
        conversion = chr(node.conversion) if node.conversion and node.conversion > 0 else ""
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        call = ast.Call(
            func=ast.Name("_format_", ast.Load()),
            args=[node.value, ast.Constant(conversion), spec],
            keywords=[],
        )
        for part in (call, call.func, call.args[1]):
            ast.copy_location(part, node)
        if node.format_spec is None:
            ast.copy_location(spec, node)
        return ast.copy_location(ast.FormattedValue(value=call, conversion=-1, format_spec=None), node)

    def visit_Tuple(self, node):
        """A tuple display `(a, b)` (not a target `a, b = ...`) is bounded like `tuple()`."""
        node = super().visit_Tuple(node)
        if isinstance(node.ctx, ast.Load) and not any(isinstance(e, ast.Slice) for e in node.elts):
            return _wrapped("_tuple_", node)
        return node

    def visit_Compare(self, node):
        """`a == b` becomes `_compared_(a) == _compared_(b)`: comparing lists that hold the same
        big list a thousand times is one C call, as long as their nested size."""
        node = super().visit_Compare(node)
        node.left = _wrapped("_compared_", node.left)
        node.comparators = [_wrapped("_compared_", c) for c in node.comparators]
        return node

    def visit_BinOp(self, node):
        node = super().visit_BinOp(node)
        guard = BOUNDED_OPERATORS.get(type(node.op))
        if guard:
            call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
            ast.copy_location(call.func, node)
            return ast.copy_location(call, node)
        return node


def _too_large(what: str) -> SizeLimit:
    return SizeLimit(f"the result of {what} would be too large")


def _bounded_length(length: int) -> None:
    if length > MAX_REPEATED_ITEMS:
        raise SizeLimit("the resulting string would be too large")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _safe_add(left, right):
    if _is_int(left) and _is_int(right):
        if max(abs(left).bit_length(), abs(right).bit_length()) >= MAX_INT_BITS:
            raise _too_large("+")
    elif (
        isinstance(left, str | bytes | list | tuple)
        and isinstance(right, str | bytes | list | tuple)
        and len(left) + len(right) > MAX_REPEATED_ITEMS
    ):
        raise _too_large("+")
    result = left + right
    return _bounded_tuple(result) if isinstance(result, tuple) else result


def _bounded_tuple(value: tuple) -> tuple:
    """A tuple's hash walks everything it holds, every time (it is not cached): one holding the
    same big tuple a thousand times would take seconds to hash in one C call. Tuples are
    therefore bounded by their nested size when they are made (displays, `tuple()`, `*`, `+`,
    `zip`)."""
    if value and not _SIZED_TYPES.isdisjoint(set(map(type, value))):
        _count_items(value, MAX_REPEATED_ITEMS, "tuple")
    return value


def _zip(*iterables: Any, **kwargs: Any) -> Iterator[tuple]:
    """`zip`, each row bounded like a tuple display (`zip(*[[t]] * 1000)` makes one wide row)."""
    for row in zip(*iterables, **kwargs):  # noqa: B905 (strict= is the script's choice)
        yield _bounded_tuple(row)


def _safe_iadd(target, value):
    """`+=`: checked like `+`, and still in place for lists (other names for it see the change)."""
    if isinstance(target, list):
        if hasattr(value, "__len__") and len(target) + len(value) > MAX_REPEATED_ITEMS:
            raise _too_large("+=")
        target += value
        return target
    return _safe_add(target, value)


def _compared(value: Any) -> Any:
    """A container about to be compared, sorted or searched: its nested size is bounded."""
    if isinstance(value, list | tuple | dict | set | frozenset):
        _count_items(value, MAX_REPEATED_ITEMS, "comparison")
    return value


def _sorted(iterable, *args, **kwargs):
    items = list(iterable)
    _compared(items)
    return sorted(items, *args, **kwargs)


def _extreme(pick: Callable) -> Callable:
    def bounded(*args, **kwargs):
        items = list(args[0]) if len(args) == 1 else list(args)
        _compared(items)
        return pick(items, **kwargs)

    bounded.__name__ = pick.__name__
    return bounded


def _bounded_list_method(items: list | tuple, method: Callable) -> Callable:
    def searched(*args, **kwargs):
        _compared(items)
        for value in args:
            _compared(value)
        return method(*args, **kwargs)

    return searched


_SEARCHING_LIST_METHODS = frozenset({"sort", "count", "index", "remove"})


def _safe_pow(base, exponent):
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * abs(base).bit_length() > MAX_POWER_RESULT_BITS
    ):
        raise _too_large("**")
    return base**exponent


def _safe_lshift(value, shift):
    if (
        isinstance(value, int)
        and isinstance(shift, int)
        and value
        and shift + abs(value).bit_length() > MAX_POWER_RESULT_BITS
    ):
        raise _too_large("<<")
    return value << shift


def _safe_mul(left, right):
    if _is_int(left) and _is_int(right):
        if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
            raise _too_large("*")
        return left * right
    for sequence, times in ((left, right), (right, left)):
        if (
            isinstance(sequence, str | bytes | list | tuple)
            and isinstance(times, int)
            and len(sequence) * times > MAX_REPEATED_ITEMS
        ):
            raise _too_large("*")
    result = left * right
    return _bounded_tuple(result) if isinstance(result, tuple) else result


# A conversion of printf-style formatting: flags, width, precision (each a number or `*`).
_PERCENT_SPEC = re.compile(rb"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.S)


def _check_width(value: Any) -> None:
    if _is_int(value) and abs(value) > MAX_REPEATED_ITEMS:
        raise SizeLimit("a width or precision in the format is too large")


def _safe_mod(left, right):
    """`text % values`: widths and precisions (written or `*`) are checked before formatting."""
    if isinstance(left, str | bytes):
        values = list(right) if isinstance(right, tuple) else [right]
        pattern = left.encode("utf-8", "surrogatepass") if isinstance(left, str) else left
        position = 0
        for match in _PERCENT_SPEC.finditer(pattern):
            for part in match.group(1), match.group(2):
                if part == b"*":
                    _check_width(values[position] if position < len(values) else None)
                    position += 1
                elif part:
                    _check_width(int(part))
            if match.group(3) != b"%":
                position += 1
        for value in values if not isinstance(right, dict) else list(right.values()):
            _check_printable(value)
    return left % right


_DIGITS = re.compile(r"\d+")


def _check_printable(value: Any) -> None:
    """Refuse to turn into text a container whose text would be huge (the same list nested
    a million times over is small in memory but not as text)."""
    if isinstance(value, list | tuple | dict | set | frozenset):
        _count_items(value, MAX_REPEATED_ITEMS, "text")


_SIZED = (list, tuple, dict, set, frozenset, str, bytes)
_SIZED_TYPES = frozenset(_SIZED)


def _count_items(value: Any, limit: int, what: str) -> int:
    """The values in `value`, counted each time they appear; raises past `limit` (cheaply: a
    container's length is counted before its members are looked at)."""
    count = 0
    stack = [value]
    members: Iterable[Any]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            count += 2 * len(item)
            members = [*item.keys(), *item.values()] if count <= limit else []
        elif isinstance(item, list | tuple | set | frozenset):
            count += len(item)
            members = item if count <= limit else []
        else:
            count += len(item) // 64 if isinstance(item, str | bytes) else 0
            members = []
        if count > limit:
            raise SizeLimit(f"the {what} would be too large")
        # `map(type, ...)` runs in C: a flat list of numbers is looked at once, quickly.
        if members and not _SIZED_TYPES.isdisjoint(set(map(type, members))):
            stack.extend(m for m in members if isinstance(m, _SIZED))
    return count


def _format(value: Any, conversion: str, spec: str) -> str:
    """One replacement field of an f-string, its widths and precision checked first."""
    if isinstance(spec, str):
        for digits in _DIGITS.findall(spec):
            if len(digits) > 7 or int(digits) > MAX_REPEATED_ITEMS:
                raise SizeLimit("a width or precision in the f-string is too large")
    _check_printable(value)
    if conversion == "r":
        value = repr(value)
    elif conversion == "s":
        value = str(value)
    elif conversion == "a":
        value = ascii(value)
    return format(value, spec)


def _bounded_text_method(text: str | bytes, name: str, method: Callable) -> Callable:
    """The string methods that can build far more than they are given, checked before they run."""

    def padded(width, *args):
        if isinstance(width, int):
            _bounded_length(width)
        return method(width, *args)

    # str counts only str and bytes only bytes; a mix raises the method's own TypeError here.
    searched: Any = text

    def replaced(old, new, count=-1):
        if isinstance(old, str | bytes) and isinstance(new, str | bytes):
            hits = searched.count(old) if old else len(text) + 1
            hits = hits if count < 0 else min(hits, count)
            _bounded_length(len(text) + hits * max(0, len(new) - len(old)))
        return method(old, new, count)

    def expanded(tabsize=8):
        if isinstance(tabsize, int):
            _bounded_length(len(text) + searched.count("\t" if isinstance(text, str) else b"\t") * tabsize)
        return method(tabsize)

    def joined(iterable):
        items = list(iterable)
        _bounded_length(sum(len(i) for i in items if isinstance(i, str | bytes)) + len(text) * len(items))
        return method(items)

    def translated(table, *args):
        longest = 1
        if isinstance(table, dict):
            longest = max((len(v) for v in table.values() if isinstance(v, str | bytes)), default=1)
        _bounded_length(len(text) * max(1, longest))
        return method(table, *args)

    growing: dict[str, Callable[..., Any]] = {
        "replace": replaced,
        "expandtabs": expanded,
        "join": joined,
        "translate": translated,
    }
    return growing.get(name, padded)


_GROWING_TEXT_METHODS = frozenset(
    {"ljust", "rjust", "center", "zfill", "replace", "expandtabs", "join", "translate"}
)


def _bounded_to_bytes(method: Callable) -> Callable:
    def to_bytes(length=1, *args, **kwargs):
        if isinstance(length, int):
            _bounded_length(length)
        return method(length, *args, **kwargs)

    return to_bytes


def _getattr(obj, name, *default):
    if obj is SafeStr:  # `str.format` and the like: RestrictedPython's checks on `str` itself
        obj = str
    elif obj is SafeTuple:
        obj = tuple
    value = safer_getattr(obj, name, *default)
    if name in _GROWING_TEXT_METHODS:
        if isinstance(obj, str | bytes):
            return _bounded_text_method(obj, name, value)
        if obj in (str, bytes):  # the unbound method: str.center("x", n)
            return lambda text, *args: _bounded_text_method(text, name, getattr(text, name))(*args)
    elif name in _SEARCHING_LIST_METHODS and isinstance(obj, list | tuple):
        return _bounded_list_method(obj, value)
    elif name == "to_bytes":
        if isinstance(obj, int):
            return _bounded_to_bytes(value)
        if obj is int:  # int.to_bytes(1, n, "big")
            return lambda number, *args, **kwargs: _bounded_to_bytes(number.to_bytes)(*args, **kwargs)
    return value


class _TextType(type):
    """`str` as scripts see it: the same type for `isinstance` and its methods (`str.join`)."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, str)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, str)

    def __getattr__(cls, name: str) -> Any:
        return getattr(str, name)


class SafeStr(metaclass=_TextType):
    """`str(x)`: a list that holds the same big list a thousand times is refused, not printed."""

    def __new__(cls, *args: Any, **kwargs: Any) -> str:  # type: ignore[misc]
        if args:
            _check_printable(args[0])
        return str(*args, **kwargs)


class _TupleType(type):
    """`tuple` as scripts see it: the same type for `isinstance`; calling it bounds the result."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, tuple)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, tuple)

    def __getattr__(cls, name: str) -> Any:
        return getattr(tuple, name)


class SafeTuple(metaclass=_TupleType):
    """`tuple(x)`: bounded by its nested size, like a tuple display."""

    def __new__(cls, *args: Any) -> tuple:  # type: ignore[misc]
        return _bounded_tuple(tuple(*args))


class _BoundedPrintCollector(PrintCollector):
    """`print(x)` in a script: each value is checked like `str(x)` before it is written."""

    def _call_print(self, *objects, **kwargs):
        for value in objects:
            _check_printable(value)
        return super()._call_print(*objects, **kwargs)


def _round(number, ndigits=None):
    """`round(5, -10 ** 9)` would compute 10 ** 1,000,000,000 first."""
    if _is_int(ndigits) and abs(ndigits) > 4300:
        raise SizeLimit("round() was asked for too many digits")
    return round(number) if ndigits is None else round(number, ndigits)


def _sum(iterable, start=0):
    """`sum(lists, [])` concatenates in C, unchecked; other starts are added through the guard."""
    if isinstance(start, int | float) and not isinstance(start, bool):
        total = start
        for item in iterable:
            total = _safe_add(total, item) if _is_int(item) and _is_int(total) else total + item
        return total
    total = start
    for item in iterable:
        total = _safe_add(total, item)
    return total


@contextmanager
def act_budget() -> Iterator[Budget]:
    """One budget (`SCRIPT_TIME_LIMIT_S`, `ACT_MEMORY_LIMIT_BYTES`) for everything an act runs."""
    with budgets.act_budget(SCRIPT_TIME_LIMIT_S) as budget:
        yield budget


def run_within_time_limit(run: Callable[[], Any]) -> Any:
    """Run sandboxed code within the current act's budget (or one of its own outside an act).

    A trace function sees every line (and loop iteration) of code compiled here, and nothing
    else: helpers and library code run untraced at full speed (they check the deadline
    themselves where they loop).
    """
    budget = budgets.current_budget()
    if budget is None:
        with act_budget() as budget:
            budget.check_time()
            return _traced(run, budget)
    budget.check_time()
    return _traced(run, budget)


def _traced(run: Callable[[], Any], budget: Budget) -> Any:
    check_time = budget.check_time
    check_memory = budget.check_memory
    lines = 0

    def on_line(_frame, _event, _arg):
        nonlocal lines
        check_time()
        lines += 1
        if lines % MEMORY_CHECK_EVERY_LINES == 0:
            check_memory()
        return on_line

    def on_call(frame, _event, _arg):
        return on_line if frame.f_code.co_filename == SCRIPT_FILENAME else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        return run()
    finally:
        sys.settrace(previous)


_INPLACE_OPERATORS = {
    "-=": operator.isub,
    "*=": _safe_mul,
    "+=": _safe_iadd,
    "%=": _safe_mod,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "**=": _safe_pow,
    "|=": operator.ior,
    "&=": operator.iand,
}


def _inplace(op: str, target, value):
    try:
        return _INPLACE_OPERATORS[op](target, value)
    except KeyError:
        raise ValueError(f"operator {op} is not allowed") from None


def _import_for_builtins(name, *args, **kwargs):
    """`datetime.strftime` (C code) imports `time` through the builtins; nothing else may.

    Scripts cannot call this themselves: names starting with `_` do not compile.
    """
    if name != "time":
        raise ImportError(f"import of {name} is not allowed")
    return builtins.__import__(name, *args, **kwargs)


def _apply(function, *args, **kwargs):
    return function(*args, **kwargs)


SAFE_BUILTINS: dict[str, Any] = {
    "None": None,
    "True": True,
    "False": False,
    "abs": abs,
    "all": all,
    "any": any,
    "bool": bool,
    "dict": dict,
    "divmod": divmod,
    "enumerate": enumerate,
    "filter": filter,
    "float": float,
    "int": int,
    "isinstance": isinstance,
    "len": len,
    "list": list,
    "map": map,
    "max": _extreme(max),
    "min": _extreme(min),
    "range": limited_range,
    "round": _round,
    "sum": _sum,
    "reversed": reversed,
    "set": set,
    "sorted": _sorted,
    "str": SafeStr,
    "tuple": SafeTuple,
    "zip": _zip,
    "__import__": _import_for_builtins,
    "Exception": Exception,
    "ValueError": ValueError,
    "KeyError": KeyError,
    "TypeError": TypeError,
}

GUARDS: dict[str, Any] = {
    "__builtins__": SAFE_BUILTINS,
    "_getattr_": _getattr,
    "_getitem_": operator.getitem,
    "_getiter_": iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplace,
    "_print_": _BoundedPrintCollector,
    "_apply_": _apply,
    "_safe_pow_": _safe_pow,
    "_safe_lshift_": _safe_lshift,
    "_safe_mul_": _safe_mul,
    "_safe_add_": _safe_add,
    "_safe_mod_": _safe_mod,
    "_format_": _format,
    "_compared_": _compared,
    "_tuple_": _bounded_tuple,
}


@lru_cache(maxsize=8192)
def compile_code(source: str, mode: Literal["exec", "eval"] = "exec") -> CodeType:
    """Compile a script (`exec`) or an expression (`eval`) under the policy, or raise ScriptRejected."""
    try:
        return compile_restricted(source, filename=SCRIPT_FILENAME, mode=mode, policy=ScriptPolicy)
    except SyntaxError as error:
        messages = list(error.args[0]) if isinstance(error.args[0], tuple) else [str(error)]
        match = re.match(r"Line (\d+):", messages[0])
        raise ScriptRejected(messages, int(match.group(1)) if match else None) from None


def check_code(source: str, mode: Literal["exec", "eval"] = "exec") -> list[str]:
    """The policy's complaints about a piece of code (empty when it may run)."""
    try:
        compile_code(source, mode)
    except ScriptRejected as rejected:
        return rejected.messages
    return []


def _is_data(value: Any) -> bool:
    return not callable(value) and not isinstance(value, ModuleType)


def json_data_problem(value: Any, limit: int = MAX_DATA_ITEMS) -> str | None:
    """Why `value` cannot be kept as case data (None when it can).

    Case data is JSON: objects with text keys, arrays, text, finite numbers, booleans and null;
    dates and times too (kept as ISO 8601 text), when they can be expressed in UTC. Items are
    counted each time they appear, so the same list nested a million times over is too large.
    """
    if type(value) in _PLAIN_DATA:
        return None
    count = 0
    stack: list[tuple[Any, tuple[int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        kind = type(item)
        if kind is dict or kind is list or kind is tuple or isinstance(item, dict | list | tuple):
            count += len(item)
            if count > limit:
                return f"it holds more than {limit:,} values"
            if id(item) in path:
                return "it refers to itself"
            if len(path) >= MAX_DATA_DEPTH:
                return f"it is nested more than {MAX_DATA_DEPTH} levels deep"
            inner = (*path, id(item))
            if isinstance(item, dict):
                for key, member in item.items():
                    if type(key) is not str:
                        return f"it has a key {type(key).__name__} {key!r:.40}; keys must be text"
                    if type(member) not in _PLAIN_DATA:
                        stack.append((member, inner))
            else:
                stack.extend((member, inner) for member in item if type(member) not in _PLAIN_DATA)
            continue
        problem = _scalar_problem(item)
        if problem is not None:
            return problem
    return None


# Values that are data whatever they hold.
_PLAIN_DATA = frozenset({str, bool, type(None)})


def _scalar_problem(item: Any) -> str | None:
    if isinstance(item, bool | str) or item is None:
        return None
    if isinstance(item, int):
        return "it holds an integer too large for case data" if item.bit_length() > MAX_INT_BITS else None
    if isinstance(item, float):
        return None if math.isfinite(item) else f"it holds {item!r}, which JSON cannot represent"
    if isinstance(item, datetime) and item.tzinfo is not None:
        try:
            item.astimezone(UTC)
        except (OverflowError, ValueError):
            return f"it holds a date out of range ({item.isoformat()})"
        return None
    if isinstance(item, date | timedelta):
        return None
    return f"it holds a {type(item).__name__}, which is not JSON data"


def _checked_data(name: str, value: Any) -> Any:
    problem = json_data_problem(value)
    if problem is not None:
        raise NotJsonData(f"{name} cannot be kept in the case data: {problem}")
    return value


def _checked_result(value: Any) -> Any:
    if value is None or type(value) in (bool, str, int):
        return value
    problem = json_data_problem(value)
    if problem is not None:
        raise NotJsonData(f"the expression gave something that is not data: {problem}")
    return value


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates expressions and runs scripts of a diagram under the sandbox policy."""

    def __init__(self, helpers: dict[str, Any]):
        super().__init__({})
        self.helpers = {name: _within_budget(helper) for name, helper in helpers.items()}
        self._reserved = frozenset(helpers) | frozenset(GUARDS)

    def _namespace(self, context: dict, external_context: dict | None) -> dict:
        # Helpers and guards go last: data can never replace them.
        namespace = dict(context)
        if external_context:
            namespace.update(external_context)
        namespace.update(self.helpers)
        namespace.update(GUARDS)
        return namespace

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None):
        code = compile_code(expression.strip(), "eval")
        namespace = self._namespace(context, external_context)
        return _checked_result(run_within_time_limit(lambda: eval(code, namespace)))

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        code = compile_code(script, "exec")
        namespace = self._namespace(context, external_context)
        run_within_time_limit(lambda: exec(code, namespace))
        external = external_context or {}
        written = [
            key for key in namespace if not (key in self._reserved or key in external or key.startswith("_"))
        ]
        kept = {key: _checked_data(key, namespace[key]) for key in written if _is_data(namespace[key])}
        # Only now, every value checked, does the task's data change.
        for key in [k for k in context if k not in namespace]:
            del context[key]
        for key in written:
            if key in kept:
                context[key] = kept[key]
            else:
                context.pop(key, None)
        return True

    def call_service(self, context, **kwargs):
        raise NotImplementedError("service tasks are not supported by this service")


def _within_budget(helper: Callable) -> Callable:
    """A helper that stops when the act's budget is spent (and checks it before it starts)."""

    def bounded(*args, **kwargs):
        budgets.check_budget()
        return helper(*args, **kwargs)

    bounded.__name__ = getattr(helper, "__name__", "helper")
    bounded.__doc__ = getattr(helper, "__doc__", None)
    return bounded


# ---- timer expressions: what they must give

TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")


def timer_value_problem(kind: str, value: Any) -> str | None:
    """Why `value` cannot be the value of a timer of this kind (None when it can)."""
    if not isinstance(value, str):
        return f"a timer expression must give ISO 8601 text, not a {type(value).__name__}"
    if len(value) > 200:
        return "a timer expression gave text too long to be an ISO 8601 value"
    try:
        if kind == "timeDate":
            TimerEventDefinition.get_datetime(value).astimezone(UTC)
        elif kind == "timeDuration":
            duration = TimerEventDefinition.parse_iso_duration(value)
            datetime.now(UTC) + TimerEventDefinition.get_timedelta_from_start(duration)
        else:
            _cycles, start, _duration = TimerEventDefinition.parse_iso_recurring_interval(value)
            start.astimezone(UTC)
    except Exception as error:  # SpiffWorkflow raises bare Exceptions on bad input
        return f"{value!r:.60} is not a valid {_TIMER_KIND_NAMES[kind]} ({error})"
    return None


_TIMER_KIND_NAMES = {
    "timeDate": "ISO 8601 date and time",
    "timeDuration": "ISO 8601 duration",
    "timeCycle": "ISO 8601 repeating interval",
}


def check_timer_expression(kind: str, source: str) -> list[str]:
    """Deploy-time: a timer expression that cannot give a valid value (a constant that is not
    one, a number, a list, a comparison...) is refused. Expressions that compute their value
    are checked when they run."""
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return []  # check_code reports it
    try:
        constant = ast.literal_eval(tree)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    else:
        problem = timer_value_problem(kind, constant)
        return [problem] if problem else []
    never_text = (
        ast.Compare,
        ast.BoolOp,
        ast.Lambda,
        ast.GeneratorExp,
        ast.ListComp,
        ast.SetComp,
        ast.DictComp,
        ast.List,
        ast.Tuple,
        ast.Set,
        ast.Dict,
    )
    if isinstance(tree, never_text) or (isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.Not)):
        return [f"a timer expression must give ISO 8601 text, and this one gives a {_shape(tree)}"]
    return []


def _shape(node: ast.AST) -> str:
    return {
        ast.Compare: "boolean",
        ast.BoolOp: "boolean",
        ast.UnaryOp: "boolean",
        ast.Lambda: "function",
        ast.GeneratorExp: "generator",
    }.get(type(node), "collection")


def _timer_kind(task: Any, expression: str) -> str | None:
    """Which kind of timer `expression` is the expression of on this task's event, if any."""
    definition = getattr(getattr(task, "task_spec", None), "event_definition", None)
    definitions = getattr(definition, "event_definitions", None) or [definition]
    for candidate in definitions:
        if isinstance(candidate, TimerEventDefinition) and candidate.expression == expression:
            if isinstance(candidate, DurationTimerEventDefinition):
                return "timeDuration"
            if isinstance(candidate, CycleTimerEventDefinition):
                return "timeCycle"
            return "timeDate"
    return None


class SandboxScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine with the sandbox environment and restricted validation."""

    def __init__(self, calendar: WorkingCalendar):
        super().__init__(environment=SandboxEnvironment(make_helpers(calendar)))

    def validate(self, expression: str) -> None:
        compile_code(expression.strip(), "eval")

    def evaluate(self, task, expression, external_context=None):
        value = super().evaluate(task, expression, external_context)
        kind = _timer_kind(task, expression)
        if kind is not None:
            problem = timer_value_problem(kind, value)
            if problem is not None:
                error = NotJsonData(problem)
                raise WorkflowTaskException(
                    f"Error evaluating expression '{expression}'", task=task, exception=error
                ) from error
        return value
