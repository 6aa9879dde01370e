"""The sandbox's policy, unit by unit: known Python sandbox escapes and resource bombs are refused.

Scripts, gateway conditions, timer expressions and DMN cells run in `engine.sandbox`. Each escape
below must be refused either when it is compiled (`check_code` complains; a deployment naming it
is refused) or when it runs (`SandboxEnvironment.evaluate/execute` raises). Either way the test
also checks that nothing happened: the payloads try to create a marker file under `tmp_path`,
and the process environment, working directory and the sandbox's own tables must be unchanged.
The same code through real cases, deployments and the HTTP API: `test_sandbox_cases.py`.

`MARKER` in a payload is replaced by the marker file's path, as a Python string literal.
"""

import builtins
import sys
import time

import pytest

from engine import budget, sandbox
from engine.calendar import WorkingCalendar
from engine.sandbox import (
    GUARDS,
    SAFE_BUILTINS,
    NotJsonData,
    SandboxEnvironment,
    SandboxLimit,
    ScriptMemoryLimit,
    ScriptRejected,
    ScriptTimeLimit,
    SizeLimit,
    act_budget,
    check_code,
    check_timer_expression,
    json_data_problem,
    timer_value_problem,
)
from engine.script_helpers import make_helpers

from .sandbox_support import NESTED_LOOPS, PAYLOAD, Machine

# RestrictedPython's own compile-time notes ("Match statement is not known", "Prints, but never
# reads 'printed'"), which the sandbox silences too.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")


@pytest.fixture
def machine(tmp_path) -> Machine:
    return Machine(tmp_path)


@pytest.fixture(scope="module")
def env() -> SandboxEnvironment:
    return SandboxEnvironment(make_helpers(WorkingCalendar()))


def run(env: SandboxEnvironment, mode: str, source: str, context=None, external=None):
    context = {} if context is None else context
    if mode == "eval":
        return env.evaluate(source, context, external)
    return env.execute(source, context, external)


# ---- the policy's messages


def underscore_attribute(name: str, line: int = 1) -> str:
    return f'Line {line}: "{name}" is an invalid attribute name because it starts with "_".'


def underscore_name(name: str, line: int = 1) -> str:
    return f'Line {line}: "{name}" is an invalid variable name because it starts with "_"'


def unavailable(name: str, line: int = 1) -> str:
    return f'Line {line}: "{name}" is not available in process scripts'


def inspection(name: str, line: int = 1) -> str:
    return f'Line {line}: "{name}" is a restricted name, that is forbidden to access in RestrictedPython.'


def no_import(line: int = 1) -> str:
    return f"Line {line}: import is not allowed in process scripts"


def script(id: str, source: str, message: str):
    return pytest.param("exec", source, message, id=id)


def expression(id: str, source: str, message: str):
    return pytest.param("eval", source, message, id=id)


# ---- refused when compiled

DUNDER_WALKS = [
    script(
        "subclasses-of-object",
        "for c in ().__class__.__bases__[0].__subclasses__():\n"
        "    if c.__name__ == 'catch_warnings':\n"
        "        c()._module.__builtins__['__import__']('os').system('touch ' + MARKER)",
        underscore_attribute("__subclasses__"),
    ),
    expression("class-mro", "'x'.__class__.__mro__[-1].__subclasses__()", underscore_attribute("__mro__")),
    expression(
        "object-via-mro-method", "int.mro()[-1].__subclasses__()", underscore_attribute("__subclasses__")
    ),
    script(
        "function-globals",
        "def f():\n    return 1\nf.__globals__['__builtins__']['open'](MARKER, 'w')",
        underscore_attribute("__globals__", line=3),
    ),
    expression(
        "helper-globals",
        "now.__globals__['__builtins__']['__import__']('os').system('touch ' + MARKER)",
        underscore_attribute("__globals__"),
    ),
    expression(
        "helper-closure", "add_hours.__closure__[0].cell_contents", underscore_attribute("__closure__")
    ),
    expression("lambda-code", "(lambda: 0).__code__.co_code", inspection("co_code")),
    expression("builtin-self", "len.__self__.open(MARKER, 'w')", underscore_attribute("__self__")),
    expression("reduce-ex", "().__reduce_ex__(2)", underscore_attribute("__reduce_ex__")),
    expression("builtins-name", "__builtins__['open'](MARKER, 'w')", underscore_name("__builtins__")),
    expression("dunder-import", "__import__('os').system('touch ' + MARKER)", underscore_name("__import__")),
    expression("module-loader", "__loader__.load_module('os')", underscore_name("__loader__")),
    expression(
        "getattr-with-a-name-built-at-run-time",
        "getattr(getattr((), '_' + '_class__'), '_' * 2 + 'bases__')",
        unavailable("getattr"),
    ),
    expression("vars-with-a-name-built-at-run-time", "vars(now)['_' + '_globals__']", unavailable("vars")),
    script(
        "match-class-pattern-attribute-lookup",
        "match now:\n    case int(__globals__=g):\n        pass",
        "Line 1: Match statements are not allowed.",
    ),
]

