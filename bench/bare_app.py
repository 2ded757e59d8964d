"""The baseline: the smallest useful Flask JSON endpoint.

Every app endpoint is reported as a fraction of this one, served by the
same gunicorn settings on the same machine, so the ratio says what our code
costs on top of Flask and gunicorn themselves, whatever the hardware.
"""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__, static_folder=None)

    @app.get("/json")
    def small_json() -> dict[str, object]:
        return {"status": "ok", "room": "bench", "waiting": 0}

    return app
