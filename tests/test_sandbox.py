"""Known Python sandbox escapes: every one is refused, and nothing happens on the machine.

Scripts, gateway conditions, timer expressions and DMN cells run in `engine.sandbox`. Each escape
below must be refused either when it is compiled (`check_code` complains; a deployment naming it
is refused) or when it runs (`SandboxEnvironment.evaluate/execute` raises). Either way the test
also checks that nothing happened: the payloads try to create a marker file under `tmp_path`,
and the process environment, working directory and the sandbox's own tables must be unchanged.

`MARKER` in a payload is replaced by the marker file's path, as a Python string literal.
"""

from __future__ import annotations

import builtins
import io
import os
import sys
import time
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import pytest

from engine import sandbox
from engine.calendar import WorkingCalendar
from engine.sandbox import (
    GUARDS,
    SAFE_BUILTINS,
    SandboxEnvironment,
    ScriptRejected,
    ScriptTimeLimit,
    check_code,
)
from engine.script_helpers import make_helpers

from .support import auth, start_data

# RestrictedPython's own compile-time notes ("Match statement is not known", "Prints, but never
# reads 'printed'"), which the sandbox silences too.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

# ---- what a payload would change


def environment() -> dict[str, str]:
    """The process environment, less the variable pytest itself rewrites for every test phase."""
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


class Machine:
    """A marker file the payloads try to create, and the state they must leave as it was."""

    def __init__(self, tmp_path):
        self.marker = tmp_path / "pwned"
        self.environ = environment()
        self.cwd = os.getcwd()
        self.safe_builtins = dict(SAFE_BUILTINS)
        self.guards = dict(GUARDS)

    def payload(self, source: str) -> str:
        return source.replace("MARKER", repr(str(self.marker)))

    def touch(self, *_args, **_kwargs):
        """A stand-in for a guard or builtin: if the sandbox ever calls it, the marker appears."""
        self.marker.write_text("pwned")
        return self.touch

    def assert_untouched(self) -> None:
        assert not self.marker.exists(), "the payload ran"
        assert environment() == self.environ
        assert os.getcwd() == self.cwd
        assert self.safe_builtins == SAFE_BUILTINS
        assert self.guards == GUARDS


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


NESTED_LOOPS = "n = 0\nfor a in range(999):\n    for b in range(999):\n        for c in range(999):\n            n = n + 1"


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
    started = time.monotonic()
    with pytest.raises(ScriptTimeLimit, match=r"ran longer than 0\.2 s"):
        run(env, mode, source)
    assert time.monotonic() - started < 5
    assert sys.gettrace() is tracer_before  # whatever traced this thread before still does
    machine.assert_untouched()


def test_a_script_that_runs_too_long_leaves_its_case_in_error(api, machine, monkeypatch):
    monkeypatch.setattr(sandbox, "SCRIPT_TIME_LIMIT_S", 0.2)
    response = upload(api, {"probe_loops.bpmn": script_task_process("probe_loops", NESTED_LOOPS)})
    assert response.status_code == 201, response.get_json()
    response = api.post("/api/v1/cases", "li.na", json={"process": "probe_loops", "data": {}})
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["status"] == "error"
    assert case["error"]["element_id"] == "run_script"
    assert "ran longer than 0.2 s" in case["error"]["message"]
    assert "n" not in case["data"]
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
}

PAYLOAD = "__import__('os').system('touch ' + MARKER)"


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


# ---- over HTTP: hostile case data, deployable-but-guarded scripts, refused deployments


def upload(api, files: dict[str, str]):
    payload = {
        f"file{i}": (io.BytesIO(content.encode("utf-8")), name)
        for i, (name, content) in enumerate(files.items())
    }
    return api.client.post(
        "/api/v1/deployments", data=payload, headers=auth("zhou.hao"), content_type="multipart/form-data"
    )


