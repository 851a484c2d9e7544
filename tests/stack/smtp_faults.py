"""An SMTP proxy in front of Mailpit that fails as real mail servers and networks do, for the
fault suite (test_faults.py runs it in a container on the stack's network).

    python smtp_faults.py DROPS SLOW DELAY

The first DROPS transactions lose their connection in the middle of the message (Mailpit
never sees its end, so it keeps nothing); the SLOW transactions after them get the reply to
RCPT TO DELAY seconds late (longer than the client waits). Every other transaction passes
through untouched. Each transaction is logged. Python's standard library only.
"""

from __future__ import annotations

import asyncio
import sys

UPSTREAM = ("mailpit", 1025)
PORT = 1025


class Faults:
    """Which fault each new transaction (each MAIL FROM) meets."""

    def __init__(self, drops: int, slow: int, delay: float) -> None:
        self.drops, self.slow, self.delay = drops, slow, delay
        self.transactions = 0

    def next(self) -> str:
        """'drop', 'slow' or 'pass' for the transaction that starts now."""
        self.transactions += 1
        if self.transactions <= self.drops:
            return "drop"
        return "slow" if self.transactions <= self.drops + self.slow else "pass"


async def reply(upstream: asyncio.StreamReader) -> bytes:
    """One whole reply from the server (the lines of a multi-line one included)."""
    lines = b""
    while True:
        line = await upstream.readline()
        lines += line
        if len(line) < 4 or line[3:4] != b"-":
            return lines


async def session(
    faults: Faults, client: asyncio.StreamReader, to_client: asyncio.StreamWriter
) -> None:
    """Relay one client's session to Mailpit, command by command, with the faults due."""
    server, to_server = await asyncio.open_connection(*UPSTREAM)
    fault = "pass"
    try:
        to_client.write(await reply(server))
        while command := await client.readline():
            verb = command[:4].upper()
            if verb == b"MAIL":
                fault = faults.next()
                print(f"transaction {faults.transactions}: {fault}", flush=True)
            to_server.write(command)
            answer = await reply(server)
            if verb == b"RCPT" and fault == "slow":
                await asyncio.sleep(faults.delay)
            to_client.write(answer)
            await to_client.drain()
            if verb == b"DATA" and answer.startswith(b"354"):
                await relay_message(client, to_server, drop=fault == "drop")
                if fault == "drop":
                    return
                to_client.write(await reply(server))
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        for writer in (to_server, to_client):
            writer.close()


async def relay_message(
    client: asyncio.StreamReader, to_server: asyncio.StreamWriter, *, drop: bool
) -> None:
    """Pass the message on to its final dot; with `drop`, only its first line."""
    while line := await client.readline():
        if drop:
            return
        to_server.write(line)
        if line == b".\r\n":
            return


async def main(drops: int, slow: int, delay: float) -> None:
    faults = Faults(drops, slow, delay)
    server = await asyncio.start_server(
        lambda reader, writer: session(faults, reader, writer),
        "0.0.0.0",  # noqa: S104  # in a container of its own, for the stack's worker
        PORT,
    )
    print(f"smtp-faults: {drops} dropped, {slow} slow by {delay} s, then through", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
