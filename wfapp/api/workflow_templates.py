"""/api/workflow-templates"""

from typing import Any

from flask import g, jsonify, request

from wfapp.api import bp
from wfapp.api.presets import OperationPresets, items_response
from wfapp.api.serializers import template_version_json, workflow_template_json
from wfapp.errors import ValidationFailed
from wfapp.extensions import db
from wfapp.schemas import tools
from wfapp.schemas.api import WORKFLOW_TEMPLATE_CREATE, WORKFLOW_TEMPLATE_PATCH, WORKFLOW_TEMPLATE_UPDATE
from wfapp.schemas.state_schema import compiled_for_version
from wfapp.services import directory
from wfapp.services import workflow_templates as svc

ops = OperationPresets(bp, tag="workflow templates")


def _bool_arg(name: str) -> bool | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ValidationFailed(
        f"{name} must be true or false", [{"path": f"/query/{name}", "message": "must be true or false"}]
    )


LIST_QUERY = [
    {"name": "category", "schema": {"type": "string"}},
    {"name": "is_active", "schema": {"type": "string", "enum": ["true", "false"]}},
    {"name": "user_id", "schema": {"type": "string"}, "description": "only those this end user may start"},
]


def _saved(template):
    """The change committed, answered with the workflow template as it is now."""
    db.session.commit()
    return jsonify(workflow_template_json(template))


@ops.read("/workflow-templates", "List workflow templates", "WorkflowTemplateList", errors=(422,), query=LIST_QUERY)
def list_workflow_templates():
    user_type_id = None
    if request.args.get("user_id"):
        user = db.session.get(directory.EndUser, request.args["user_id"])
        if user is None:
            raise ValidationFailed("unknown user_id", [{"path": "/query/user_id", "message": "no such end user"}])
        user_type_id = user.user_type_id
    items = svc.list_workflow_templates(db.session, request.args.get("category"), _bool_arg("is_active"), user_type_id)
    return items_response(items, workflow_template_json)


@ops.create(
    "/workflow-templates",
    "Create a workflow template (version 1)",
    WORKFLOW_TEMPLATE_CREATE,
    "WorkflowTemplateCreate",
    "WorkflowTemplate",
    errors=(409,),
)
def create_workflow_template(body):
    template = svc.create_workflow_template(db.session, body, g.actor)
    db.session.commit()
    return jsonify(workflow_template_json(template)), 201, {"Location": f"/api/workflow-templates/{template.id}"}


@ops.read("/workflow-templates/<ref>", "A workflow template by id or name", "WorkflowTemplate")
def get_workflow_template(ref):
    return jsonify(workflow_template_json(svc.get_workflow_template(db.session, ref)))


@ops.change(
    "/workflow-templates/<ref>",
    "Change the definition (a new version when it differs)",
    WORKFLOW_TEMPLATE_UPDATE,
    "WorkflowTemplateUpdate",
    "WorkflowTemplate",
    method="PUT",
    errors=(409,),
)
def update_workflow_template(ref, body):
    template = svc.get_workflow_template(db.session, ref)
    svc.update_workflow_template(db.session, template, body, g.actor)
    return _saved(template)


@ops.change(
    "/workflow-templates/<ref>",
    "Activate, deactivate or recategorise (no new version)",
    WORKFLOW_TEMPLATE_PATCH,
    "WorkflowTemplatePatch",
    "WorkflowTemplate",
)
def patch_workflow_template(ref, body):
    template = svc.get_workflow_template(db.session, ref)
    svc.set_template_flags(db.session, template, body.get("is_active"), body.get("category"))
    return _saved(template)


@ops.delete("/workflow-templates/<ref>", "Delete a workflow template that has no workflows", errors=(409,))
def delete_workflow_template(ref):
    template = svc.get_workflow_template(db.session, ref)
    svc.delete_workflow_template(db.session, template)
    db.session.commit()
    return "", 204


@ops.read("/workflow-templates/<ref>/versions", "The versions of a workflow template", "TemplateVersionList")
def list_template_versions(ref):
    template = svc.get_workflow_template(db.session, ref)
    return items_response(svc.list_versions(db.session, template), lambda v: template_version_json(v, template))


@ops.read("/workflow-templates/<ref>/versions/<int:number>", "One version of a workflow template", "TemplateVersion")
def get_template_version(ref, number):
    template = svc.get_workflow_template(db.session, ref)
    return jsonify(template_version_json(svc.get_version(db.session, template, number), template))


def _template_tool(ref: str, number: int | None = None):
    """The function-calling tool of one version of a template (its current one without a number)."""
    dialect = tools.check_dialect(request.args.get("dialect"))
    template = svc.get_workflow_template(db.session, ref)
    version = template.current_version if number is None else svc.get_version(db.session, template, number)
    return jsonify(tools.template_tool(template.name, compiled_for_version(version), dialect))


TOOL: dict[str, Any] = {"response": "Tool", "errors": (422,), "query": tools.TOOL_QUERY}


@ops.read(
    "/workflow-templates/<ref>/tool", "The function-calling tool of the current version, for one LLM client", **TOOL
)
def get_template_tool(ref):
    return _template_tool(ref)


@ops.read(
    "/workflow-templates/<ref>/versions/<int:number>/tool",
    "The function-calling tool of one version, for one LLM client",
    **TOOL,
)
def get_template_version_tool(ref, number):
    return _template_tool(ref, number)
