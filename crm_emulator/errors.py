"""The CRM's JSON error shape, `{"error", "message", "hint"?}`, for every non-200 answer."""

from __future__ import annotations

from django.http import JsonResponse


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, hint: str = "", headers=None):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.hint = hint
        self.headers: dict[str, str] = headers or {}

    def response(self) -> JsonResponse:
        response = api_error(self.status, self.error, self.message, self.hint)
        for name, value in self.headers.items():
            response[name] = value
        return response


def api_error(status: int, error: str, message: str, hint: str = "") -> JsonResponse:
    body = {"error": error, "message": message}
    if hint:
        body["hint"] = hint
    return JsonResponse(body, status=status)


class OAuthError(Exception):
    """RFC 6749 error JSON (`error`, `error_description`), plus the CRM's `message`."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> JsonResponse:
        response = JsonResponse(
            {
                "error": self.error,
                "error_description": self.description,
                "message": self.description,
            },
            status=self.status,
        )
        response["Cache-Control"] = "no-store"
        if self.status == 401:
            response["WWW-Authenticate"] = 'Basic realm="1CRM API"'
        return response
