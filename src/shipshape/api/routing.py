"""`DirectRoute`: a FastAPI route that binds its endpoint's arguments itself when it can.

Every route of the service is an ordinary FastAPI declaration: its signature is its contract,
the OpenAPI document describes it, and it runs behind every middleware, a user's included. For
the requests FastAPI would accept as they are, this route class calls the endpoint after
validating its parameters with FastAPI's own field validators, instead of FastAPI's general
dependency solver, which costs more than the work of most requests here (docs/adr/0005,
addendum 2). Whenever the shortcut is not certain to give FastAPI's result it steps aside
and FastAPI's handler serves the request:

- a dependency override is set on the app (`app.dependency_overrides`);
- a parameter, a header, the query or the body does not validate: FastAPI answers, so every
  error is exactly FastAPI's (tests/integration/test_error_parity.py);
- the body is not `application/json`, or is empty;
- the endpoint uses something the binder does not handle (forms, background tasks, security
  scopes, generator dependencies, sub-dependencies with parameters of their own, or a return
  value that is not a `Response`): then the route is FastAPI's handler from the start.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson
from fastapi._compat import ModelField, Undefined, field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import (
    _get_param_aliases,
    _get_param_model,
    _is_json_field,
    _validate_value_with_model_field,
    get_typed_return_annotation,
    request_body_to_args,
    request_params_to_args,
)
from fastapi.params import Form, Param
from fastapi.routing import APIRoute, request_response
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Binder = Callable[[Request], Awaitable[dict[str, Any] | None]]
Resolver = Callable[[Request], Awaitable[Any]]


class DirectRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        direct = self._direct_app()
        if direct is not None:
            # The route's ASGI app, in place of FastAPI's request_response wrapper, whose
            # per-request exit stacks and exception wrapper only serve what the binder
            # excludes (dependencies with yield, forms); docs/adr/0005 addendum 3.
            self.app = direct

    def get_route_handler(self) -> Handler:
        framework = super().get_route_handler()
        bind = _compile_binder(self)
        call = self.dependant.call
        if bind is None or call is None:
            return framework
        provider = self.dependency_overrides_provider

        async def handler(request: Request) -> Response:
            if provider is not None and getattr(provider, "dependency_overrides", None):
                return await framework(request)
            arguments = await bind(request)
            if arguments is None:
                return await framework(request)
            response: Response = await call(**arguments)
            return response

        return handler

    def _direct_app(self) -> ASGIApp | None:
        """Bind and call the endpoint; anything the binder declines goes to FastAPI's own app
        for the route (the body already read is replayed to it). An exception the endpoint
        raises reaches the app's exception middleware, which holds the same handlers FastAPI's
        route wrapper would have used."""
        bind = _compile_binder(self)
        call = self.dependant.call
        if bind is None or call is None or self.max_body_size is not None:
            return None
        framework = request_response(APIRoute.get_route_handler(self))
        provider = self.dependency_overrides_provider

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if provider is not None and getattr(provider, "dependency_overrides", None):
                await framework(scope, receive, send)
                return
            request = Request(scope, receive, send)
            arguments = await bind(request)
            if arguments is None:
                await framework(scope, _replaying(request, receive), send)
                return
            response: Response = await call(**arguments)
            await response(scope, receive, send)

        return app


def _replaying(request: Request, receive: Receive) -> Receive:
    """`receive` for a second reader of the request: the body the first one read, then the
    rest of the conversation (a disconnect)."""
    body: bytes | None = getattr(request, "_body", None)  # Starlette's cache of request.body()
    if body is None:
        return receive
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _request_only(dependant: Dependant) -> Resolver | None:
    """A dependency computed from the request alone (`async def dep(request: Request)`)."""
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call) or dependant.name is None:
        return None
    if (
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.dependencies
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    ):
        return None
    name = dependant.request_param_name
    if name is None:
        return lambda _request: call()
    return lambda request: call(**{name: request})


ParamReader = Callable[[Any], tuple[dict[str, Any], list[Any]]]


def _param_reader(fields: list[ModelField]) -> ParamReader:
    """`request_params_to_args(fields, received)`, with what FastAPI works out again on every
    request (each field's request keys, and that it is one plain value: not a list, a model
    of parameters or JSON) worked out once per route; docs/adr/0005 addendum 4. A field of
    another kind keeps FastAPI's own function for the whole group. Pinned against it by
    tests/unit/test_direct_route.py."""
    plain: list[tuple[ModelField, list[str], str]] = []
    for field in fields:
        info = field.field_info
        if (
            not isinstance(info, Param)
            or _get_param_model(field) is not None
            or _is_json_field(field)
            or field_annotation_is_sequence(info.annotation)
        ):
            return lambda received: request_params_to_args(fields, received)
        keys = [key for _, key in _get_param_aliases(field)]
        plain.append((field, keys, info.in_.value))

    def read(received: Any) -> tuple[dict[str, Any], list[Any]]:
        values: dict[str, Any] = {}
        errors: list[Any] = []
        for field, keys, location in plain:
            key = next((key for key in keys if key in received), keys[0])
            value = received.get(key, None)
            bound, field_errors = _validate_value_with_model_field(
                field=field,
                value=Undefined if value is None else value,
                values=values,
                loc=(location, key),
            )
            if field_errors:
                errors.extend(field_errors)
            else:
                values[field.name] = bound
        return values, errors

    return read


def _compile_binder(route: APIRoute) -> Binder | None:
    dependant = route.dependant
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call):
        return None
    returns = get_typed_return_annotation(call)
    if not (inspect.isclass(returns) and issubclass(returns, Response)):
        return None
    if (
        dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    ):
        return None
    resolvers: list[tuple[str, Resolver]] = []
    for sub in dependant.dependencies:
        resolver = _request_only(sub)
        if resolver is None or sub.name is None:
            return None
        resolvers.append((sub.name, resolver))
    body_fields = dependant.body_params
    body_field = route.body_field
    embedded = route._embed_body_fields  # FastAPI's own flag: several body fields, or embed=
    if body_fields and (body_field is None or isinstance(body_field.field_info, Form) or embedded):
        return None
    params: list[tuple[ParamReader, Callable[[Request], Any]]] = [
        (_param_reader(fields), received)
        for fields, received in (
            (dependant.path_params, lambda request: request.path_params),
            (dependant.query_params, lambda request: request.query_params),
            (dependant.header_params, lambda request: request.headers),
            (dependant.cookie_params, lambda request: request.cookies),
        )
        if fields
    ]
    request_name = dependant.request_param_name

    async def bind(request: Request) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        for read, received in params:
            bound, errors = read(received(request))
            if errors:
                return None
            values.update(bound)
        if body_fields:
            content_type = request.headers.get("content-type", "")
            if content_type.partition(";")[0].strip().lower() != "application/json":
                return None
            try:
                raw = await request.body()
                received_body = orjson.loads(raw) if raw else None
            except Exception:  # a disconnect or malformed JSON: FastAPI says what
                return None
            if received_body is None:
                return None
            bound, errors = await request_body_to_args(body_fields, received_body, False)
            if errors:
                return None
            values.update(bound)
        for name, resolver in resolvers:
            values[name] = await resolver(request)
        if request_name is not None:
            values[request_name] = request
        return values

    return bind
