"""The reference the `perf` session compares generated services with.

A bare Starlette + asyncpg + PyJWT + orjson app doing exactly what the generated service's
endpoints do, on the same tables: verify the access token, load the user and check that it
is active, then count and fetch a page (or read, create one item), answering the same JSON.
It has no ORM, no dependency injection and no validation library: what is left is the
least work an async Python service can do for these requests.

Served by `uvicorn --factory tests.perf_reference:create_app` with DATABASE_URL and
SECRET_KEY in the environment.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.perf_tokens import token_user_id

ITEM_COLUMNS = "id, title, description, owner_id, created_at, updated_at"
USER_COLUMNS = "id, email, is_active, is_superuser, created_at, updated_at"


def json_response(body: object, status_code: int = 200) -> Response:
    # Pydantic writes UTC datetimes with a "Z", as OPT_UTC_Z does, and UUIDs as strings
    # (asyncpg returns its own UUID type, which orjson leaves to `default`).
    return Response(
        orjson.dumps(body, default=str, option=orjson.OPT_UTC_Z),
        status_code=status_code,
        media_type="application/json",
    )


async def current_user(request: Request) -> asyncpg.Record | None:
    user_id = token_user_id(request)
    if user_id is None:
        return None
    user: asyncpg.Record | None = await request.app.state.pool.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE id = $1",  # noqa: S608 - constant columns
        user_id,
    )
    return user if user is not None and user["is_active"] else None


def unauthorized() -> Response:
    return json_response({"detail": "Could not validate credentials"}, 401)


async def list_items(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return unauthorized()
    limit = int(request.query_params.get("limit", 20))
    offset = int(request.query_params.get("offset", 0))
    async with request.app.state.pool.acquire() as connection:
        total = await connection.fetchval(
            "SELECT count(*) FROM items WHERE owner_id = $1", user["id"]
        )
        rows = await connection.fetch(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE owner_id = $1"  # noqa: S608
            " ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
            user["id"],
            limit,
            offset,
        )
    items = [dict(row) for row in rows]
    return json_response({"items": items, "total": total, "limit": limit, "offset": offset})


async def read_item(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return unauthorized()
    row = await request.app.state.pool.fetchrow(
        f"SELECT {ITEM_COLUMNS} FROM items WHERE id = $1",  # noqa: S608
        uuid.UUID(request.path_params["item_id"]),
    )
    if row is None or (row["owner_id"] != user["id"] and not user["is_superuser"]):
        return json_response({"detail": "Item not found"}, 404)
    return json_response(dict(row))


async def create_item(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return unauthorized()
    body: dict[str, Any] = orjson.loads(await request.body())
    now = datetime.now(UTC)
    row = await request.app.state.pool.fetchrow(
        f"INSERT INTO items ({ITEM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5)"  # noqa: S608
        f" RETURNING {ITEM_COLUMNS}",
        uuid.uuid4(),
        body["title"].strip(),
        body.get("description"),
        user["id"],
        now,
    )
    return json_response(dict(row), 201)


async def read_me(request: Request) -> Response:
    user = await current_user(request)
    return unauthorized() if user is None else json_response(dict(user))


async def ready(request: Request) -> Response:
    await request.app.state.pool.fetchval("SELECT 1")
    return json_response({"status": "ok", "checks": {"database": "ok"}})


def create_app() -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        url = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
        async with asyncpg.create_pool(url, min_size=1, max_size=15) as pool:
            app.state.pool = pool
            yield

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/items", list_items, methods=["GET"]),
            Route("/items", create_item, methods=["POST"]),
            Route("/items/{item_id}", read_item, methods=["GET"]),
            Route("/users/me", read_me, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
        ],
    )
    app.state.secret_key = os.environ["SECRET_KEY"]
    return app