IMPORTS = [
    script("import", "import os\nos.system('touch ' + MARKER)", no_import()),
    script("import-as", "import os as o\no.system('touch ' + MARKER)", no_import()),
    script("import-dotted", "import os.path", no_import()),
    script("import-to-change-the-environment", "import os\nos.environ['PWNED'] = MARKER", no_import()),
    script("from-import", "from os import system\nsystem('touch ' + MARKER)", no_import()),
    script("from-import-as", "from os import system as run\nrun('touch ' + MARKER)", no_import()),
    script("from-import-star", "from os import *", no_import()),
    script("relative-import", "from . import secrets", no_import()),
    script(
        "importlib", "import importlib\nimportlib.import_module('os').system('touch ' + MARKER)", no_import()
    ),
    script("from-importlib", "from importlib import import_module", no_import()),
    expression(
        "dunder-import-importlib",
        "__import__('importlib').import_module('os')",
        underscore_name("__import__"),
    ),
    script(
        "import-in-function",
        "def f():\n    import os\n    return os\nf().system('touch ' + MARKER)",
        no_import(2),
    ),
    script("import-in-try", "try:\n    import os\nexcept Exception:\n    pass", no_import(2)),
    script("import-after-code", "total = 1\nimport os", no_import(2)),
    expression(
        "dunder-import-in-comprehension",
        "[__import__('os').system('touch ' + MARKER) for _ in [1]]",
        underscore_name("__import__"),
    ),
    expression(
        "dunder-import-in-comprehension-filter",
        "[1 for x in [1] if __import__('os')]",
        underscore_name("__import__"),
    ),
    expression("dunder-import-in-lambda", "(lambda: __import__('os'))()", underscore_name("__import__")),
    script(
        "dunder-import-as-default", "def f(m=__import__('os')):\n    return m", underscore_name("__import__")
    ),
]

FORBIDDEN_BUILTINS = [
    expression("open", "open(MARKER, 'w').write('pwned')", unavailable("open")),
    script("open-in-with", "with open(MARKER, 'w') as f:\n    f.write('pwned')", unavailable("open")),
    expression("eval", "eval(\"open(MARKER, 'w')\")", unavailable("eval")),
    expression("exec", "exec(\"import os; os.system('touch ' + MARKER)\")", unavailable("exec")),
    expression("compile", "compile('import os', 'x', 'exec')", unavailable("compile")),
    expression("getattr", "getattr((), '__class__')", unavailable("getattr")),
    expression("setattr", "setattr(now, 'x', 1)", unavailable("setattr")),
    expression("delattr", "delattr(now, 'x')", unavailable("delattr")),
    expression("hasattr", "hasattr((), '__class__')", unavailable("hasattr")),
    expression("globals", "globals()['__builtins__']", unavailable("globals")),
    expression("locals", "locals()", unavailable("locals")),
    expression("vars", "vars()", unavailable("vars")),
    expression("dir", "dir(now)", unavailable("dir")),
    expression("type-of", "type(())", unavailable("type")),
    expression("type-new-class", "type('Evil', (), {})", unavailable("type")),
    expression("object", "object.__subclasses__()", unavailable("object")),
    expression("super", "super()", unavailable("super")),
    expression("breakpoint", "breakpoint()", unavailable("breakpoint")),
    expression("input", "input()", unavailable("input")),
    expression("help", "help(now)", unavailable("help")),
    expression("memoryview", "memoryview(b'x')", unavailable("memoryview")),
    expression("classmethod", "classmethod(now)", unavailable("classmethod")),
    expression("exit", "exit()", unavailable("exit")),
    expression("quit", "quit()", unavailable("quit")),
    expression("fullwidth-open", "\uff4f\uff50\uff45\uff4e(MARKER, 'w')", unavailable("open")),
]

FORMAT_STRINGS_AT_COMPILE_TIME = [
    expression("f-string-dunder", 'f"{now.__globals__}"', underscore_attribute("__globals__")),
    expression("f-string-conversion", 'f"{().__class__.__base__!r}"', underscore_attribute("__base__")),
    expression("f-string-nested-spec", 'f"{1:{().__class__}}"', underscore_attribute("__class__")),
]

FRAMES = [
    expression(
        "generator-gi-frame", "(i for i in ()).gi_frame.f_globals['__builtins__']", inspection("gi_frame")
    ),
    expression("generator-gi-code", "(i for i in ()).gi_code", inspection("gi_code")),
    expression("generator-gi-yieldfrom", "(i for i in ()).gi_yieldfrom", inspection("gi_yieldfrom")),
    script("frame-f-back", "g = (i for i in ())\ncaller = g.gi_frame.f_back.f_back", inspection("f_back", 2)),
    script(
        "generator-function-frame", "def g():\n    yield 1\nframe = g().gi_frame", inspection("gi_frame", 3)
    ),
    expression("frame-f-locals", "frame.f_locals", inspection("f_locals")),
    expression("frame-f-builtins", "frame.f_builtins['open']", inspection("f_builtins")),
    script(
        "traceback-tb-frame",
        "try:\n    1 / 0\nexcept Exception as e:\n    frame = e.__traceback__.tb_frame",
        underscore_attribute("__traceback__", 4),
    ),
    script(
        "traceback-attribute",
        "try:\n    1 / 0\nexcept Exception as e:\n    frame = e.tb_frame",
        inspection("tb_frame", 4),
    ),
    script(
        "with-traceback",
        "try:\n    1 / 0\nexcept Exception as e:\n    tb = e.with_traceback(None).__traceback__",
        underscore_attribute("__traceback__", 4),
    ),
    script("traceback-next", "tb = None\nframe = tb.tb_next.tb_frame", inspection("tb_next", 2)),
    script(
        "exception-context",
        "try:\n    1 / 0\nexcept Exception as e:\n    cause = e.__context__",
        underscore_attribute("__context__", 4),
    ),
    script("async-def", "async def f():\n    pass", "Line 1: AsyncFunctionDef statements are not allowed."),
    script("await", "def f():\n    await g()", "Line 2: Await statements are not allowed."),
    expression(
        "async-comprehension",
        "[x async for x in y]",
        "asynchronous comprehension outside of an asynchronous function (<script>, line 1)",
    ),
    expression("coroutine-cr-frame", "c.cr_frame", inspection("cr_frame")),
    expression("async-generator-ag-frame", "a.ag_frame", inspection("ag_frame")),
    script(
        "except-star",
        "try:\n    pass\nexcept* Exception:\n    pass",
        "Line 1: TryStar statements are not allowed.",
    ),
]

