"""The HTTP side every service shares.

- `app`: the FastAPI app with health endpoints, and the one way routes get their deps.
- `errors`: every error a service answers with, mapped to its status and body in one place.
- `middleware`: body limits, the deadline header, `X-Trace-Id`, admission control.
"""
