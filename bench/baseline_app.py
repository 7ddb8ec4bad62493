"""The station benchmark's baseline: a bare FastAPI endpoint that commits each body.

Each POST stores its body in SQLite in WAL mode with ``synchronous=FULL`` (the same
durability a station gives) and answers 200 after the commit.  Writers queue on a
lock, as a station's do: left to SQLite's busy handler, which sleeps up to 100 ms a
try, the baseline was slower and its p99 over 200 ms.  Like a station, it moves the
objects built at start-up out of the garbage collector's full passes.  Run by
``bench/station.py`` as ``python bench/baseline_app.py DB PORT``.
"""

from __future__ import annotations

import gc
import sqlite3
import sys
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

TABLE = "CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, body BLOB, at REAL)"


def create_app(path: str) -> FastAPI:
    local = threading.local()
    # Once, before serving: switching to WAL needs the database to itself, and 32
    # threads doing it at their first request could fail with "database is locked".
    with sqlite3.connect(path, isolation_level=None) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute(TABLE)
    setup.close()

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "db"):
            fresh = sqlite3.connect(path, isolation_level=None, timeout=30)
            fresh.execute("PRAGMA synchronous=FULL")
            local.db = fresh
        db: sqlite3.Connection = local.db
        return db

    writer = threading.Lock()

    def commit(body: bytes) -> None:
        db = connection()
        with writer:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO item (body, at) VALUES (?, ?)", (body, time.time()))
            db.execute("COMMIT")

    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/commit")
    async def store(request: Request) -> dict[str, bool]:
        await run_in_threadpool(commit, await request.body())
        return {"ok": True}

    return app


if __name__ == "__main__":
    application = create_app(sys.argv[1])
    gc.collect()
    gc.freeze()
    uvicorn.run(application, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