RESOURCES_AT_COMPILE_TIME = [
    script(
        "while-true",
        "while True:\n    pass",
        "Line 1: while loops are not allowed; loop over a list or a range instead",
    ),
    script(
        "while-in-function",
        "def spin():\n    while 1:\n        pass\nspin()",
        "Line 2: while loops are not allowed; loop over a list or a range instead",
    ),
    script("class", "class Evil:\n    pass", "Line 1: class definitions are not allowed in process scripts"),
    script(
        "class-with-metaclass",
        "class Evil(metaclass=dict):\n    pass",
        "Line 1: class definitions are not allowed in process scripts",
    ),
    script("global", "global total\ntotal = 1", "Line 1: global is not allowed in process scripts"),
    script(
        "nonlocal",
        "def f():\n    x = 1\n    def g():\n        nonlocal x\n        x = 2\n    return g",
        "Line 4: nonlocal is not allowed in process scripts",
    ),
    script(
        "replace-a-helper",
        "now = lambda: '2000-01-01T00:00:00+08:00'",
        'Line 1: "now" is a helper function and cannot be assigned',
    ),
]

COMPILE_TIME = [
    *DUNDER_WALKS,
    *IMPORTS,
    *FORBIDDEN_BUILTINS,
    *FORMAT_STRINGS_AT_COMPILE_TIME,
    *FRAMES,
    *RESOURCES_AT_COMPILE_TIME,
]


@pytest.mark.parametrize(("mode", "source", "message"), COMPILE_TIME)
def test_refused_when_compiled(env, machine, mode, source, message):
    source = machine.payload(source)
    assert message in check_code(source, mode)
    with pytest.raises(ScriptRejected) as refused:
        run(env, mode, source)
    assert message in refused.value.messages
    machine.assert_untouched()


# ---- compiles, but the guards refuse it when it runs

FORMAT_ERROR = r"Using the format\*\(\) methods of `str` is not safe"
POW_ERROR = r"the result of \*\* would be too large"
SHIFT_ERROR = r"the result of << would be too large"
RANGE_ERROR = r"in RestrictedPython we only allow 1000 elements in a range"
MUL_ERROR = r"the result of \* would be too large"
TEXT_ERROR = r"the resulting string would be too large"
ADD_ERROR = r"the result of \+ would be too large"
TUPLE_ERROR = r"the tuple would be too large"
COMPARE_ERROR = r"the comparison would be too large"
WIDTH_ERROR = r"a width or precision in the (format|f-string) is too large"


def running(id: str, mode: str, source: str, error: type[BaseException], match: str):
    return pytest.param(mode, source, error, match, id=id)


