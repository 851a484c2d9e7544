"""`make bench PART=scale`: emails per second as the worker is scaled out, on the production stack.

Runs on the host (Python's standard library only) against a throw-away copy of this
checkout brought up with `make prod-up` (the runtime image behind nginx; its own project,
volumes and images, all removed at the end). For 1, 2 and 4 workers in one run, each round
publishes an issue to the same confirmed subscribers and times it from the publish request
until every delivery is sent: the median rate of the rounds, and each rate against one
worker's. Mailpit, a single local process, is the mail server: a real one, slower per
message, leaves more to gain from parallel workers.

    python3 -m bench.scale [--subscribers N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime

from devtools.stack import Stack, throwaway_stack

WORKERS = (1, 2, 4)
TIMEOUT_SECONDS = 300


def emails_per_second(stack: Stack, subscribers: int) -> float:
    """Publish an issue to every subscriber; its emails per second until all were sent."""
    started = time.perf_counter()
    issue_id = stack.publish()
    query = f"SELECT count(*) FROM deliveries WHERE issue_id = {issue_id} AND status = 'sent'"  # noqa: S608
    while int(stack.sql(query)) < subscribers:
        if time.perf_counter() - started > TIMEOUT_SECONDS:
            raise SystemExit(f"bench: issue {issue_id} not delivered in {TIMEOUT_SECONDS} s")
        time.sleep(0.2)
    return subscribers / (time.perf_counter() - started)


def main() -> None:
    """Measure each worker count in one throw-away production stack; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=2000, help="default 2000")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per count (default 3)")
    options = parser.parse_args()
    rates: dict[int, float] = {}
    with throwaway_stack(prod=True) as stack:
        stack.confirmed_subscribers(options.subscribers)
        for workers in WORKERS:
            stack.scale("worker", workers)
            print(f"{workers} worker(s): {options.rounds} issues to {options.subscribers}...")
            rounds = [emails_per_second(stack, options.subscribers) for _ in range(options.rounds)]
            rates[workers] = statistics.median(rounds)
            # Mailpit keeps a few thousand messages; the next count starts with it empty.
            stack.mailpit_api("/api/v1/messages", method="DELETE")
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    print(f"\nScale, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine}, the production stack:")
    for workers, rate in rates.items():
        ratio = rate / rates[WORKERS[0]]
        print(f"  {workers} worker(s), 2 threads each: {rate:6.0f} emails/s  {ratio:4.2f}x one's")


if __name__ == "__main__":
    main()