def processes(api) -> dict:
    response = api.get("/api/v1/processes?per_page=100", "zhou.hao")
    assert response.status_code == 200
    return response.get_json()


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of `text` on which `fragment` first appears."""
    for number, line in enumerate(text.splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} is not in the file")


BPMN_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
    ' id="definitions_{key}" targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


def process(key: str, node_ids: list[str], body: str) -> str:
    """An executable process with every node in the `agents` lane."""
    refs = "".join(f"\n        <bpmn:flowNodeRef>{node}</bpmn:flowNodeRef>" for node in node_ids)
    return (
        BPMN_HEADER.format(key=key)
        + f'  <bpmn:process id="{key}" name="{key}" isExecutable="true">\n'
        + f'    <bpmn:laneSet id="lanes_{key}">\n'
        + f'      <bpmn:lane id="lane_{key}" name="agents">{refs}\n      </bpmn:lane>\n'
        + "    </bpmn:laneSet>\n"
        + body
        + "  </bpmn:process>\n</bpmn:definitions>\n"
    )


def script_task_process(key: str, script_text: str, pre_script: str | None = None) -> str:
    """start → scriptTask `run_script` → end."""
    extensions = (
        "      <bpmn:extensionElements>\n"
        f"        <spiffworkflow:preScript>{escape(pre_script)}</spiffworkflow:preScript>\n"
        "      </bpmn:extensionElements>\n"
        if pre_script
        else ""
    )
    return process(
        key,
        ["start", "run_script", "done"],
        '    <bpmn:startEvent id="start"><bpmn:outgoing>flow_start</bpmn:outgoing></bpmn:startEvent>\n'
        '    <bpmn:scriptTask id="run_script" name="Run the script">\n'
        + extensions
        + "      <bpmn:incoming>flow_start</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_done</bpmn:outgoing>\n"
        f"      <bpmn:script>{escape(script_text)}</bpmn:script>\n"
        "    </bpmn:scriptTask>\n"
        '    <bpmn:endEvent id="done"><bpmn:incoming>flow_done</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="run_script" />\n'
        '    <bpmn:sequenceFlow id="flow_done" sourceRef="run_script" targetRef="done" />\n',
    )


def gateway_process(key: str, condition: str) -> str:
    """start → exclusive gateway → `flow_hostile` (with the condition) or the default flow."""
    return process(
        key,
        ["start", "route", "end_hostile", "end_default"],
        '    <bpmn:startEvent id="start"><bpmn:outgoing>flow_start</bpmn:outgoing></bpmn:startEvent>\n'
        '    <bpmn:exclusiveGateway id="route" default="flow_default">\n'
        "      <bpmn:incoming>flow_start</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_hostile</bpmn:outgoing>\n"
        "      <bpmn:outgoing>flow_default</bpmn:outgoing>\n"
        "    </bpmn:exclusiveGateway>\n"
        '    <bpmn:endEvent id="end_hostile"><bpmn:incoming>flow_hostile</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:endEvent id="end_default"><bpmn:incoming>flow_default</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="route" />\n'
        '    <bpmn:sequenceFlow id="flow_hostile" sourceRef="route" targetRef="end_hostile">\n'
        f'      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}</bpmn:conditionExpression>\n'
        "    </bpmn:sequenceFlow>\n"
        '    <bpmn:sequenceFlow id="flow_default" sourceRef="route" targetRef="end_default" />\n',
    )


def timer_process(key: str, duration: str) -> str:
    """start → intermediate timer `wait` (timeDuration expression) → end."""
    return process(
        key,
        ["start", "wait", "done"],
        '    <bpmn:startEvent id="start"><bpmn:outgoing>flow_start</bpmn:outgoing></bpmn:startEvent>\n'
        '    <bpmn:intermediateCatchEvent id="wait" name="Wait">\n'
        "      <bpmn:incoming>flow_start</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_done</bpmn:outgoing>\n"
        '      <bpmn:timerEventDefinition id="wait_timer">\n'
        f'        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(duration)}</bpmn:timeDuration>\n'
        "      </bpmn:timerEventDefinition>\n"
        "    </bpmn:intermediateCatchEvent>\n"
        '    <bpmn:endEvent id="done"><bpmn:incoming>flow_done</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="wait" />\n'
        '    <bpmn:sequenceFlow id="flow_done" sourceRef="wait" targetRef="done" />\n',
    )


def decision_process(key: str, decision_id: str) -> str:
    """start → businessRuleTask `decide` (the decision) → end: what makes a table part of a version."""
    return process(
        key,
        ["start", "decide", "done"],
        '    <bpmn:startEvent id="start"><bpmn:outgoing>flow_start</bpmn:outgoing></bpmn:startEvent>\n'
        '    <bpmn:businessRuleTask id="decide" name="Decide">\n'
        "      <bpmn:extensionElements>\n"
        f"        <spiffworkflow:calledDecisionId>{decision_id}</spiffworkflow:calledDecisionId>\n"
        "      </bpmn:extensionElements>\n"
        "      <bpmn:incoming>flow_start</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_done</bpmn:outgoing>\n"
        "    </bpmn:businessRuleTask>\n"
        '    <bpmn:endEvent id="done"><bpmn:incoming>flow_done</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="decide" />\n'
        '    <bpmn:sequenceFlow id="flow_done" sourceRef="decide" targetRef="done" />\n',
    )


def decision_table(key: str, input_entry: str, output_entry: str) -> str:
    """One decision, one input (`amount`), one rule `rule_hostile`."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="definitions_{key}" name="{key}"'
        ' namespace="http://complaints.example/dmn">\n'
        f'  <decision id="{key}" name="{key}">\n'
        f'    <decisionTable id="{key}_table" hitPolicy="FIRST">\n'
        '      <input id="input_amount" label="Amount">'
        '<inputExpression id="input_amount_expression" typeRef="number"><text>amount</text></inputExpression></input>\n'
        '      <output id="output_level" label="Level" name="level" typeRef="string" />\n'
        '      <rule id="rule_hostile">\n'
        f'        <inputEntry id="rule_hostile_in"><text>{escape(input_entry)}</text></inputEntry>\n'
        f'        <outputEntry id="rule_hostile_out"><text>{escape(output_entry)}</text></outputEntry>\n'
        "      </rule>\n"
        "    </decisionTable>\n"
        "  </decision>\n"
        "</definitions>\n"
    )


