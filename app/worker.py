"""The worker: `python -m app.worker` runs the Huey consumer, the same way everywhere.

Compose (through devtools/reload.py in development), the debugger and the tests all run this
module, so its options live here only: two threads, as the jobs wait on SMTP and the
database rather than on the CPU. Importing the app declares every task (each feature's
views import its service, which imports its tasks); building it binds Huey to the broker.
"""

import logging

from huey.consumer_options import ConsumerConfig

from app import create_app_or_exit
from app.jobs import huey

CONSUMER = ConsumerConfig(workers=2, worker_type="thread")


def main() -> None:
    """Run the consumer until it is stopped (SIGTERM: an interrupted job is queued again)."""
    create_app_or_exit()
    CONSUMER.validate()
    CONSUMER.setup_logger(logging.getLogger("huey"))
    huey.create_consumer(**CONSUMER.values).run()


if __name__ == "__main__":
    main()
