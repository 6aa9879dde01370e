"""Is the workbench quick enough with a full database? The inbox and the case page in headless Chromium.

A database with 100,000 open cases is built as `bench.scaling` builds it (li.na, the measured agent,
has the same 40 cases at any size); `python -m api serve` runs on it in a subprocess and Debian's
Chromium, driven by Playwright over loopback, signs in as li.na and measures, from the start of
each navigation:
- **inbox, cold**: a fresh browser context (empty HTTP cache, only the session cookie) opening `/`
  until the inbox's rows are on the screen (its data loaded, the page interactive);
- **inbox, warm**: the same page opened again in a context that has loaded it before (assets from
  the browser's cache, as for a person who uses the workbench every day);
- **case page, warm**: a case of li.na's opened in that context until its BPMN diagram is drawn
  with the current task marked.
Targets (issue 12): inbox cold ≤ 1.5 s, warm ≤ 300 ms; case page with diagram ≤ 1 s warm, all p50.

    python -m bench.workbench [--size 100000] [--rounds 15] [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from engine.identity import hash_password

from . import common, scaling, server
from .common import emit, headline, machine, sqlite_url, summary, temporary_postgres, workdir

CHROMIUM = "/usr/bin/chromium"
AGENT = "li.na"
PASSWORD = "bench-password"
DIST = common.ROOT / "web" / "dist" / "index.html"


def users_with_a_password() -> str:
    """The benchmark's users file, with a password for the measured agent (the workbench signs in)."""
    hashed = hash_password(PASSWORD, PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    return common.users_yaml().replace(
        f"  - username: {AGENT}\n", f"  - username: {AGENT}\n    password_hash: '{hashed}'\n", 1
    )


# Installed in every page: the browser's own clock (ms since the navigation started) at the first
# moment each selector matches, so Playwright's polling adds nothing to the figures.
WATCH = """
window.__seen = {};
const marks = {rows: '[data-testid=inbox] li', complete: '[data-testid=inbox][data-complete=true]',
               diagram: '.djs-element.active'};
new MutationObserver(() => {
  for (const [name, selector] of Object.entries(marks))
    if (!(name in window.__seen) && document.querySelector(selector)) window.__seen[name] = performance.now();
}).observe(document, {childList: true, subtree: true, attributes: true});
"""


def seen(page, name: str) -> float:
    """When `name` first showed in this page (waits for it)."""
    page.wait_for_function(f"window.__seen && '{name}' in window.__seen", timeout=30_000)
    return page.evaluate(f"window.__seen['{name}']")


def measure(base: str, case_id: str, rounds: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    samples: dict[str, list[float]] = {
        name: []
        for name in (
            "inbox_cold_ms",
            "inbox_cold_complete_ms",
            "inbox_warm_ms",
            "inbox_warm_complete_ms",
            "case_warm_ms",
        )
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        signer = browser.new_context()
        page = signer.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=username]", AGENT)
        page.fill("input[name=password]", PASSWORD)
        page.locator("input[name=password]").press("Enter")
        page.wait_for_selector("[data-testid=inbox] li")
        cookies = signer.cookies()
        signer.close()
        warm = browser.new_context()
        warm.add_init_script(WATCH)
        warm.add_cookies(cookies)
        warm_page = warm.new_page()
        warm_page.goto(base + "/")
        seen(warm_page, "complete")
        for _ in range(rounds):
            cold = browser.new_context()  # an empty cache
            cold.add_init_script(WATCH)
            cold.add_cookies(cookies)
            cold_page = cold.new_page()
            cold_page.goto(base + "/", wait_until="commit")
            samples["inbox_cold_ms"].append(seen(cold_page, "rows"))
            samples["inbox_cold_complete_ms"].append(seen(cold_page, "complete"))
            cold.close()

            warm_page.goto(base + "/", wait_until="commit")
            samples["inbox_warm_ms"].append(seen(warm_page, "rows"))
            samples["inbox_warm_complete_ms"].append(seen(warm_page, "complete"))

            warm_page.goto(f"{base}/cases/{case_id}", wait_until="commit")
            samples["case_warm_ms"].append(seen(warm_page, "diagram"))
        warm_page.goto(base + "/")
        seen(warm_page, "complete")
        rows = warm_page.locator("[data-testid=inbox] li").count()
        browser.close()
    return {"inbox_rows": rows, **{name: summary(values) for name, values in samples.items()}}


def agent_case(url: str) -> str:
    """One of li.na's open cases (the case page measured)."""
    from sqlalchemy import select

    from engine.store.models import HumanTask

    engine = common.service(url)
    with engine.db.unit_of_work(write=False) as uow:
        case_id = uow.session.execute(
            select(HumanTask.case_id).where(HumanTask.assignee == AGENT, HumanTask.status == "open").limit(1)
        ).scalar_one()
    engine.close()
    return case_id


def run(url: str, folder: Path, size: int, rounds: int) -> dict[str, Any]:
    built = scaling.build(url, size)
    case_id = agent_case(url)
    server.users_yaml = users_with_a_password  # ServiceProcess writes this users file
    with server.ServiceProcess(url, folder, name="serve-workbench") as base:
        figures = measure(base, case_id, rounds)
    targets = {
        "inbox_cold_p50_le_1500ms": figures["inbox_cold_ms"]["p50"] <= 1500,
        "inbox_warm_p50_le_300ms": figures["inbox_warm_ms"]["p50"] <= 300,
        "case_warm_p50_le_1000ms": figures["case_warm_ms"]["p50"] <= 1000,
    }
    return {**built, **figures, "targets_met": targets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    if not DIST.exists():
        raise SystemExit(f"{DIST} is missing: build the workbench first (cd web && npm ci && npm run build)")
    folder = workdir("workbench")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(temporary_postgres("bench_wb")) if args.postgres else sqlite_url(folder)
        result = run(url, folder, args.size, args.rounds)
    backend = "postgresql" if args.postgres else "sqlite"
    headline(
        {
            f"{backend}: open cases": result["open_cases"],
            f"{backend}: inbox cold p50 / p95": f"{result['inbox_cold_ms']['p50']} / {result['inbox_cold_ms']['p95']} ms",
            f"{backend}: inbox warm p50 / p95": f"{result['inbox_warm_ms']['p50']} / {result['inbox_warm_ms']['p95']} ms",
            f"{backend}: inbox every row complete, cold / warm p50": f"{result['inbox_cold_complete_ms']['p50']} / {result['inbox_warm_complete_ms']['p50']} ms",
            f"{backend}: inbox rows": result["inbox_rows"],
            f"{backend}: case page warm p50 / p95": f"{result['case_warm_ms']['p50']} / {result['case_warm_ms']['p95']} ms",
            f"{backend}: targets met": str(result["targets_met"]),
        }
    )
    emit({"benchmark": "workbench", "backend": backend, "machine": machine(args.postgres), **result})


if __name__ == "__main__":
    main()
