"""`make mail-chaos`: Mailpit answers recipients with an SMTP error, to watch delivery cope.

    python -m devtools.mail_chaos [CODE [PERCENT]]

CODE 451 (greylisting: deliveries are deferred, then go once it is off), 550 (refused: they
fail with the reason), or none to switch it off. PERCENT of recipients, 100 by default. Uses
Mailpit's chaos triggers (Mailpit 1.22+, enabled in docker-compose.yml).
"""

from __future__ import annotations

import json
import sys
import urllib.request

CHAOS_API = "http://mailpit:8025/api/v1/chaos"


def set_recipient_errors(code: int, percent: int) -> dict[str, object]:
    """Answer `percent` of RCPT commands with `code` (0 %: never); Mailpit's triggers after."""
    body = json.dumps({"Recipient": {"ErrorCode": code, "Probability": percent}}).encode()
    request = urllib.request.Request(  # Mailpit, inside the stack
        CHAOS_API, data=body, method="PUT", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        triggers: dict[str, object] = json.load(response)
    return triggers


def main(argv: list[str]) -> int:
    """Set the trigger the arguments describe and say what Mailpit now does."""
    try:
        code = int(argv[0]) if argv else 451
        percent = int(argv[1]) if len(argv) > 1 else (100 if argv else 0)
    except ValueError:
        print("usage: make mail-chaos [CODE=451|550 [PERCENT=100]]", file=sys.stderr)
        return 2
    if not (400 <= code <= 599 and 0 <= percent <= 100):
        print("CODE must be 400-599 and PERCENT 0-100", file=sys.stderr)
        return 2
    triggers = set_recipient_errors(code, percent)
    recipient = triggers.get("Recipient", {})
    if percent:
        print(f"Mailpit now answers {percent} % of recipients with {code}: {recipient}")
        print("Publish an issue and watch GET /api/issues/<id>; `make mail-chaos` switches it off.")
    else:
        print("Mailpit accepts every recipient again.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
