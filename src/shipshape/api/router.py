"""The route table: every endpoint of the service, read top to bottom.

Each line is one declaration: path, method, the function that serves it (its signature is its
contract: parameters, body and dependencies) and what the OpenAPI document says of it. Every
route is a `DirectRoute` (api/routing.py) on the app's own router, so every route passes
through the same middleware stack, a user's included, and `app.dependency_overrides` reaches
every route.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response

from shipshape.api.deps import Operator
from shipshape.api.routes import admin, chaos, hello, probes, system, visits
from shipshape.api.routing import DirectRoute
from shipshape.core.config import Settings

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown user"}}
OPERATOR_ONLY: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong bearer token"},
    404: {"description": "Operator endpoints are disabled (no SHIPSHAPE_ADMIN_TOKEN)"},
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "Database unavailable or writes overloaded (see Retry-After)"}
}


def add_routes(app: FastAPI, settings: Settings) -> None:
    app.router.route_class = DirectRoute
    route = app.add_api_route
    operator = [Operator]

    # fmt: off
    # Probes and metrics first: kubelets and load balancers call them most (routes match in
    # table order)
    route("/livez", probes.livez, methods=["GET"], tags=["probes"],
          summary="Liveness: the process can serve (never touches the database)")
    route("/livez", probes.livez, methods=["HEAD"], include_in_schema=False)
    route("/healthz", probes.livez, methods=["GET", "HEAD"], include_in_schema=False)
    route("/readyz", probes.readyz, methods=["GET"], tags=["probes"],
          summary="Readiness: database, migrations, writers, drain and operator state")
    route("/ready", probes.readyz, methods=["GET"], include_in_schema=False)
    route("/health", probes.health, methods=["GET"], tags=["probes"],
          summary="Aggregate health for humans and old load balancers")
    route("/metrics", probes.metrics, methods=["GET"], response_class=Response,
          tags=["probes"], summary="Prometheus metrics")

    # The API
    route("/", visits.index, methods=["GET"], response_model=visits.Greeting, tags=["visits"],
          summary="Record a visit and greet (browsers get the dashboard)", responses=UNAVAILABLE)
    route("/list", visits.list_visits, methods=["GET"], response_model=list[visits.VisitOut],
          tags=["visits"], summary="Recorded visits, newest first", responses=UNAVAILABLE)
    route("/visitors", visits.list_visitors, methods=["GET"],
          response_model=list[visits.VisitorOut], tags=["visits"],
          summary="Per-IP visit aggregates", responses=UNAVAILABLE)
    route("/hello/{username}", hello.save_birthday, methods=["PUT"], status_code=204,
          response_class=Response, tags=["hello"], responses=UNAVAILABLE,
          summary="Save or update a user's date of birth")
    route("/hello/{username}", hello.get_birthday, methods=["GET"],
          response_model=hello.Message, tags=["hello"], summary="Birthday greeting",
          responses={**NOT_FOUND, **UNAVAILABLE})

    # This instance
    route("/stats", system.stats, methods=["GET"], tags=["system"],
          summary="System statistics of this instance")
    route("/config", system.config, methods=["GET"], tags=["system"],
          summary="Effective configuration, secrets redacted")
    route("/version", system.version, methods=["GET"], tags=["system"],
          summary="Build information")

    # Operator (bearer token; 404 when SHIPSHAPE_ADMIN_TOKEN is unset)
    route("/admin/readiness/disable", admin.disable_readiness, methods=["POST"],
          dependencies=operator, tags=["operator"], responses=OPERATOR_ONLY,
          summary="Take this instance out of load balancing")
    route("/admin/readiness/enable", admin.enable_readiness, methods=["POST"],
          dependencies=operator, tags=["operator"], responses=OPERATOR_ONLY,
          summary="Put this instance back")
    route("/admin/faults", admin.get_faults, methods=["GET"], dependencies=operator,
          tags=["operator"], responses=OPERATOR_ONLY, summary="Current fault injection")
    route("/admin/faults", admin.set_faults, methods=["PUT"], dependencies=operator,
          tags=["operator"], responses=OPERATOR_ONLY,
          summary="Inject random errors and latency (needs chaos enabled)")
    route("/admin/faults", admin.clear_faults, methods=["DELETE"], dependencies=operator,
          tags=["operator"], responses=OPERATOR_ONLY, summary="Stop fault injection")

    # Chaos (only with SHIPSHAPE_CHAOS_ENABLED=true)
    if settings.chaos_enabled:
        route("/status/{code}", chaos.status_code, methods=["GET"], tags=["chaos"],
              summary="Answer with the given HTTP status")
        route("/delay/{seconds}", chaos.delay, methods=["GET"], tags=["chaos"],
              summary="Answer after a delay (capped)")
    # fmt: on
