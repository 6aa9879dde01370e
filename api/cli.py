"""`python -m api serve | worker | deploy | hash-password`: the composition root.

Reads configuration from the environment, builds the engine, and runs the HTTP service (waitress,
a production WSGI server; Flask's dev server only with --debug), the timer worker, or a deployment.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from engine.config import EngineConfig
from engine.core import Engine
from engine.errors import DeploymentInvalid
from engine.identity import Actor, Directory, UsersFileError, demo_directory, hash_password

from . import create_app

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEFINITION_DIRS = (PROJECT_ROOT / "processes", PROJECT_ROOT / "forms")

log = logging.getLogger("api")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m api", description="Complaint-handling workflow service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service (and the timer worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load demo users (one per group) and print their tokens and passwords",
    )
    serve.add_argument("--no-worker", action="store_true", help="do not fire timers in this process")
    serve.add_argument("--threads", type=int, default=8, help="request threads per process (default 8)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes (default 1: waitress in this process; more: gunicorn, each with its own pool)",
    )
    serve.add_argument("--debug", action="store_true", help="Flask's development server, with reloading")
    serve.add_argument(
        "--definitions",
        nargs="*",
        default=[str(d) for d in DEFAULT_DEFINITION_DIRS],
        help="folders of BPMN/DMN/form files to deploy at start (default: processes/ and forms/)",
    )

    commands.add_parser("worker", help="fire due timers (run beside one or more API processes)")

    deploy = commands.add_parser("deploy", help="validate and deploy the BPMN/DMN/form files of folders")
    deploy.add_argument("dirs", nargs="+", metavar="DIR")

    commands.add_parser(
        "hash-password",
        help="read a password from standard input, print its argon2id hash for the users file",
    )
    return parser


def _directory(demo: bool) -> Directory:
    users_file = os.environ.get("COMPLAINTS_USERS_FILE")
    if users_file:
        return Directory.from_file(users_file)
    if not demo:
        raise SystemExit(
            "No users: set COMPLAINTS_USERS_FILE to a users YAML file, or pass --demo for demo users."
        )
    directory, tokens, passwords = demo_directory()
    print("Demo users (one per group): sign in at / with the password; the token is for the API.")
    print(f"  {'username':<12} {'groups':<18} {'password':<14} bearer token")
    for username, actor in directory.users.items():
        groups = ",".join(sorted(actor.groups))
        print(f"  {username:<12} {groups:<18} {passwords[username]:<14} {tokens[username]}")
    sys.stdout.flush()
    return directory


def _print_problems(error: DeploymentInvalid) -> None:
    print(f"Deployment refused: {error.detail}", file=sys.stderr)
    for p in error.problems:
        where = ":".join(str(x) for x in (p["file"], p["line"]) if x)
        element = f" [{p['element_id']}]" if p["element_id"] else ""
        print(f"  {where}{element}: {p['message']}", file=sys.stderr)


def serve(args) -> int:
    directory = _directory(args.demo)
    bootstrap = Engine(EngineConfig.from_env(), directory)
    bootstrap.migrate()
    try:
        result = bootstrap.deploy_folders(*args.definitions)
    except DeploymentInvalid as error:
        _print_problems(error)
        return 1
    finally:
        bootstrap.close()
    for item in result["deployed"]:
        state = "new version" if item["created"] else "unchanged"
        log.info("process %s version %s (%s)", item["key"], item["version"], state)
    _log_kept(result.get("kept", []), args.definitions)
    print(f"Serving on http://{args.host}:{args.port}  (docs: http://{args.host}:{args.port}/docs)")
    sys.stdout.flush()
    if args.workers > 1:
        return _serve_with_gunicorn(args, directory)
    engine = Engine(EngineConfig.from_env(), directory)
    app = create_app(engine, directory, web_config())
    timer_worker = None if args.no_worker else engine.start_worker_thread()
    try:
        if args.debug:
            app.run(host=args.host, port=args.port, debug=True, use_reloader=False)
        else:
            from waitress import serve as waitress_serve

            waitress_serve(app, host=args.host, port=args.port, threads=args.threads, ident="complaints")
    finally:
        if timer_worker is not None:
            timer_worker.stop()
        engine.close()
    return 0


def _log_kept(kept: list[dict], folders: list[str]) -> None:
    """Say which processes kept an owner's version over the shipped files at start-up."""
    command = "python -m api deploy " + " ".join(folders)
    for item in kept:
        if item["shipped_files_changed"]:
            log.warning(
                "process %s: the shipped files changed, but version %s was deployed by %s and stays "
                "the newest; to deploy the shipped files deliberately, run: %s",
                item["key"],
                item["version"],
                item["deployed_by"],
                command,
            )
        else:
            log.info(
                "process %s version %s (deployed by %s; kept)",
                item["key"],
                item["version"],
                item["deployed_by"],
            )


