"""A small JSON API over the loan flow, the one a chat backend would call (viewflow's own views
are HTML forms): start, merge fields, complete. Each call runs viewflow's tasks in one
transaction; fields are checked as wfapp's bench schema checks them (amount a number ≥ 1000,
purpose a string of at most 200 characters, both required to complete)."""

import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from .flows import LoanFlow
from .models import LoanApplication


def problem(status: int, detail: str, rollback: bool = False) -> JsonResponse:
    if rollback:  # inside the transaction: nothing of this call is kept
        transaction.set_rollback(True)
    return JsonResponse({"status": status, "detail": detail}, status=status)


def authorised(request: HttpRequest) -> bool:
    return request.headers.get("Authorization", "") == f"Bearer {settings.PEER_API_TOKEN}"


def body_of(request: HttpRequest) -> dict[str, Any] | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def field_error(name: str, value: Any) -> str | None:
    if name == "amount":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 1000:
            return "amount must be a number of at least 1000"
    elif name == "purpose":
        if not isinstance(value, str) or not value or len(value) > 200:
            return "purpose must be a string of 1 to 200 characters"
    else:
        return f"{name} is not a field of a loan application"
    return None


def open_task(process: LoanApplication, node) -> Task | None:
    return Task.objects.filter(process_id=process.pk, flow_task=node, status=STATUS.NEW).first()


def serialise(process: LoanApplication) -> dict[str, Any]:
    return {
        "id": process.pk,
        "status": process.status,
        "user_id": process.user_id,
        "conversation_id": process.conversation_id,
        "state_data": {"amount": process.amount, "purpose": process.purpose},
    }


def applications(request: HttpRequest) -> JsonResponse:
    if not authorised(request):
        return problem(401, "a valid bearer token is required")
    if request.method != "POST":
        return problem(405, "POST only")
    body = body_of(request)
    if body is None or not isinstance(body.get("user_id"), str) or not isinstance(body.get("conversation_id"), str):
        return problem(422, "user_id and conversation_id (strings) are required")
    with transaction.atomic():
        process = LoanFlow.start.run(user_id=body["user_id"], conversation_id=body["conversation_id"])
    return JsonResponse(serialise(process), status=201)


def application(request: HttpRequest, pk: int) -> JsonResponse:
    if not authorised(request):
        return problem(401, "a valid bearer token is required")
    if request.method != "PUT":
        return problem(405, "PUT only")
    body = body_of(request)
    if body is None:
        return problem(400, "the body must be a JSON object")
    patch = body.get("state_data") or {}
    if not isinstance(patch, dict):
        return problem(422, "state_data must be an object")
    for name, value in patch.items():
        if error := field_error(name, value):
            return problem(422, error)
    with transaction.atomic():
        process = LoanApplication.objects.filter(pk=pk).first()
        if process is None:
            return problem(404, "no such loan application")
        for name in LoanFlow.field_steps:
            if name not in patch:
                continue
            node = getattr(LoanFlow, name)
            task = open_task(process, node)
            if task is not None:
                node.run(task, value=patch[name])
                process.refresh_from_db()
            elif getattr(process, name) is not None:  # a step already done: a correction
                setattr(process, name, patch[name])
                process.save(update_fields=["data"])
            else:
                return problem(409, f"{name} is asked for after an earlier step", rollback=True)
        if body.get("status") == "completed":
            process.refresh_from_db()
            missing = [name for name in LoanFlow.field_steps if getattr(process, name) in (None, "")]
            task = open_task(process, LoanFlow.complete)
            if missing or task is None:
                return problem(
                    422, f"missing fields: {', '.join(missing) or 'none'}; not ready to complete", rollback=True
                )
            LoanFlow.complete.run(task)
        process.refresh_from_db()
        return JsonResponse(serialise(process))
