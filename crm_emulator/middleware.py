"""Every error the emulator answers has the CRM's JSON error shape."""

import logging

from django.http import JsonResponse

logger = logging.getLogger(__name__)


def api_error(status: int, error: str, message: str, hint: str = "") -> JsonResponse:
    body = {"error": error, "message": message}
    if hint:
        body["hint"] = hint
    return JsonResponse(body, status=status)


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 404 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return api_error(404, "not_found", f"No endpoint at {request.path}")
        return response

    def process_exception(self, request, exception):
        logger.exception("emulator error on %s %s", request.method, request.path)
        return api_error(500, "server_error", "Internal error in the emulator")
