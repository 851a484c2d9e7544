"""The WSGI entry point, for gunicorn (`app.wsgi:app`) and `flask --app app.wsgi run`."""

from werkzeug.debug import DebuggedApplication

from app import create_app_or_exit

app = create_app_or_exit()
if app.debug and app.config["APP_ENV"] == "development":
    # FLASK_DEBUG=1: Werkzeug's interactive debugger on errors, under gunicorn as under
    # `flask run`. It runs code on request, so never outside development.
    app.wsgi_app = DebuggedApplication(app.wsgi_app, evalex=True)  # type: ignore[method-assign]
