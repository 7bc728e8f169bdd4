"""The HTTP API: one FastAPI application, routes per role, API keys hashed with Argon2.

Import :func:`credence.api.app.create_app` to build the application on an opened store; the
``credence serve`` command runs it with uvicorn. Every read of a subject's data writes an access
event, and every error is an RFC 9457 problem document.
"""
