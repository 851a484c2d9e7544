"""`make admin-password`: ask for the owner's password, and put its hash in .env as
ADMIN_PASSWORD_HASH (`make up` then opens the admin pages with it).

    python -m devtools.admin_password    (the password from the terminal, or standard input)

The password itself is stored nowhere; the hash is single-quoted, as Compose then reads its
`$` signs as they are.
"""

from __future__ import annotations

import getpass
import re
import sys
from pathlib import Path

from werkzeug.security import generate_password_hash

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"
MIN_LENGTH = 12


def read_password() -> str:
    """The password, typed twice at a terminal, or one line of standard input."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("The owner's password: ")
    if getpass.getpass("Once more: ") != password:
        raise SystemExit("admin-password: the two passwords differ; nothing changed")
    return password


def main() -> int:
    """Hash the password and set ADMIN_PASSWORD_HASH in .env."""
    if not ENV_FILE.exists():
        raise SystemExit("admin-password: there is no .env yet: run make up first")
    password = read_password()
    if len(password) < MIN_LENGTH:
        raise SystemExit(f"admin-password: use at least {MIN_LENGTH} characters; nothing changed")
    line = f"ADMIN_PASSWORD_HASH='{generate_password_hash(password)}'"
    text = ENV_FILE.read_text()
    if re.search(r"^ADMIN_PASSWORD_HASH=.*$", text, re.M):
        text = re.sub(r"^ADMIN_PASSWORD_HASH=.*$", lambda _: line, text, flags=re.M)
    else:
        text += ("" if text.endswith("\n") else "\n") + line + "\n"
    ENV_FILE.write_text(text)
    print("ADMIN_PASSWORD_HASH is set in .env: make up, then sign in at /admin/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
