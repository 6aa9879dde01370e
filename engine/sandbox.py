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
- `str.format` is refused at run time (it can walk attributes); `range` is bounded,
  exponentiation is limited (`**`, and `<<`, which is `* 2 ** n`) and so is repeating a string
  or list with `*` or padding and replacing text, so one expression cannot eat the machine;
- every evaluation has a time budget (`SCRIPT_TIME_LIMIT_S`): nested loops that would run for
  hours stop with an error on the case instead of holding its lock.

Case data is only ever data: it is handed to the code as variables, never compiled.
Compiled code is cached by source text, which also makes repeated evaluation cheap.
"""

from __future__ import annotations

import ast
import builtins
import operator
import re
import sys
import time
import warnings
from collections.abc import Callable
from functools import lru_cache
from types import CodeType, ModuleType
from typing import Any

from RestrictedPython import RestrictingNodeTransformer, compile_restricted
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from RestrictedPython.Limits import limited_range
from RestrictedPython.PrintCollector import PrintCollector
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .calendar import WorkingCalendar
from .script_helpers import HELPER_NAMES, make_helpers

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
# The longest string or list `*` may build ("-" * 20 is fine; [0] * 10 ** 9 is not).
MAX_REPEATED_ITEMS = 1_000_000
# Operators whose result can grow far beyond their operands: each runs through a guard.
BOUNDED_OPERATORS = {ast.Pow: "_safe_pow_", ast.LShift: "_safe_lshift_", ast.Mult: "_safe_mul_"}
# Wall-clock budget of one evaluation (a script, a condition, a DMN cell). Ours take microseconds.
SCRIPT_TIME_LIMIT_S = 1.0
SCRIPT_FILENAME = "<script>"

# RestrictedPython warns at compile time about print without `printed`; scripts may print freely.
warnings.filterwarnings("ignore", category=SyntaxWarning, module="RestrictedPython.compile")


class ScriptRejected(SyntaxError):
    """Code a diagram may not run. A SyntaxError, so SpiffWorkflow's DMN parsing treats it so."""

    def __init__(self, messages: list[str], lineno: int | None = None):
        super().__init__("; ".join(messages))
        self.messages = messages
        self.lineno = lineno


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

    def visit_BinOp(self, node):
        node = super().visit_BinOp(node)
        guard = BOUNDED_OPERATORS.get(type(node.op))
        if guard:
            call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
            ast.copy_location(call.func, node)
            return ast.copy_location(call, node)
        return node


def _safe_pow(base, exponent):
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * abs(base).bit_length() > MAX_POWER_RESULT_BITS
    ):
        raise ValueError("the result of ** would be too large")
    return base**exponent


def _safe_lshift(value, shift):
    if (
        isinstance(value, int)
        and isinstance(shift, int)
        and value
        and shift + abs(value).bit_length() > MAX_POWER_RESULT_BITS
    ):
        raise ValueError("the result of << would be too large")
    return value << shift


def _safe_mul(left, right):
    for sequence, times in ((left, right), (right, left)):
        if (
            isinstance(sequence, str | bytes | list | tuple)
            and isinstance(times, int)
            and len(sequence) * times > MAX_REPEATED_ITEMS
        ):
            raise ValueError("the result of * would be too large")
    return left * right


def _bounded_length(length: int) -> None:
    if length > MAX_REPEATED_ITEMS:
        raise ValueError("the resulting string would be too large")


def _bounded_text_method(text: str | bytes, name: str, method: Callable) -> Callable:
    """The string methods that can build far more than they are given, checked before they run."""

    def padded(width, *args):
        if isinstance(width, int):
            _bounded_length(width)
        return method(width, *args)

    def replaced(old, new, count=-1):
        if isinstance(old, str | bytes) and isinstance(new, str | bytes):
            hits = text.count(old) if old else len(text) + 1
            hits = hits if count < 0 else min(hits, count)
            _bounded_length(len(text) + hits * max(0, len(new) - len(old)))
        return method(old, new, count)

    def expanded(tabsize=8):
        if isinstance(tabsize, int):
            _bounded_length(len(text) + text.count("\t" if isinstance(text, str) else b"\t") * tabsize)
        return method(tabsize)

    return {"replace": replaced, "expandtabs": expanded}.get(name, padded)


