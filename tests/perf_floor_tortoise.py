"""The Tortoise floor of `GET /users/me` (`fastapi_tortoise`), beside tests/perf_floors.py's.

FastAPI with one async dependency that verifies the token and loads the user with
`User.get_or_none`, answering a pydantic response model. Tortoise is set up by its FastAPI
integration (`RegisterTortoise`), and, like the service, skips asyncpg's reset query when
a connection goes back to the pool. A module of its own: Tortoise finds its models by
module, and the SQLAlchemy projects' environments have no Tortoise.

Served by `uvicorn --factory tests.perf_floor_tortoise:fastapi_tortoise` with DATABASE_URL
and SECRET_KEY in the environment.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from tortoise import fields
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.contrib.fastapi import RegisterTortoise
from tortoise.models import Model

from tests.perf_floors import app_with, asyncpg_url, authenticated_user_id


class User(Model):
    id = fields.UUIDField(primary_key=True)
    email = fields.CharField(max_length=320)
    hashed_password = fields.CharField(max_length=255)
    is_active = fields.BooleanField()
    is_superuser = fields.BooleanField()
    token_version = fields.IntField()
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "users"


class NoResetConnection(asyncpg.Connection):  # type: ignore[misc]
    def get_reset_query(self) -> str:
        return ""


def fastapi_tortoise() -> FastAPI:
    connection = expand_db_url(asyncpg_url().replace("postgresql://", "asyncpg://", 1))
    connection["credentials"] |= {
        "minsize": 1,
        "maxsize": 15,
        "connection_class": NoResetConnection,
    }
    config = {
        "connections": {"default": connection},
        "apps": {"models": {"models": [__name__], "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=config):
            yield

    async def current_user(request: Request) -> User:
        user = await User.get_or_none(id=authenticated_user_id(request))
        if user is None or not user.is_active:
            raise HTTPException(401, "Could not validate credentials")
        return user

    return app_with(lifespan, current_user)
