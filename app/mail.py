"""Outgoing email: every message leaves through a Mailer, over SMTP; `send_email` for one.

What a server says about one message decides its fate, as between mail servers: a 4xx
reply, or a connection lost in the middle of the message's transaction, defers it (try again
later: `retry_delay`, for up to RETRY_FOR); a 5xx refuses it for good. Trouble before any
message (connecting, the greeting, TLS, the login) is the server's or the configuration's,
never a message's: MailServerUnavailableError.
"""

from __future__ import annotations

import contextlib
import enum
import re
import smtplib
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from types import TracebackType

from flask import current_app

# How mail servers retry a deferred message (Postfix waits 5 to 67 minutes between tries,
# for 5 days): the first retry a minute later, each wait twice the one before, at most an
# hour; a message still deferred RETRY_FOR after it was due is given up.
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
RETRY_FOR = timedelta(days=5)
# SMTP steps one send may wait for (connect, greeting, EHLO, STARTTLS, EHLO, AUTH, MAIL,
# RCPT, DATA, the message, its reply), each for at most SMTP_TIMEOUT.
SMTP_STEPS = 12


def build_message(
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """A multipart message from the configured sender: a text part, and an HTML one if given.

    A `message_id` that is stable for one logical message lets mail clients recognise a copy.
    """
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id or make_msgid(domain=sender_domain())
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def sender_domain() -> str:
    """The domain of MAIL_FROM: Message-IDs are made under it, as spam filters expect."""
    return parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2]


def retry_delay(attempts: int) -> timedelta:
    """How long a message deferred at its `attempts`-th try waits before the next."""
    doublings = max(0, min(attempts - 1, 16))
    return min(FIRST_RETRY * (1 << doublings), LONGEST_RETRY)


def give_up_if_stale(
    result: Result, reason: str | None, due_since: datetime | None
) -> tuple[Result, str | None]:
    """A message still deferred RETRY_FOR after it was first due is given up: refused, with
    the reason."""
    if result is Result.DEFERRED and due_since and datetime.now(UTC) - due_since > RETRY_FOR:
        return Result.REFUSED, f"given up after {RETRY_FOR.days} days: {reason}"
    return result, reason


def send_lease() -> timedelta:
    """How long a message claimed for sending is left to its sender: longer than one send
    can take, so that nobody else claims it while the server may still be taking it."""
    timeout: int = current_app.config["SMTP_TIMEOUT"]
    return timedelta(seconds=SMTP_STEPS * timeout)


class MailError(Exception):
    """The SMTP server did not accept a message; the text is the server's reason."""


class MessageDeferredError(MailError):
    """Not now, for this message: a 4xx reply, or the connection lost during its transaction."""


class MessageRefusedError(MailError):
    """Never, for this message: a 5xx reply about its sender, recipient or content."""


class MailServerUnavailableError(MailError):
    """The server could not be reached or would not start a session: no message's fault."""


# Anything that can go wrong between us and the server.
_SMTP_FAILURES = (smtplib.SMTPException, OSError)


class Mailer:
    """One SMTP connection for many messages, opened on first use, reopened after a failure."""

    def __init__(self) -> None:
        self._smtp: smtplib.SMTP | None = None

    def connect(self) -> smtplib.SMTP:
        """The open session, opened now if need be; raises MailServerUnavailableError."""
        if self._smtp is None:
            try:
                self._smtp = _connect()
            except _SMTP_FAILURES as exc:
                # No STARTTLS or AUTH on offer, a refused login, a bad certificate, a 421
                # greeting: the server's state or our configuration, no subscriber's.
                raise MailServerUnavailableError(_describe(exc)) from exc
        return self._smtp

    def send(self, message: EmailMessage) -> None:
        """Return once the SMTP server has accepted `message`.

        Raises MessageDeferredError, MessageRefusedError or MailServerUnavailableError.
        """
        smtp = self.connect()
        try:
            smtp.send_message(message)
        except _SMTP_FAILURES as exc:
            if not _replied(exc) or smtp.sock is None:
                # Broken, timed out or closed by the server (421): the next send reconnects.
                self.close()
            if _permanent(exc):
                raise MessageRefusedError(_describe(exc)) from exc
            raise MessageDeferredError(_describe(exc)) from exc

    def close(self) -> None:
        """Say goodbye to the server, if connected; a dead connection is just dropped."""
        if self._smtp is not None:
            with contextlib.suppress(*_SMTP_FAILURES):
                self._smtp.quit()
            self._smtp = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Result(enum.Enum):
    """What one SMTP transaction came to."""

    SENT = "sent"
    DEFERRED = "deferred"
    REFUSED = "refused"


def attempt(mailer: Mailer, message: EmailMessage) -> tuple[Result, str | None]:
    """One try of `message`: the result, and the server's reason unless it was sent.

    Raises MailServerUnavailableError, the message untried.
    """
    try:
        mailer.send(message)
    except MessageDeferredError as exc:
        return Result.DEFERRED, str(exc)
    except MessageRefusedError as exc:
        return Result.REFUSED, str(exc)
    return Result.SENT, None


def _replied(exc: Exception) -> bool:
    """Whether the server answered with a reply code, rather than the connection failing."""
    return isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPResponseException)


def _permanent(exc: Exception) -> bool:
    """A 5xx reply, or a message the server cannot take at all (SMTPUTF8 not offered)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return min(code for code, _ in exc.recipients.values()) >= 500
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return isinstance(exc, smtplib.SMTPNotSupportedError)


# Servers often repeat the address in their reply; logs and reasons carry none.
_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")


def _describe(exc: Exception) -> str:
    """What went wrong, in the server's words where it gave some: `550 5.1.1 no such user`,
    with any address in them replaced: this ends up in logs."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(_reply(code, reply) for code, reply in exc.recipients.values())
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = _reply(exc.smtp_code, exc.smtp_error)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return _ADDRESS.sub("<address>", text)


def _reply(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


def tls_context() -> ssl.SSLContext:
    """TLS that verifies the server's certificate and name, as a mail client must."""
    return ssl.create_default_context()


def _connect() -> smtplib.SMTP:
    """A session ready for messages: connected, greeted, secured and logged in as configured."""
    config = current_app.config
    address = (config["SMTP_HOST"], config["SMTP_PORT"])
    smtp: smtplib.SMTP
    if config["SMTP_IMPLICIT_TLS"]:
        smtp = smtplib.SMTP_SSL(*address, timeout=config["SMTP_TIMEOUT"], context=tls_context())
    else:
        smtp = smtplib.SMTP(*address, timeout=config["SMTP_TIMEOUT"])
    try:
        # Greeted before any message: a refusal here is about the session, not a message.
        smtp.ehlo_or_helo_if_needed()
        if config["SMTP_STARTTLS"]:
            smtp.starttls(context=tls_context())
            smtp.ehlo_or_helo_if_needed()
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
    except BaseException:
        smtp.close()
        raise
    return smtp


def send_email(
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Send one message and return its Message-ID once the SMTP server has accepted it."""
    message = build_message(to, subject, text, html, headers)
    with Mailer() as mailer:
        mailer.send(message)
    return str(message["Message-ID"])
