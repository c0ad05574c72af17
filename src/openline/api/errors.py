"""One error shape for the whole API: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, f"no {kind} with id {ident!r}")


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


# The schema of every error body, as the OpenAPI document states it.
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def install(app: FastAPI) -> None:
    _document(app)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error_body(error.code, str(error)), status_code=error.status)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, error: HTTPException) -> JSONResponse:
        code = _CODES.get(error.status_code, "error")
        return JSONResponse(
            error_body(code, str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_describe(problem) for problem in error.errors())
        return JSONResponse(error_body("invalid_request", problems), status_code=422)


def _describe(problem: dict) -> str:
    where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
    return f"{where}: {problem.get('msg')}" if where else str(problem.get("msg"))


def _document(app: FastAPI) -> None:
    """State the error shape in the OpenAPI document: FastAPI documents its own 422 body
    (``{"detail": [...]}``), which this API never sends, and no other error."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:
            schema = generate()  # and keeps it as app.openapi_schema
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            components["Error"] = _ERROR_SCHEMA
            error = {"application/json": {"schema": _ERROR_REF}}
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    if "422" in responses:
                        responses["422"]["content"] = error
                    responses["default"] = {"description": "An error", "content": error}
        return schema

    # Replacing the method is FastAPI's documented way to change the generated document.
    app.openapi = openapi  # type: ignore[method-assign]
