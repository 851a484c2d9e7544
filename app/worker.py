"""The Huey consumer's entry point: `huey_consumer app.worker.huey`.

Building the app binds Huey to the configured broker; importing the modules that declare
tasks registers them with the consumer.
"""

from app import create_app_or_exit
from app import mail as _mail  # noqa: F401  # declares send_email_later
from app.jobs import huey
from app.newsletter import delivery as _delivery  # noqa: F401  # delivery tasks
from app.subscriptions import emails as _emails  # noqa: F401  # subscription emails

create_app_or_exit()

__all__ = ["huey"]
