"""Swagger UI for every service, served from the service itself (assets from the
`swagger-ui-bundle` package): nothing is fetched from outside, so it works in an offline
cluster and under a Content-Security-Policy that allows only the page's own origin."""

from __future__ import annotations

from html import escape
from pathlib import Path

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PREFIX = "/_docs"


def install_docs(app: FastAPI, title: str) -> None:
    """`/docs`: Swagger UI on the app's OpenAPI document, every asset served locally."""
    app.mount(f"{PREFIX}/ui", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), "swagger")
    app.mount(f"{PREFIX}/own", StaticFiles(directory=STATIC), "docs-static")
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}: API</title>
<link rel="stylesheet" href="{PREFIX}/ui/swagger-ui.css">
</head>
<body>
<main id="swagger-ui" data-openapi-url="{escape(app.openapi_url or "/openapi.json")}"></main>
<script src="{PREFIX}/ui/swagger-ui-bundle.js"></script>
<script src="{PREFIX}/ui/swagger-ui-standalone-preset.js"></script>
<script src="{PREFIX}/own/swagger-init.js"></script>
</body>
</html>
"""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)
