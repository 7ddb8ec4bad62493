"""A station: one party's end of the line, over one database.

The map, from the bottom up (each layer imports only those below it; the import
contracts in ``pyproject.toml`` hold it so, and ``docs/architecture.md`` walks it):

``core/``
    The ledger (``ledger.py``): the channel transaction (lock the row, restore the
    sealed state, step the protocol, commit snapshot, transcript and outbox
    together), send, receive, acknowledge, pairing, the transcript, group commit,
    the comparison of heads (``heads.py``), delivery with its peer client
    (``delivery.py``, ``peer_http.py``), the audit trail and its witness, deadlines
    and the watch.  It knows no feature: ``hooks.py`` is what it asks of them, and
    ``items.py`` registers its own item types the same way.
``access/``
    Officers, roles, sessions, throttles, two-person grants, and the one door for
    people (``door.py``): every item shown to anyone, on any path, is rendered and
    audited there.
``web/``
    The app's shell: pages and API routes of the ledger's own items, the error
    map, parameters, body limits, the server, templates and static files.
``releases/``, ``negotiation/``
    One package per feature: its hooks, its service (composed over the ledger),
    its desk (checked and audited, through the door), its queries, its API routes
    and pages.  Features do not import each other.
``service.py``, ``app.py``, ``backup.py``
    The assembly: ``Station`` is the ledger with ``FEATURES`` registered and their
    services composed; ``app.py`` builds the FastAPI app and its workers.

See ``docs/station.md`` for running one, ``docs/architecture.md`` for adding a
feature.
"""
