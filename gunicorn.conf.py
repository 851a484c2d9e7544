"""gunicorn's settings, read from the working directory by the runtime image and the dev stack.

Processes come from WEB_CONCURRENCY (gunicorn reads it; default 2); threads let one slow
client hold a thread rather than a whole process.
"""

bind = "0.0.0.0:8000"
threads = 4
accesslog = "-"
# Heartbeat files in memory: works on a read-only root filesystem, and never stalls on a disk.
worker_tmp_dir = "/dev/shm"  # noqa: S108  # the container's own, not a shared /tmp