RUN_TIME = [
    # format strings walk attributes by name, out of sight of the compiler
    running(
        "str-format",
        "eval",
        '"{0.__class__.__base__.__subclasses__}".format(())',
        NotImplementedError,
        FORMAT_ERROR,
    ),
    running(
        "str-format-globals",
        "eval",
        '"{0.__globals__[__builtins__]}".format(now)',
        NotImplementedError,
        FORMAT_ERROR,
    ),
    running(
        "str-format-unbound", "eval", 'str.format("{0.__globals__}", now)', NotImplementedError, FORMAT_ERROR
    ),
    running(
        "str-format-map",
        "eval",
        '"{f.__globals__}".format_map({"f": now})',
        NotImplementedError,
        FORMAT_ERROR,
    ),
    running(
        "str-format-kept-for-later",
        "exec",
        'show = "{0.__globals__}".format\nleak = show(now)',
        NotImplementedError,
        FORMAT_ERROR,
    ),
    running(
        "str-format-through-map",
        "eval",
        'list(map("{0.__globals__}".format, [now]))',
        NotImplementedError,
        FORMAT_ERROR,
    ),
    running(
        "str-format-name-built-at-run-time",
        "eval",
        '("{0." + "_" * 2 + "globals__}").format(now)',
        NotImplementedError,
        FORMAT_ERROR,
    ),
    running(
        "string-formatter",
        "eval",
        'string.Formatter().vformat("{0.__globals__}", [now], {})',
        NameError,
        "'string'",
    ),
    running("format-builtin", "eval", 'format(now, "")', NameError, "'format'"),
    # names built at run time reach nothing that looks attributes up
    running("subscript-with-a-built-name", "eval", 'now["_" + "_globals__"]', TypeError, "not subscriptable"),
    running("print-to-another-file", "exec", 'print("pwned", file=dict)', AttributeError, "write"),
    # builtins that are simply not there
    running("pow", "eval", "pow(2, 10 ** 8)", NameError, "'pow'"),
    running("bytes", "eval", "bytes(10 ** 10)", NameError, "'bytes'"),
    running("print-as-a-value", "eval", "print", NameError, "'_print'"),
    # resource abuse
    running("power-tower", "eval", "10 ** 10 ** 10", ValueError, POW_ERROR),
    running("power-of-two", "eval", "2 ** 10 ** 8", ValueError, POW_ERROR),
    running("inplace-power", "exec", "x = 2\nx **= 10 ** 8", ValueError, POW_ERROR),
    running("left-shift", "eval", "1 << 10 ** 10", ValueError, SHIFT_ERROR),
    running(
        "left-shift-in-a-loop",
        "exec",
        "x = 1\nfor i in range(999):\n    x = x << 4000",
        ValueError,
        SHIFT_ERROR,
    ),
    running("inplace-left-shift", "exec", "x = 1\nx <<= 10 ** 10", ValueError, "operator <<= is not allowed"),
    running("range", "eval", "range(10 ** 9)", ValueError, RANGE_ERROR),
    running("range-loop", "exec", "for i in range(10 ** 9):\n    pass", ValueError, RANGE_ERROR),
    running("range-with-step", "eval", "list(range(0, 10 ** 9, 1))", ValueError, RANGE_ERROR),
    running("recursion", "exec", "def f():\n    return f()\nf()", RecursionError, "recursion"),
    running("string-repetition", "eval", '"x" * 10 ** 9', ValueError, MUL_ERROR),
    running("list-repetition", "eval", "[0] * 10 ** 9", ValueError, MUL_ERROR),
    running("repetition-count-first", "eval", "10 ** 9 * [0]", ValueError, MUL_ERROR),
    running("inplace-repetition", "exec", 'x = "ab"\nx *= 10 ** 8', ValueError, MUL_ERROR),
    running("padding", "eval", '"ab".center(10 ** 9)', ValueError, TEXT_ERROR),
    running("unbound-padding", "eval", 'str.ljust("", 10 ** 9)', ValueError, TEXT_ERROR),
    running("padding-through-map", "eval", 'list(map(str.zfill, ["1"], [10 ** 9]))', ValueError, TEXT_ERROR),
    running(
        "replace-that-multiplies", "eval", '("x" * 9999).replace("x", "y" * 9999)', ValueError, TEXT_ERROR
    ),
    running("expandtabs", "eval", '"\\t".expandtabs(10 ** 9)', ValueError, TEXT_ERROR),
    # attribute writes are guarded too
    running("set-an-attribute-on-a-helper", "exec", "now.x = 1", TypeError, "attribute-less object"),
]


@pytest.mark.parametrize(("mode", "source", "error", "match"), RUN_TIME)
def test_refused_when_run(env, machine, mode, source, error, match):
    source = machine.payload(source)
    assert check_code(source, mode) == [], "compiles: only the run-time guards stop it"
    with pytest.raises(error, match=match):
        run(env, mode, source)
    machine.assert_untouched()


CONTROLS = [
    pytest.param("eval", "2 ** 10", 1024, id="power"),
    pytest.param("eval", "1 << 4000 > 0", True, id="left-shift"),
    pytest.param("eval", "sum(range(10))", 45, id="range"),
    pytest.param("eval", '"-" * 3 + str(3 * 4)', "---12", id="repetition-and-multiplication"),
    pytest.param("eval", '"7".zfill(3) + "a-b".replace("-", "+")', "007a+b", id="padding-and-replace"),
    pytest.param("eval", '"%s/%s" % (1, 2)', "1/2", id="percent-format"),
    pytest.param("eval", 'f"{12.5:>7.2f}|{now()[:2]}"', "  12.50|20", id="f-string"),
    pytest.param(
        "eval", 'add_hours("2026-11-16T10:00:00+08:00", 2)', "2026-11-16T12:00:00+08:00", id="helper"
    ),
    pytest.param("eval", "[a + b for a, b in [(1, 2), (3, 4)]]", [3, 7], id="unpacking"),
    pytest.param("eval", "(i * 2 for i in [1, 2]).gi_running", False, id="harmless-generator-attribute"),
]


@pytest.mark.parametrize(("mode", "source", "expected"), CONTROLS)
def test_ordinary_code_of_the_same_shapes_still_runs(env, mode, source, expected):
    """The battery is not passing because everything is refused."""
    assert check_code(source, mode) == []
    assert run(env, mode, source) == expected


@pytest.mark.parametrize(
    ("mode", "source"),
    [
        pytest.param("exec", NESTED_LOOPS, id="nested-loops"),
        pytest.param(
            "eval", "sum([1 for a in range(999) for b in range(999) for c in range(999)])", id="comprehension"
        ),
        pytest.param(
            "eval", "len([[0] * 999 for a in range(999) for b in range(999)])", id="growing-comprehension"
        ),
    ],
)
def test_code_that_runs_too_long_is_stopped(env, machine, monkeypatch, mode, source):
    """A billion iterations would hold the case's lock for minutes; the time budget stops them."""
    monkeypatch.setattr(sandbox, "SCRIPT_TIME_LIMIT_S", 0.2)
    tracer_before = sys.gettrace()
    started = time.thread_time()
    with pytest.raises(ScriptTimeLimit, match=r"ran longer than 0\.2 s"):
        run(env, mode, source)
    assert time.thread_time() - started < 5
    assert sys.gettrace() is tracer_before  # whatever traced this thread before still does
    machine.assert_untouched()


# ---- data cannot become code, nor replace the guards

