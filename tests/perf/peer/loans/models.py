"""A loan application is a viewflow Process; its fields live in the process's JSON data."""

from viewflow import jsonstore
from viewflow.workflow.models import Process


class LoanApplication(Process):
    user_id = jsonstore.CharField(max_length=150)
    conversation_id = jsonstore.CharField(max_length=150)
    amount = jsonstore.FloatField(null=True, blank=True)
    purpose = jsonstore.CharField(max_length=200, blank=True)

    class Meta:
        proxy = True
