"""backchannel: a confidential line between two organisations.

The package is layered; each layer imports only the layers below it (checked by
import-linter, see ``pyproject.toml``)::

    cli        command line, talks to a station
    station    FastAPI app and delivery worker
    store      SQLAlchemy schema, outbox/inbox
    analysis   pure functions: canary marks, leak matching, deconfliction
    protocol   sans-I/O channel core: identity, pairing, envelopes, transcript

``backchannel.testing`` sits beside them and offers in-memory fixtures for tests.
"""

__version__ = "0.1.0"