# guard → (a script that needs that guard, and what the real guard makes of it: the data the
# script leaves, or the error it raises)
GUARD_PROBES: dict[str, tuple[str, dict | tuple[type[BaseException], str]]] = {
    "__builtins__": ("r = pow(2, 8)", (NameError, "'pow'")),
    "_getattr_": ("r = '{0.__class__}'.format(1)", (NotImplementedError, FORMAT_ERROR)),
    "_getitem_": ("r = [10, 20][1]", {"r": 20}),
    "_getiter_": ("r = [i for i in [1, 2]]", {"r": [1, 2]}),
    "_iter_unpack_sequence_": ("r = [a + b for a, b in [(1, 2)]]", {"r": [3]}),
    "_unpack_sequence_": ("a, b = [1, 2]\nr = a + b", {"a": 1, "b": 2, "r": 3}),
    "_write_": ("now.x = 1", (TypeError, "attribute-less object")),
    "_inplacevar_": ("r = 1\nr <<= 3", (ValueError, "operator <<= is not allowed")),
    "_print_": ("print('hello')\nr = printed", {"r": "hello\n"}),
    "_apply_": ("r = max(*[1, 2])", {"r": 2}),
    "_safe_pow_": ("r = 2 ** 10 ** 8", (ValueError, POW_ERROR)),
    "_safe_lshift_": ("r = 1 << 10 ** 10", (ValueError, SHIFT_ERROR)),
    "_safe_mul_": ("r = 'x' * 10 ** 9", (ValueError, MUL_ERROR)),
    "_safe_add_": ("r = 'x' * 10 ** 6 + 'y'", (SizeLimit, ADD_ERROR)),
    "_safe_mod_": ("r = '%*d' % (10 ** 9, 1)", (SizeLimit, WIDTH_ERROR)),
    "_format_": ("r = f'{1:>1000000000}'", (SizeLimit, WIDTH_ERROR)),
    "_compared_": ("r = [1, [2]] == [1, [2]]", {"r": True}),
    "_tuple_": ("r = list((1, 2))", {"r": [1, 2]}),
}


def hostile_value(machine: Machine, guard: str, kind: str):
    """What case data (or an external context) might hold under a guard's name."""
    if kind == "string":
        return machine.payload(PAYLOAD)
    if kind == "dict":
        return {"__import__": machine.payload(PAYLOAD), "open": "open", "pow": "pow", "__call__": "exec"}
    # Not possible in JSON case data, but even a live object is ignored.
    if guard == "__builtins__":
        return {**vars(builtins), "pow": machine.touch, "__import__": machine.touch}
    return machine.touch


def test_every_guard_has_a_probe():
    assert set(GUARD_PROBES) == set(GUARDS)


@pytest.mark.parametrize("where", ["case-data", "external-context"])
@pytest.mark.parametrize("kind", ["string", "dict", "callable"])
@pytest.mark.parametrize("guard", sorted(GUARD_PROBES))
def test_data_under_a_guards_name_does_not_replace_it(env, machine, guard, kind, where):
    source, outcome = GUARD_PROBES[guard]
    hostile = hostile_value(machine, guard, kind)
    context = {"amount": 5, guard: hostile} if where == "case-data" else {"amount": 5}
    external = {guard: hostile} if where == "external-context" else None
    assert check_code(source) == []
    if isinstance(outcome, dict):
        run(env, "exec", source, context, external)
        expected = {"amount": 5, **outcome}
        if where == "case-data":
            expected[guard] = hostile  # kept as it was: data, untouched
        assert context == expected
    else:
        error, match = outcome
        with pytest.raises(error, match=match):
            run(env, "exec", source, context, external)
    machine.assert_untouched()


def test_an_expression_with_a_replaced_getattr_in_its_data_is_still_guarded(env, machine):
    context = {"_getattr_": getattr, "__builtins__": vars(builtins), "value": 1}
    with pytest.raises(NotImplementedError, match=FORMAT_ERROR):
        env.evaluate("'{0.__class__.__base__.__subclasses__}'.format(value)", context)
    with pytest.raises(NameError, match="'chr'"):
        env.evaluate("chr(65)", context)
    machine.assert_untouched()


def test_strings_in_case_data_are_never_compiled(env, machine):
    payload = machine.payload(PAYLOAD)
    context = {
        "payload": payload,
        "code": machine.payload("open(MARKER, 'w')"),
        "nested": {"__builtins__": payload, "_getattr_": payload},
    }
    assert env.evaluate("payload", context) == payload
    assert env.evaluate("nested['_getattr_'] + ''", context) == payload
    env.execute("copy = payload\nsize = len(code)\nkeys = sorted(nested)", context)
    assert context["copy"] == payload
    assert context["size"] == len(context["code"])
    assert context["keys"] == ["__builtins__", "_getattr_"]
    # A DMN input cell sees the input's value under `dmninputexpr`: also plain data.
    assert env.evaluate("dmninputexpr == payload", context, {"dmninputexpr": payload}) is True
    machine.assert_untouched()


def test_dates_can_be_formatted_though_nothing_can_be_imported(tmp_path):
    machine = Machine(tmp_path)
    env = SandboxEnvironment(make_helpers(WorkingCalendar()))
    moment = 'parse_datetime("2026-11-20T10:00:00+08:00")'
    assert env.evaluate(f'{moment}.strftime("%Y年%m月%d日")', {}) == "2026年11月20日"
    assert env.evaluate("f\"{parse_datetime('2026-11-20T10:00:00+08:00'):%H:%M}\"", {}) == "10:00"
    with pytest.raises(ImportError):
        SAFE_BUILTINS["__import__"]("os")
    machine.assert_untouched()


# ---- one operation cannot hold the interpreter: each is checked before it runs