_GROWING_TEXT_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "replace", "expandtabs"})


def _getattr(obj, name, *default):
    value = safer_getattr(obj, name, *default)
    if name in _GROWING_TEXT_METHODS:
        if isinstance(obj, str | bytes):
            return _bounded_text_method(obj, name, value)
        if obj in (str, bytes):  # the unbound method: str.center("x", n)
            return lambda text, *args: _bounded_text_method(text, name, getattr(text, name))(*args)
    return value


class ScriptTimeLimit(RuntimeError):
    """A script or expression ran past its time budget."""


def run_within_time_limit(run: Callable[[], Any]) -> Any:
    """Run sandboxed code, stopping it once it has run for `SCRIPT_TIME_LIMIT_S`.

    A trace function sees every line (and loop iteration) of code compiled here, and nothing
    else: helpers and library code run untraced at full speed.
    """
    limit = SCRIPT_TIME_LIMIT_S
    deadline = time.monotonic() + limit

    def on_line(frame, event, arg):
        if time.monotonic() > deadline:
            raise ScriptTimeLimit(f"the script ran longer than {limit:g} s and was stopped")
        return on_line

    def on_call(frame, event, arg):
        return on_line if frame.f_code.co_filename == SCRIPT_FILENAME else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        return run()
    finally:
        sys.settrace(previous)


_INPLACE_OPERATORS = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": _safe_mul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
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
    "max": max,
    "min": min,
    "range": limited_range,
    "reversed": reversed,
    "round": round,
    "set": set,
    "sorted": sorted,
    "str": str,
    "sum": sum,
    "tuple": tuple,
    "zip": zip,
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
    "_print_": PrintCollector,
    "_apply_": _apply,
    "_safe_pow_": _safe_pow,
    "_safe_lshift_": _safe_lshift,
    "_safe_mul_": _safe_mul,
}


@lru_cache(maxsize=8192)
def compile_code(source: str, mode: str = "exec") -> CodeType:
    """Compile a script (`exec`) or an expression (`eval`) under the policy, or raise ScriptRejected."""
    try:
        return compile_restricted(source, filename=SCRIPT_FILENAME, mode=mode, policy=ScriptPolicy)
    except SyntaxError as error:
        messages = list(error.args[0]) if isinstance(error.args[0], tuple) else [str(error)]
        match = re.match(r"Line (\d+):", messages[0])
        raise ScriptRejected(messages, int(match.group(1)) if match else None) from None


def check_code(source: str, mode: str = "exec") -> list[str]:
    """The policy's complaints about a piece of code (empty when it may run)."""
    try:
        compile_code(source, mode)
    except ScriptRejected as rejected:
        return rejected.messages
    return []


def _is_data(value: Any) -> bool:
    return not callable(value) and not isinstance(value, ModuleType)


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates expressions and runs scripts of a diagram under the sandbox policy."""

    def __init__(self, helpers: dict[str, Any]):
        super().__init__({})
        self.helpers = helpers
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
        return run_within_time_limit(lambda: eval(code, namespace))

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        code = compile_code(script, "exec")
        namespace = self._namespace(context, external_context)
        run_within_time_limit(lambda: exec(code, namespace))
        external = external_context or {}
        for key in [k for k in context if k not in namespace]:
            del context[key]
        for key, value in namespace.items():
            if key in self._reserved or key in external or key.startswith("_"):
                continue
            if _is_data(value):
                context[key] = value
            else:
                context.pop(key, None)
        return True

    def call_service(self, context, **kwargs):
        raise NotImplementedError("service tasks are not supported by this service")


class SandboxScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine with the sandbox environment and restricted validation."""

    def __init__(self, calendar: WorkingCalendar):
        super().__init__(environment=SandboxEnvironment(make_helpers(calendar)))

    def validate(self, expression: str) -> None:
        compile_code(expression.strip(), "eval")