@dataclass
class HostileUpload:
    """A file with an escape in one element, and exactly the problems the service must report."""

    file: str
    text: str
    element_id: str
    fragment: str  # on the line each problem must name
    messages: list[str]  # in the order the service reports them (by message, on one line)
    process_key: str  # the process that must not be deployed
    companions: dict[str, str] = field(default_factory=dict)  # harmless files uploaded with it

    @property
    def files(self) -> dict[str, str]:
        return {self.file: self.text, **self.companions}

    def expected_problems(self) -> list[dict]:
        line = line_of(self.text, self.fragment)
        return [
            {"file": self.file, "element_id": self.element_id, "line": line, "message": message}
            for message in self.messages
        ]


def _attribute_message(name: str) -> str:
    return f'"{name}" is an invalid attribute name because it starts with "_".'


DUNDER_WALK_MESSAGES = [_attribute_message(n) for n in ("__bases__", "__class__", "__subclasses__")]

HOSTILE_UPLOADS = [
    pytest.param(
        HostileUpload(
            "probe_import.bpmn",
            script_task_process("probe_import", "checked = True\nimport os\nos.system('touch /tmp/pwned')"),
            "run_script",
            "import os",
            ["import is not allowed in process scripts"],
            "probe_import",
        ),
        id="script-import-os",
    ),
    pytest.param(
        HostileUpload(
            "probe_walk.bpmn",
            script_task_process(
                "probe_walk", "checked = True\nclasses = ().__class__.__bases__[0].__subclasses__()"
            ),
            "run_script",
            "classes = ()",
            DUNDER_WALK_MESSAGES,
            "probe_walk",
        ),
        id="script-dunder-walk",
    ),
    pytest.param(
        HostileUpload(
            "probe_open.bpmn",
            script_task_process("probe_open", "secrets = open('/etc/passwd').read()"),
            "run_script",
            "secrets = open",
            ['"open" is not available in process scripts'],
            "probe_open",
        ),
        id="script-open-etc-passwd",
    ),
    pytest.param(
        HostileUpload(
            "probe_prescript.bpmn",
            script_task_process("probe_prescript", "checked = True", pre_script="import subprocess"),
            "run_script",
            "import subprocess",
            ["import is not allowed in process scripts"],
            "probe_prescript",
        ),
        id="pre-script-import",
    ),
    pytest.param(
        HostileUpload(
            "probe_gateway.bpmn",
            gateway_process("probe_gateway", "len(().__class__.__bases__[0].__subclasses__()) > 0"),
            "flow_hostile",
            "conditionExpression",
            DUNDER_WALK_MESSAGES,
            "probe_gateway",
        ),
        id="gateway-condition-dunder-walk",
    ),
    pytest.param(
        HostileUpload(
            "probe_timer.bpmn",
            timer_process("probe_timer", "open('/etc/passwd').read()"),
            "wait",
            "timeDuration",
            ['"open" is not available in process scripts'],
            "probe_timer",
        ),
        id="timer-expression-open",
    ),
    pytest.param(
        HostileUpload(
            "probe_table.dmn",
            decision_table("probe_table", "> 100", '__import__("os")'),
            "rule_hostile",
            "outputEntry",
            ['"__import__" is an invalid variable name because it starts with "_"'],
            "probe_decide",
            {"probe_decide.bpmn": decision_process("probe_decide", "probe_table")},
        ),
        id="dmn-output-entry-import",
    ),
    pytest.param(
        HostileUpload(
            "probe_table.dmn",
            decision_table("probe_table", "== ().__class__", '"high"'),
            "rule_hostile",
            "inputEntry",
            [_attribute_message("__class__")],
            "probe_decide",
            {"probe_decide.bpmn": decision_process("probe_decide", "probe_table")},
        ),
        id="dmn-input-entry-dunder",
    ),
]