# Each of these is ONE C-level operation: while it runs no other thread runs (the GIL is held)
# and no between-lines check can stop it. Before the guards, each held the process for seconds
# to minutes or allocated gigabytes.
BOMBS = [
    pytest.param("exec", "x = 3 ** 2000\nfor i in range(40):\n    x = x * x", MUL_ERROR, id="int-squarings"),
    pytest.param(
        "eval", "(3 ** 2000) * (3 ** 2000) * (3 ** 2000) * (3 ** 2000)", MUL_ERROR, id="int-product"
    ),
    pytest.param("exec", "x = 3 ** 2000\nfor i in range(9):\n    x *= x", MUL_ERROR, id="int-growing"),
    pytest.param("eval", "'%*d' % (10 ** 9, 1)", WIDTH_ERROR, id="percent-star-width"),
    pytest.param("eval", "'%.1000000000f' % 1.0", WIDTH_ERROR, id="percent-precision"),
    pytest.param("eval", "'%01000000000d' % 1", WIDTH_ERROR, id="percent-width"),
    pytest.param("eval", "b'%*d' % (10 ** 9, 1)", WIDTH_ERROR, id="bytes-percent"),
    pytest.param(
        "exec", "s = '%s'\ns %= ('x' * 10,)\nr = '%*d' % (10 ** 9, 1)", WIDTH_ERROR, id="percent-in-place"
    ),
    pytest.param("eval", "f'{1:>1000000000}'", WIDTH_ERROR, id="fstring-width"),
    pytest.param("eval", "f'{1:>{10 ** 9}}'", WIDTH_ERROR, id="fstring-nested-width"),
    pytest.param("eval", "f'{1.5:.1000000000f}'", WIDTH_ERROR, id="fstring-precision"),
    pytest.param(
        "eval", "f'{[[0] * 10 ** 6] * 1000}'", r"the text would be too large", id="fstring-nested-list"
    ),
    pytest.param(
        "eval",
        "'%(a)s' % {'a': [[0] * 10 ** 6] * 1000}",
        r"the text would be too large",
        id="percent-nested-list",
    ),
    pytest.param("eval", "str([[0] * 10 ** 6] * 1000)", r"the text would be too large", id="str-nested-list"),
    pytest.param(
        "exec", "print([[0] * 10 ** 6] * 1000)", r"the text would be too large", id="print-nested-list"
    ),
    pytest.param("eval", "str.center('x', 10 ** 9)", TEXT_ERROR, id="unbound-center"),
    pytest.param("eval", "'x'.join(['a' * 10 ** 6] * 1000)", TEXT_ERROR, id="join"),
    pytest.param("eval", "str.join('x', ['a' * 10 ** 6] * 1000)", TEXT_ERROR, id="unbound-join"),
    pytest.param("eval", "(1).to_bytes(10 ** 9, 'big')", TEXT_ERROR, id="to-bytes"),
    pytest.param("eval", "int.to_bytes(1, 10 ** 9, 'big')", TEXT_ERROR, id="unbound-to-bytes"),
    pytest.param("eval", "('a' * 10 ** 6).translate({97: 'b' * 10 ** 6})", TEXT_ERROR, id="translate"),
    pytest.param("eval", "round(5, -10 ** 9)", r"too many digits", id="round-digits"),
    pytest.param("eval", "sum([[0] * 10 ** 6] * 1000, [])", ADD_ERROR, id="sum-of-lists"),
    pytest.param(
        "exec", "x = [0] * 10 ** 6\nfor i in range(30):\n    x = x + x", ADD_ERROR, id="doubling-list"
    ),
    pytest.param("exec", "x = 'x' * 10 ** 6\nfor i in range(30):\n    x += x", ADD_ERROR, id="doubling-text"),
    pytest.param(
        "exec",
        "x = [0] * 10 ** 6\nfor i in range(30):\n    x += x",
        r"the result of \+= would be too large",
        id="doubling-in-place",
    ),
    pytest.param(
        "eval", "[[0] * 10 ** 6] * 1000 == [[0] * 10 ** 6] * 1000", COMPARE_ERROR, id="compare-nested"
    ),
    pytest.param("eval", "[0] * 10 ** 6 in [[0] * 10 ** 6] * 1000", COMPARE_ERROR, id="in-nested"),
    pytest.param("eval", "sorted([[0] * 10 ** 6] * 1000)", COMPARE_ERROR, id="sorted-nested"),
    pytest.param("eval", "max([[0] * 10 ** 6] * 1000)", COMPARE_ERROR, id="max-nested"),
    pytest.param("eval", "([[0] * 10 ** 6] * 1000).count([0] * 10 ** 6)", COMPARE_ERROR, id="count-nested"),
    pytest.param(
        "exec",
        "t = (0,) * 10 ** 6\nu = (t, t, t, t, t, t, t, t, t, t)\nr = {u}",
        TUPLE_ERROR,
        id="hash-nested-tuple",
    ),
    pytest.param("exec", "t = (0,) * 10 ** 6\nr = {(t,) * 1000: 1}", TUPLE_ERROR, id="tuple-times"),
    pytest.param("exec", "t = (0,) * 10 ** 6\nr = {tuple([t] * 1000)}", TUPLE_ERROR, id="tuple-builtin"),
    pytest.param(
        "exec", "t = (0,) * 10 ** 6\nr = set(zip(*([[t]] * 1000)))", TUPLE_ERROR, id="tuple-from-zip"
    ),
    pytest.param("eval", "add_working_days(now(), 2000000)", r"at most 5,000 working days", id="helper-days"),
    pytest.param(
        "eval", "add_working_hours(now(), 10 ** 9)", r"working hours can be added", id="helper-hours"
    ),
]