def _serve_with_gunicorn(args, directory: Directory) -> int:
    """N processes behind one port; each builds its engine (and pool) after the fork."""
    from gunicorn.app.base import BaseApplication

    class ServiceProcesses(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", args.threads)
            self.cfg.set("timeout", 60)
            self.cfg.set("graceful_timeout", 20)
            self.cfg.set("accesslog", None)

        def load(self):
            engine = Engine(EngineConfig.from_env(), directory)
            if not args.no_worker:
                engine.start_worker_thread()
            return create_app(engine, directory, web_config())

    ServiceProcesses().run()
    return 0


def web_config(env: dict[str, str] | None = None) -> dict:
    """The app settings read from the environment: Secure cookies behind TLS."""
    env = os.environ if env is None else env
    secure = (env.get("COMPLAINTS_SECURE_COOKIES") or "").strip().lower() in ("1", "true", "yes")
    return {"SECURE_COOKIES": secure}


def hash_password_command(_args) -> int:
    """Print the argon2id hash of the password on standard input (one line; the newline is not
    part of it), for the `password_hash` of a user in the users file."""
    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("The password must be at least 8 characters.", file=sys.stderr)
        return 2
    if len(password) > 1024:
        print("The password must be at most 1024 characters.", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def worker(_args) -> int:
    engine = Engine(EngineConfig.from_env())
    engine.migrate()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("Timer worker running; Ctrl-C to stop.")
    sys.stdout.flush()
    engine.run_worker(stop)
    engine.close()
    return 0


def deploy(args) -> int:
    engine = Engine(EngineConfig.from_env())
    engine.migrate()
    # Versions record who deployed them: here, the person at the command line.
    who = os.environ.get("COMPLAINTS_DEPLOYED_BY") or f"{getpass.getuser()} (command line)"
    try:
        result = engine.deploy_folders(*args.dirs, actor=Actor(who, frozenset({"process_owners"})))
    except DeploymentInvalid as error:
        _print_problems(error)
        return 1
    except (FileNotFoundError, NotADirectoryError, ValueError) as error:
        print(f"Cannot deploy: {error}", file=sys.stderr)
        return 2
    if not result["deployed"]:
        print("No process uses these files; nothing deployed.")
    for item in result["deployed"]:
        state = "deployed as a new version" if item["created"] else "unchanged"
        print(f"{item['key']} version {item['version']}: {state}")
    engine.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SpiffWorkflow logs every task state change at INFO: several lines per step, a real cost
    # under load and noise in the log. Its warnings and errors still come through.
    logging.getLogger("spiff").setLevel(logging.WARNING)
    args = _parser().parse_args(argv)
    try:
        commands = {
            "serve": serve,
            "worker": worker,
            "deploy": deploy,
            "hash-password": hash_password_command,
        }
        return commands[args.command](args)
    except UsersFileError as error:
        print(f"Users file: {error}", file=sys.stderr)
        return 2
