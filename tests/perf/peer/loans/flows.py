"""The loan application as a viewflow process: started from code, two field-update steps
(amount, then purpose), a completion step, the end action, the end. Every step is a viewflow
task with its activation; the end action is a SendHandle (viewflow's synchronous send task)
that POSTs the collected data to the end-action URL once the completing transaction commits."""

import json
import urllib.request

from django.conf import settings
from django.db import transaction
from viewflow import this
from viewflow.workflow import flow

from .models import LoanApplication


def post_end_action(process_id: int, body: dict) -> None:
    request = urllib.request.Request(
        settings.PEER_END_ACTION_URL,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": f"loan-{process_id}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        answer.read()


class LoanFlow(flow.Flow):
    process_class = LoanApplication
    process_title = "Loan application"

    start = flow.StartHandle(this.start_application).Next(this.amount)
    amount = flow.Handle(this.set_amount).Next(this.purpose)
    purpose = flow.Handle(this.set_purpose).Next(this.complete)
    complete = flow.Handle(this.complete_application).Next(this.end_action)
    end_action = flow.SendHandle(this.send_end_action).Next(this.end)
    end = flow.End()

    # field_steps: the steps that collect a field, in the order the flow asks for them
    field_steps = ("amount", "purpose")

    def start_application(self, activation, user_id: str, conversation_id: str):
        activation.process.user_id = user_id
        activation.process.conversation_id = conversation_id
        return activation.process

    def set_amount(self, activation, value: float):
        activation.process.amount = value
        activation.process.save(update_fields=["data"])
        return activation.process

    def set_purpose(self, activation, value: str):
        activation.process.purpose = value
        activation.process.save(update_fields=["data"])
        return activation.process

    def complete_application(self, activation):
        return activation.process

    def send_end_action(self, activation):
        process = activation.process
        body = {
            "process_id": process.pk,
            "user_id": process.user_id,
            "conversation_id": process.conversation_id,
            "state_data": {"amount": process.amount, "purpose": process.purpose},
            "status": "completed",
        }
        transaction.on_commit(lambda: post_end_action(process.pk, body))