@pytest.mark.parametrize(("mode", "source", "match"), BOMBS)
def test_an_operation_that_would_build_too_much_is_refused_before_it_runs(env, machine, mode, source, match):
    started = time.thread_time()
    with pytest.raises(SandboxLimit, match=match):
        run(env, mode, source)
    assert time.thread_time() - started < 0.5
    machine.assert_untouched()


ORDINARY = [
    pytest.param("eval", "f'{amount:>10}|{amount:08.2f}|{name!r}'", "         5|00005.00|'Li'", id="fstring"),
    pytest.param(
        "eval", "f'{parse_datetime(\"2026-11-20T10:00:00+08:00\"):%Y-%m-%d}'", "2026-11-20", id="fstring-date"
    ),
    pytest.param("eval", "'%5.2f|%-4s|%*d' % (3.14159, 'ab', 3, 7)", " 3.14|ab  |  7", id="percent"),
    pytest.param("eval", "'%(n)s items' % {'n': 3}", "3 items", id="percent-mapping"),
    pytest.param(
        "eval",
        "17 % 5 + 2 ** 10 + (1 << 8) + 12345678901234567890 * 98765432109876543210",
        1219326311370217952237463801111263526900 + 2 + 1024 + 256,
        id="arithmetic",
    ),
    pytest.param("eval", "', '.join(['a', 'b']) + '-' * 3", "a, b---", id="join"),
    pytest.param(
        "exec",
        "a, b = 1, 2\nd = {'k': (a, b)}\nx = [v for v in zip([1], (2,))]\n"
        "r = [isinstance(x[0], tuple), tuple([1]) + (2,), tuple.count((1, 1), 1), [1, 2, 3][0:2], (*x[0], 5)]",
        [True, (1, 2), 2, [1, 2], (1, 2, 5)],
        id="tuples",
    ),
    pytest.param(
        "eval",
        "[str(5), str(), str.upper('a'), isinstance('a', str), isinstance(1, (str, float)), sorted([2, 10], key=str)]",
        ["5", "", "A", True, False, [10, 2]],
        id="str",
    ),
    pytest.param("eval", "len((255).to_bytes(2, 'big'))", 2, id="to-bytes"),
    pytest.param("eval", "'abc'.translate({97: 'xy'})", "xybc", id="translate"),
    pytest.param("eval", "[round(3.14159, 2), round(1234, -2), round(2.5)]", [3.14, 1200, 2], id="round"),
    pytest.param(
        "eval", "[sum([1, 2, 3]), sum([0.5, 0.25]), sum([[1], [2]], [])]", [6, 0.75, [1, 2]], id="sum"
    ),
    pytest.param("exec", "a = [1]\nb = a\nb += [2]\nr = a", [1, 2], id="in-place-add-on-a-shared-list"),
    pytest.param(
        "eval", "add_working_days('2026-11-20T10:00:00+08:00', 3)", "2026-11-25T10:00:00+08:00", id="helper"
    ),
]


@pytest.mark.parametrize(("mode", "source", "expected"), ORDINARY)
def test_ordinary_formatting_and_arithmetic_still_work(env, mode, source, expected):
    context = {"amount": 5, "name": "Li"}
    result = run(env, mode, source, context)
    assert (context["r"] if mode == "exec" else result) == expected


# ---- one budget per act, helpers included


def test_the_budget_is_per_act_and_covers_helpers(env, monkeypatch):
    """After a script spends the act's budget, the next expression and a helper stop at once."""
    monkeypatch.setattr(sandbox, "SCRIPT_TIME_LIMIT_S", 0.2)
    started = time.thread_time()
    with act_budget():
        with pytest.raises(ScriptTimeLimit, match=r"ran longer than 0\.2 s"):
            run(env, "exec", NESTED_LOOPS)
        with pytest.raises(ScriptTimeLimit):
            run(env, "eval", "1 + 1")
        with pytest.raises(ScriptTimeLimit):
            env.helpers["add_working_days"]("2026-11-20T10:00:00+08:00", 3)
    assert time.thread_time() - started < 2
    # A new act has a new budget.
    with act_budget():
        assert (
            run(env, "eval", "add_working_days('2026-11-20T10:00:00+08:00', 1)")
            == "2026-11-23T10:00:00+08:00"
        )


def test_a_full_garbage_collection_during_an_act_is_not_charged_to_it(env, monkeypatch):
    """A collection's cost follows the whole process's heap, not the act: a long-running service
    with a big heap must not fail ordinary acts because the collector ran during them."""
    import gc

    monkeypatch.setattr(sandbox, "SCRIPT_TIME_LIMIT_S", 0.05)
    heap = [[i] for i in range(2_000_000)]  # tracked objects: a full collection walks them all
    try:
        with act_budget() as spent:
            started = time.thread_time()
            gc.collect()
            assert time.thread_time() - started > 0.05  # longer than the whole budget
            assert run(env, "eval", "1 + 1") == 2
            spent.check_time()
    finally:
        del heap


def test_a_helper_stops_inside_its_loop_when_the_act_runs_out_of_time(env, monkeypatch):
    """4,999 working days take the calendar longer than a 50 ms budget: stopped within the loop."""
    monkeypatch.setattr(sandbox, "SCRIPT_TIME_LIMIT_S", 0.05)
    started = time.thread_time()
    with pytest.raises(ScriptTimeLimit):
        run(env, "eval", "add_working_days('2026-11-20T10:00:00+08:00', 4999)")
    assert time.thread_time() - started < 0.5


