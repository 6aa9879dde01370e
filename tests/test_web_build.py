"""scripts/_web.sh: the workbench is built when its build is missing or older than its sources.

Run on a copy of the script in a temporary project whose `npm` is a stand-in that records what
it was asked and makes what `npm ci` and `npm run build` would (the real build is exercised by
scripts/test and the browser tests).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT

FAKE_NPM = """#!/usr/bin/env bash
echo "$*" >> "$NPM_LOG"
case "$1" in
  ci) mkdir -p node_modules && echo '{}' > node_modules/.package-lock.json ;;
  run) [ "$2" = build ] && mkdir -p dist/assets && echo '<div id=root></div>' > dist/index.html ;;
esac
exit 0
"""


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "_web.sh", tmp_path / "scripts" / "_web.sh")
    web = tmp_path / "web"
    (web / "src").mkdir(parents=True)
    (web / "package.json").write_text(
        json.dumps({"scripts": {"build": "vite build", "lint": "eslint ."}}), encoding="utf-8"
    )
    (web / "package-lock.json").write_text("{}", encoding="utf-8")
    (web / "src" / "main.tsx").write_text("export {};", encoding="utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text(FAKE_NPM, encoding="utf-8")
    (bin_dir / "npm").chmod(0o755)
    return tmp_path


def run(project: Path, call: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    log = project / "npm.log"
    log.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{project / 'bin'}:{os.environ['PATH']}", "NPM_LOG": str(log)}
    done = subprocess.run(
        ["bash", "-c", f"source scripts/_web.sh; {call}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return done, calls


def age(path: Path, seconds: int) -> None:
    """Set a file's modification time `seconds` from now (negative: in the past)."""
    moment = path.stat().st_mtime + seconds
    os.utime(path, (moment, moment))


def test_builds_when_missing_then_only_when_sources_are_newer(project):
    done, calls = run(project, "ensure_web_build")
    assert done.returncode == 0, done.stderr
    assert calls == ["ci --no-audit --no-fund --loglevel=error", "run build"]
    assert (project / "web" / "dist" / "index.html").exists()

    done, calls = run(project, "ensure_web_build")
    assert done.returncode == 0 and calls == []  # up to date: nothing to do

    age(project / "web" / "src" / "main.tsx", 60)  # a source edited after the build
    done, calls = run(project, "ensure_web_build")
    assert done.returncode == 0 and calls == ["run build"]  # the lock file did not change: no reinstall

    age(project / "web" / "package-lock.json", 120)  # new pinned dependencies
    done, calls = run(project, "ensure_web_build")
    assert done.returncode == 0 and calls == ["ci --no-audit --no-fund --loglevel=error", "run build"]


def test_files_inside_node_modules_and_dist_do_not_count_as_sources(project):
    run(project, "ensure_web_build")
    stray = project / "web" / "node_modules" / "some-package.js"
    stray.write_text("", encoding="utf-8")
    age(stray, 300)
    built = project / "web" / "dist" / "assets" / "app.js"
    built.write_text("", encoding="utf-8")
    age(built, 300)
    done, calls = run(project, "ensure_web_build")
    assert done.returncode == 0 and calls == []


def test_npm_scripts_run_only_when_the_package_defines_them(project):
    done, calls = run(project, "web_run_if_defined lint && web_run_if_defined typecheck")
    assert done.returncode == 0, done.stderr
    assert calls == ["run --silent lint"]


def test_without_web_sources_the_steps_are_skipped_with_a_message(project):
    shutil.rmtree(project / "web")
    done, calls = run(project, "ensure_web_build && web_run_if_defined lint && ! web_present")
    assert done.returncode == 0, done.stderr
    assert "skipping" in done.stderr and calls == []
