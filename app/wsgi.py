"""The WSGI entry point, for gunicorn (`app.wsgi:app`) and `flask --app app.wsgi run`."""

from app import create_app_or_exit

app = create_app_or_exit()