def test_memory_a_script_keeps_is_bounded(env, machine, monkeypatch):
    monkeypatch.setattr(budget, "ACT_MEMORY_LIMIT_BYTES", 64 * 1024 * 1024)
    before = budget.resident_bytes()
    started = time.thread_time()
    with pytest.raises(ScriptMemoryLimit, match="more than 64 MB"):
        run(env, "exec", "keep = []\nfor i in range(999):\n    keep.append([i] * 10 ** 6)")
    assert time.thread_time() - started < 1
    # What it built is gone with it; it never grew much past the ceiling (one check's worth).
    assert budget.resident_bytes() - before < 200 * 1024 * 1024
    machine.assert_untouched()


# ---- results must be JSON data

NOT_DATA = [
    pytest.param("r = (i for i in [1, 2])", "it holds a generator", id="generator"),
    pytest.param("r = 'abc'.encode()", "it holds a bytes", id="bytes"),
    pytest.param("r = 1j", "it holds a complex", id="complex"),
    pytest.param("r = []\nr.append(r)", "it refers to itself", id="self-referencing-list"),
    pytest.param("r = {'a': {}}\nr['a']['b'] = r", "it refers to itself", id="self-referencing-dict"),
    pytest.param("r = parse_datetime('0001-01-01T00:00:00')", "a date out of range", id="date-out-of-range"),
    pytest.param("r = float('inf')", "inf", id="inf"),
    pytest.param("r = [float('nan')]", "nan", id="nan"),
    pytest.param("r = {1, 2}", "it holds a set", id="set"),
    pytest.param("r = {1: 'a'}", "keys must be text", id="int-key"),
    pytest.param("r = map(str, [1])", "it holds a map", id="iterator"),
    pytest.param(
        "a = [0] * 1000\nr = [a] * 1000", "more than 100,000 values", id="a-million-values-by-reference"
    ),
    pytest.param(
        "r = []\nfor i in range(99):\n    r = [r]", "nested more than 64 levels deep", id="too-deep"
    ),
]


@pytest.mark.parametrize(("source", "reason"), NOT_DATA)
def test_a_script_leaving_something_that_is_not_data_fails_and_changes_nothing(env, source, reason):
    context = {"kept": 1}
    with pytest.raises(NotJsonData, match=f"r cannot be kept in the case data: .*{reason}"):
        run(env, "exec", source + "\nkept = 2", context)
    assert context == {"kept": 1}


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("(i for i in [1, 2])", "it holds a generator"),
        ("1j", "it holds a complex"),
        ("[float('inf')]", "it holds inf"),
        ("{1, 2}", "it holds a set"),
        ("'x'.encode()", "it holds a bytes"),
    ],
)
def test_an_expression_giving_something_that_is_not_data_fails(env, expression, reason):
    with pytest.raises(NotJsonData, match=f"the expression gave something that is not data: {reason}"):
        run(env, "eval", expression)


def test_data_of_every_json_kind_and_dates_is_kept(env):
    context = {}
    run(
        env,
        "exec",
        "r = {'a': [1, 2.5, 'x', None, True, {'b': []}], 'when': parse_datetime('2026-11-20T10:00:00+08:00')}\n"
        "def helper():\n    return 1\nsame = [r['a']] * 3",
        context,
    )
    assert context["r"]["a"] == [1, 2.5, "x", None, True, {"b": []}]
    assert "helper" not in context  # functions are dropped, as before
    assert json_data_problem(context) is None


# ---- timer expressions


@pytest.mark.parametrize(
    ("kind", "source", "problem"),
    [
        ("timeDuration", '"PT1H"', None),
        ("timeDuration", "duration_hours(2)", None),
        ("timeDuration", '"tomorrow"', "is not a valid ISO 8601 duration"),
        ("timeDuration", "42", "must give ISO 8601 text, not a int"),
        ("timeDuration", "[1, 2]", "must give ISO 8601 text, not a list"),
        ("timeDuration", "(x for x in [1])", "gives a generator"),
        ("timeDuration", "amount > 3", "gives a boolean"),
        ("timeDate", '"2026-11-20T10:00:00+08:00"', None),
        ("timeDate", "add_working_days(now(), 2)", None),
        ("timeDate", '"9999-12-31T23:59:59-12:00"', "is not a valid ISO 8601 date and time"),
        ("timeDate", '"2026-13-01T00:00:00Z"', "is not a valid"),
        ("timeCycle", '"R3/PT1H"', None),
        ("timeCycle", '"R3"', "is not a valid ISO 8601 repeating interval"),
    ],
)
def test_timer_expressions_that_cannot_be_valid_are_refused_when_deployed(kind, source, problem):
    problems = check_timer_expression(kind, source)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("timeDuration", "P1000000000D", "is not a valid ISO 8601 duration"),
        ("timeDate", "0001-01-01T00:00:00+14:00", "is not a valid"),
        ("timeDate", b"2026-11-20", "not a bytes"),
        ("timeDuration", "P" + "1" * 300 + "D", "too long"),
        ("timeDuration", "PT2H", None),
    ],
)
def test_timer_values_out_of_range_are_refused(kind, value, problem):
    found = timer_value_problem(kind, value)
    assert (found is None) if problem is None else (problem in found)
