"""What the sandbox tests share: the marker a payload tries to create, and the state it must leave.

`MARKER` in a payload is replaced by the marker file's path, as a Python string literal.
"""

from __future__ import annotations

import os

from engine.sandbox import GUARDS, SAFE_BUILTINS

NESTED_LOOPS = "n = 0\nfor a in range(999):\n    for b in range(999):\n        for c in range(999):\n            n = n + 1"

PAYLOAD = "__import__('os').system('touch ' + MARKER)"


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
