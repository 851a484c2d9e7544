"""Email through the real mail catcher."""

from __future__ import annotations

import ssl

from app.mail import send_email, tls_context
from tests.app.support import mailpit_get, unique_address, wait_for_messages


def test_send_email_delivers_text_and_html_parts(app):
    recipient = unique_address()
    with app.app_context():
        message_id = send_email(
            recipient, "Hello", "Plain body", "<p>HTML body</p>", {"X-Tidings": "test"}
        )
    [message] = wait_for_messages(app, recipient)
    assert message["Subject"] == "Hello"
    assert message["From"]["Address"] == "newsletter@tidings.test"
    assert message["To"] == [{"Name": "", "Address": recipient}]
    assert message["Text"].strip() == "Plain body"
    assert "<p>HTML body</p>" in message["HTML"]
    assert message["MessageID"] == message_id.strip("<>")
    # A Message-ID under the sender's own domain, and a Date, as spam filters expect.
    assert message["MessageID"].endswith("@tidings.test")
    assert message["Date"]
    listed = mailpit_get(app, "/api/v1/messages?limit=0")["messages"]
    assert message["ID"] in {summary["ID"] for summary in listed}


def test_tls_verifies_the_server_certificate_and_name():
    context = tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
