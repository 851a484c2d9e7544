"""Outgoing email: every message leaves through a Mailer, over SMTP; `send_email` for one."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from types import TracebackType

from flask import current_app

from app.jobs import task


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


class MailError(Exception):
    """The SMTP server did not accept a message."""


class MessageRefusedError(MailError):
    """The server refused this message (its recipient or content); others may still go."""


class MailServerUnavailableError(MailError):
    """The server could not be reached or would not take mail from us: no message's fault."""


# What the server says about one message; anything else concerns every message.
_REFUSALS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPNotSupportedError)
# Anything else between us and the server; while connecting, never a message's fault.
_SMTP_FAILURES = (smtplib.SMTPException, OSError)


class Mailer:
    """One SMTP connection for many messages, opened on first use, reopened after a failure."""

    def __init__(self) -> None:
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> None:
        """Return once the SMTP server has accepted `message`.

        Raises MessageRefusedError or MailServerUnavailableError, naming what the server said.
        """
        if self._smtp is None:
            try:
                self._smtp = _connect()
            except _SMTP_FAILURES as exc:
                # No STARTTLS or AUTH on offer, a refused login, a bad certificate: all
                # configuration, which no subscriber should be charged for.
                raise MailServerUnavailableError(_describe(exc)) from exc
        try:
            self._smtp.send_message(message)
        except _REFUSALS as exc:
            raise MessageRefusedError(_describe(exc)) from exc
        except _SMTP_FAILURES as exc:
            self.close()
            raise MailServerUnavailableError(_describe(exc)) from exc

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


def _describe(exc: Exception) -> str:
    """What went wrong, in the server's words where it gave some: `550 5.1.1 no such user`.

    Never the addresses: this ends up in logs.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(_reply(code, text) for code, text in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    return f"{type(exc).__name__}: {exc}"


def _reply(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


def tls_context() -> ssl.SSLContext:
    """TLS that verifies the server's certificate and name, as a mail client must."""
    return ssl.create_default_context()


def _connect() -> smtplib.SMTP:
    config = current_app.config
    address = (config["SMTP_HOST"], config["SMTP_PORT"])
    smtp: smtplib.SMTP
    if config["SMTP_IMPLICIT_TLS"]:
        smtp = smtplib.SMTP_SSL(*address, timeout=config["SMTP_TIMEOUT"], context=tls_context())
    else:
        smtp = smtplib.SMTP(*address, timeout=config["SMTP_TIMEOUT"])
    try:
        if config["SMTP_STARTTLS"]:
            smtp.starttls(context=tls_context())
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


@task(retries=3, retry_delay=10, retry_backoff=2)
def send_email_later(
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    """`send_email` in the worker, retried with backoff when the SMTP server refuses or is down."""
    return send_email(to, subject, text, html, headers)
