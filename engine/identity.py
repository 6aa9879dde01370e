"""Who is acting: users, their groups, and the tokens they authenticate with.

Users come from a YAML file (`COMPLAINTS_USERS_FILE`), each with a bearer token given in clear
(`token`) or as its sha256 (`token_sha256`), a password as an argon2id hash (`password_hash`, for
signing in to the workbench), or both. Only sha256 digests of tokens are kept in memory; a
presented token is hashed and looked up by its digest, so lookup time reveals nothing about the
token. A password check costs one argon2 verification whether or not the user exists.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

GROUPS = (
    "agents",
    "technicians",
    "after_sales_leads",
    "managers",
    "general_managers",
    "supervisors",
    "process_owners",
    "integrations",
    "admins",
)


@dataclass(frozen=True)
class Actor:
    """A person or system acting on the service."""

    username: str
    groups: frozenset[str] = field(default_factory=frozenset)
    display_name: str | None = None

    def in_any(self, *groups: str) -> bool:
        return not self.groups.isdisjoint(groups)


# Acts the service does itself (timers, deployments from the command line).
SYSTEM = Actor("system", frozenset({"admins"}), "System")


class UsersFileError(ValueError):
    pass


# Usernames are stored in columns of 100 characters (assignee, approver, applicant, actor …).
USERNAME_MAX_LENGTH = 100


def username_problem(username: object) -> str | None:
    """Why a username cannot be an identity here, or None when it can.

    Every record compares usernames whole, so a username must fit the store untruncated and be
    written one way only: no spaces, control or invisible characters, and in Unicode NFC form.
    """
    if not isinstance(username, str) or not username:
        return "must be a non-empty text"
    if len(username) > USERNAME_MAX_LENGTH:
        return f"is longer than {USERNAME_MAX_LENGTH} characters"
    if any(unicodedata.category(c)[0] in "CZ" for c in username):
        return "contains a space, control or invisible character"
    if unicodedata.normalize("NFC", username) != username:
        return "is not in Unicode NFC form"
    return None


def _identity_key(username: str) -> str:
    """Usernames that differ only in case or Unicode compatibility form name the same person."""
    upper = unicodedata.normalize("NFKC", username).upper()  # 'ı' and 'i' both upper-case to 'I'
    return unicodedata.normalize("NFKC", upper).casefold()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """An argon2id PHC string for a password (what `python -m api hash-password` prints)."""
    return (hasher or PasswordHasher()).hash(password)


def _is_argon2id(value: str) -> bool:
    return value.startswith("$argon2id$")


class Directory:
    """The known users, looked up by bearer token or checked by username and password."""

    def __init__(
        self, users: Sequence[tuple[Actor, str | None]], password_hashes: dict[str, str] | None = None
    ):
        self._by_digest: dict[str, Actor] = {}
        self.users: dict[str, Actor] = {}
        self._password_hashes = dict(password_hashes or {})
        by_key: dict[str, str] = {}
        for actor, digest in users:
            problem = username_problem(actor.username)
            if problem is not None:
                raise UsersFileError(f"username {actor.username!r} {problem}")
            if actor.username in self.users:
                raise UsersFileError(f"user {actor.username} is listed twice")
            other = by_key.setdefault(_identity_key(actor.username), actor.username)
            if other != actor.username:
                raise UsersFileError(
                    f"usernames {other!r} and {actor.username!r} differ only in case or Unicode form"
                )
            self.users[actor.username] = actor
            if digest is None:
                continue
            if digest in self._by_digest:
                raise UsersFileError(
                    f"users {actor.username} and {self._by_digest[digest].username} share a token"
                )
            self._by_digest[digest] = actor
        # Checked when the user is unknown or has no password, so that costs the same as a real
        # check: made with the parameters of the file's own hashes.
        self._dummy_hash = self._make_dummy_hash()

    def _make_dummy_hash(self) -> str:
        sample = next(iter(self._password_hashes.values()), None)
        hasher = PasswordHasher()
        if sample is not None:
            hasher = PasswordHasher.from_parameters(extract_parameters(sample))
        return hasher.hash(secrets.token_urlsafe(16))

    def has_password(self, username: str) -> bool:
        return username in self._password_hashes

    def check_password(self, username: str, password: str) -> Actor | None:
        """The user when the password is theirs; None otherwise, in the same time either way."""
        stored = self._password_hashes.get(username)
        try:
            PasswordHasher().verify(stored or self._dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return self.users.get(username) if stored is not None else None

    @classmethod
    def from_yaml(cls, text: str) -> Directory:
        content = yaml.safe_load(text) or {}
        entries = content.get("users") if isinstance(content, dict) else None
        if not isinstance(entries, list):
            raise UsersFileError("the users file needs a top-level list `users:`")
        users = []
        passwords: dict[str, str] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not entry.get("username"):
                raise UsersFileError(f"users[{index}] needs a username")
            groups = entry.get("groups") or []
            if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
                raise UsersFileError(f"users[{index}].groups must be a list of group names")
            if entry.get("token"):
                token = str(entry["token"])
                if len(token) < 16:
                    raise UsersFileError(f"users[{index}].token is shorter than 16 characters")
                digest = _digest(token)
            elif entry.get("token_sha256"):
                digest = str(entry["token_sha256"]).lower()
                if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                    raise UsersFileError(f"users[{index}].token_sha256 is not a sha256 hex digest")
            else:
                digest = None
            password_hash = entry.get("password_hash")
            if password_hash is not None:
                if not isinstance(password_hash, str) or not _is_argon2id(password_hash):
                    raise UsersFileError(
                        f"users[{index}].password_hash is not an argon2id hash "
                        "(make one with `python -m api hash-password`)"
                    )
                try:
                    extract_parameters(password_hash)
                except InvalidHashError:
                    raise UsersFileError(
                        f"users[{index}].password_hash is not a valid argon2id hash"
                    ) from None
                passwords[str(entry["username"])] = password_hash
            if not isinstance(entry["username"], str):
                raise UsersFileError(f"users[{index}].username must be text")
            if digest is None and password_hash is None:
                raise UsersFileError(f"users[{index}] needs a token, a token_sha256 or a password_hash")
            actor = Actor(entry["username"], frozenset(groups), entry.get("display_name"))
            users.append((actor, digest))
        return cls(users, passwords)

    @classmethod
    def from_file(cls, path: str | Path) -> Directory:
        return cls.from_yaml(Path(path).read_text(encoding="utf-8"))

    def authenticate(self, token: str | None) -> Actor | None:
        if not token:
            return None
        # Looked up by digest: the time taken says nothing about how close a guess was.
        return self._by_digest.get(_digest(token))


DEMO_USERS = [
    ("li.na", "李娜", ["agents"]),
    ("wang.qiang", "王强", ["technicians"]),
    ("zhao.min", "赵敏", ["after_sales_leads"]),
    ("chen.jie", "陈杰", ["managers"]),
    ("liu.yang", "刘洋", ["general_managers"]),
    ("sun.li", "孙丽", ["supervisors"]),
    ("zhou.hao", "周浩", ["process_owners"]),
    ("callcentre", "Call centre", ["integrations"]),
    ("admin", "Administrator", ["admins"]),
]


def demo_directory() -> tuple[Directory, dict[str, str], dict[str, str]]:
    """One user per group with fresh random tokens and passwords.

    Returns the directory, username → token and username → password (printed at start).
    """
    tokens = {username: f"demo-{username}-{secrets.token_urlsafe(12)}" for username, _, _ in DEMO_USERS}
    passwords = {username: secrets.token_urlsafe(9) for username, _, _ in DEMO_USERS}
    users = [
        (Actor(username, frozenset(groups), display), _digest(tokens[username]))
        for username, display, groups in DEMO_USERS
    ]
    # Cheaper than the defaults (demo only): nine hashes at every start.
    hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
    hashes = {username: hasher.hash(passwords[username]) for username in passwords}
    return Directory(users, hashes), tokens, passwords
