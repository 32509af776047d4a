"""Demo data: the description's loan_application, a kyc_verification, user types, end users and
workflows in every status."""

import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.models import UserType, WorkflowEvent, WorkflowTemplate
from wfapp.services import directory, lifecycle, workflow_templates
from wfapp.services.outbox import OutboxSettings

ACTOR = "seed-demo"


def _template(name, category, description, guidelines, state_schema, **more) -> dict[str, Any]:
    """A demo workflow template's definition (no end action)."""
    return {
        "name": name,
        "category": category,
        "description": description,
        "guidelines": guidelines,
        "state_schema": state_schema,
        **more,
        "end_action_type": "none",
    }


KYC_VERIFICATION = _template(
    name="kyc_verification",
    category="compliance",
    description="Know-your-customer identity check",
    guidelines="Ask for the customer's full legal name, date of birth and national id number, one at a time. "
    "Explain that the bank is required by law to verify identity.",
    state_schema={
        "full_name": {
            "type": "string",
            "required": True,
            "title": "Full legal name",
            "minLength": 2,
            "description": "as written on the identity document",
        },
        "date_of_birth": {"type": "date", "required": True, "title": "Date of birth"},
        "national_id": {
            "type": "string",
            "required": True,
            "title": "National id number",
            "pattern": "^[A-Z0-9]{6,12}$",
            "sensitive": True,
        },
        "email": {"type": "email", "title": "Email address"},
    },
)

LOAN_APPLICATION = _template(
    name="loan_application",
    category="fintech",
    description="Personal loan application",
    guidelines="Guide the applicant through the loan application. Ask for the amount first, then the "
    "purpose and the term. Be concise and never promise approval.",
    state_schema={
        "amount": {
            "type": "number",
            "required": True,
            "minimum": 1000,
            "maximum": 500000,
            "title": "Loan amount",
            "description": "in euros",
        },
        "purpose": {"type": "string", "required": True, "title": "Purpose", "maxLength": 500},
        "term_months": {"type": "enum", "choices": [12, 24, 36, 48, 60], "title": "Term (months)", "default": 36},
        "employment": {
            "type": "enum",
            "choices": ["employed", "self-employed", "retired", "student", "other"],
            "title": "Employment status",
        },
        "phone": {"type": "phone", "title": "Phone number"},
    },
)

CREDIT_CARD_APPLICATION = _template(
    name="credit_card_application",
    category="fintech",
    description="Credit card application; needs a completed identity check first",
    guidelines="Ask for the credit limit the customer wants and their monthly income.",
    state_schema={
        "credit_limit": {
            "type": "integer",
            "required": True,
            "minimum": 500,
            "maximum": 20000,
            "title": "Credit limit",
        },
        "monthly_income": {"type": "number", "required": True, "minimum": 0, "title": "Monthly income"},
    },
    workflow_dependencies=[
        {
            "name": "identity_check",
            "type": "workflow",
            "template": "kyc_verification",
            "description": "the customer's kyc_verification workflow must be completed",
        },
    ],
)

USER_TYPES = [
    ("verified_users", "Verified users", "Customers whose identity has been checked"),
    ("premium_users", "Premium users", "Customers with a premium account"),
    ("new_users", "New users", "Customers who have just signed up"),
]

END_USERS = [
    ("john_doe", "verified_users", "John Doe"),
    ("user456", "premium_users", "Alex Example"),
    ("maria_s", "new_users", "Maria Silva"),
    ("li_wei", "verified_users", "Li Wei"),
]


