from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from crm_emulator.middleware import api_error

VERSION = "8.6.2"


def version(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"version": VERSION, "products": ["enterprise"], "authenticated": False})


@csrf_exempt
def control_reset(request: HttpRequest) -> JsonResponse:
    token = settings.EMULATOR_ADMIN_TOKEN
    if not token or request.headers.get("X-Emulator-Admin") != token:
        return api_error(403, "forbidden", "Emulator control needs X-Emulator-Admin")
    return JsonResponse({"result": True})