def _decision_tried(api, decision_id: str):
    return api.post(f"/api/v1/decisions/{decision_id}/evaluate", "zhou.hao", json={"inputs": {"amount": 500}})


@pytest.mark.parametrize("hostile", HOSTILE_UPLOADS)
def test_a_deployment_with_an_escape_is_refused_and_nothing_is_deployed(api, hostile: HostileUpload):
    before = processes(api)
    response = upload(api, hostile.files)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["type"] == "/problems/invalid-deployment"
    assert body["problems"] == hostile.expected_problems()
    assert processes(api) == before
    assert api.get(f"/api/v1/processes/{hostile.process_key}", "zhou.hao").status_code == 404
    assert _decision_tried(api, "probe_table").status_code == 404


def test_the_probe_templates_deploy_when_their_code_is_harmless(api):
    """So the refusals above are about the code, not about the diagrams around it."""
    files = {
        "probe_script.bpmn": script_task_process("probe_script", "checked = True", pre_script="ready = True"),
        "probe_gateway.bpmn": gateway_process("probe_gateway", "amount > 100"),
        "probe_timer.bpmn": timer_process("probe_timer", '"PT1H"'),
        "probe_table.dmn": decision_table("probe_table", "> 100", '"high"'),
        "probe_decide.bpmn": decision_process("probe_decide", "probe_table"),
    }
    response = upload(api, files)
    assert response.status_code == 201, response.get_json()
    deployed = {d["key"] for d in response.get_json()["deployed"]}
    assert deployed == {"probe_script", "probe_gateway", "probe_timer", "probe_decide"}
    tried = _decision_tried(api, "probe_table")
    assert tried.status_code == 200 and tried.get_json()["result"] == {"level": "high"}
    case = api.post("/api/v1/cases", "li.na", json={"process": "probe_decide", "data": {"amount": 500}})
    assert case.status_code == 201 and case.get_json()["data"]["level"] == "high"


def test_hostile_strings_in_case_data_stay_data(api, machine):
    script_text = "echo = payload\nsize = len(payload)\nkinds = sorted(guards)"
    response = upload(api, {"probe_data.bpmn": script_task_process("probe_data", script_text)})
    assert response.status_code == 201, response.get_json()
    payload = machine.payload(PAYLOAD)
    data = {
        "payload": payload,
        "guards": {"_getattr_": payload, "__builtins__": payload},
        "_getattr_": payload,
        "_getiter_": "lambda it: __import__('os').system('touch /tmp/pwned')",
        "_write_": {"__call__": payload},
        "__builtins__": {"__import__": payload, "open": payload},
    }
    response = api.post("/api/v1/cases", "li.na", json={"process": "probe_data", "data": data})
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["status"] == "completed" and case["error"] is None
    for key, value in data.items():
        assert case["data"][key] == value
    assert case["data"]["echo"] == payload
    assert case["data"]["size"] == len(payload)
    assert case["data"]["kinds"] == ["__builtins__", "_getattr_"]
    machine.assert_untouched()


def test_hostile_strings_in_a_complaint_stay_data(api, machine):
    payload = machine.payload(PAYLOAD)
    data = start_data(
        customer={"name": payload[:200]},
        problem={"description": payload, "issue_code": "__import__('os')"},
    )
    case = api.start(data)
    assert case["status"] == "running" and case["error"] is None
    assert case["data"]["customer"]["name"] == payload[:200]
    assert case["data"]["problem"]["description"] == payload
    assert case["data"]["problem"]["issue_code"] == "__import__('os')"
    machine.assert_untouched()


def test_a_deployable_format_string_is_refused_when_the_case_runs(api, machine):
    script_text = "checked = True\nleak = '{0.__globals__}'.format(now)"
    response = upload(api, {"probe_format.bpmn": script_task_process("probe_format", script_text)})
    assert response.status_code == 201, response.get_json()
    response = api.post("/api/v1/cases", "li.na", json={"process": "probe_format", "data": {}})
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["status"] == "error"
    assert case["error"]["element_id"] == "run_script"
    assert (
        case["error"]["message"] == "NotImplementedError:Using the format*() methods of `str` is not safe. "
    )
    assert "leak" not in case["data"] and "checked" not in case["data"]
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