def seed_demo(session: so.Session, settings: OutboxSettings) -> bool:
    """Insert the demo data once; returns False when it is already there."""
    if session.scalar(sa.select(WorkflowTemplate.id).where(WorkflowTemplate.name == "loan_application")):
        return False
    for id_, name, desc in USER_TYPES:
        if session.get(UserType, id_) is None:
            directory.create_user_type(session, id_, name, desc)
    for id_, type_, name in END_USERS:
        if session.get(directory.EndUser, id_) is None:
            directory.create_end_user(session, id_, type_, name)
    workflow_templates.create_workflow_template(session, KYC_VERIFICATION, ACTOR)
    workflow_templates.create_workflow_template(session, LOAN_APPLICATION, ACTOR)
    workflow_templates.create_workflow_template(session, CREDIT_CARD_APPLICATION, ACTOR)
    for user_type in ("verified_users", "premium_users", "new_users"):
        directory.grant_permission(session, user_type, "kyc_verification")
    for user_type in ("verified_users", "premium_users"):
        directory.grant_permission(session, user_type, "loan_application")
        directory.grant_permission(session, user_type, "credit_card_application")

    # active, partly filled
    wf = lifecycle.start_workflow(session, "loan_application", "conv_123", "john_doe", ACTOR, settings=settings)
    lifecycle.merge_state(session, wf.id, {"amount": 50000, "purpose": "Home improvement"}, ACTOR, settings=settings)
    # completed
    wf = lifecycle.start_workflow(session, "kyc_verification", "conv_100", "john_doe", ACTOR, settings=settings)
    lifecycle.merge_state(
        session,
        wf.id,
        {"full_name": "John Doe", "date_of_birth": "1985-04-12", "national_id": "AB123456"},
        ACTOR,
        settings=settings,
    )
    lifecycle.change_status(session, wf.id, "completed", ACTOR, settings=settings)
    # cancelled
    wf = lifecycle.start_workflow(session, "loan_application", "conv_200", "user456", ACTOR, settings=settings)
    lifecycle.merge_state(session, wf.id, {"amount": 12000}, ACTOR, settings=settings)
    lifecycle.change_status(
        session, wf.id, "cancelled", ACTOR, reason="the customer changed their mind", settings=settings
    )
    # failed
    wf = lifecycle.start_workflow(session, "kyc_verification", "conv_300", "maria_s", ACTOR, settings=settings)
    lifecycle.merge_state(session, wf.id, {"full_name": "Maria Silva"}, ACTOR, settings=settings)
    lifecycle.change_status(session, wf.id, "failed", ACTOR, reason="identity document expired", settings=settings)
    # another active one
    wf = lifecycle.start_workflow(session, "kyc_verification", "conv_400", "li_wei", ACTOR, settings=settings)
    lifecycle.merge_state(session, wf.id, {"full_name": "Li Wei"}, ACTOR, settings=settings)
    # waiting: user456 has no completed identity check yet
    wf = lifecycle.start_workflow(session, "credit_card_application", "conv_500", "user456", ACTOR, settings=settings)
    lifecycle.merge_state(session, wf.id, {"credit_limit": 3000}, ACTOR, settings=settings)
    _seed_history(session, settings)
    return True


def _seed_history(session: so.Session, settings: OutboxSettings, days: int = 14) -> None:
    """A fortnight of finished and abandoned workflows, so that the overview's charts and the
    analytics have something to show. Timestamps are moved back after the fact (demo data only)."""
    rng = random.Random(7)
    users = [u for u, _type, _name in END_USERS if u != "maria_s"]
    purposes = ["Home improvement", "Car", "Wedding", "Debt consolidation", "Holiday"]
    for i in range(40):
        user = rng.choice(users)
        wf = lifecycle.start_workflow(session, "loan_application", f"conv_hist_{i}", user, ACTOR, settings=settings)
        steps: list[dict[str, Any]] = [
            {"amount": rng.randrange(2, 80) * 1000},
            {"purpose": rng.choice(purposes)},
            {"employment": rng.choice(["employed", "self-employed", "retired"])},
        ]
        filled = rng.randint(1, 3)
        for step in steps[:filled]:
            lifecycle.merge_state(session, wf.id, step, ACTOR, settings=settings)
        if filled >= 2 and rng.random() < 0.75:
            lifecycle.change_status(session, wf.id, "completed", ACTOR, settings=settings)
        elif rng.random() < 0.5:
            lifecycle.change_status(
                session, wf.id, "cancelled", ACTOR, reason="the customer stopped answering", settings=settings
            )
        shift = timedelta(days=rng.randint(1, days), minutes=rng.randint(0, 600))
        wf.started_at -= shift
        wf.updated_at -= shift
        wf.last_interaction_at += timedelta(minutes=rng.randint(1, 30)) - shift
        if wf.completed_at:
            wf.completed_at += timedelta(minutes=rng.randint(3, 40)) - shift
        for event in session.scalars(sa.select(WorkflowEvent).where(WorkflowEvent.workflow_id == wf.id)):
            event.created_at -= shift
