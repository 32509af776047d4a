"""/api/workflow-templates"""

from flask import g, jsonify, request

from wfapp.api import bp
from wfapp.api.auth import ADMIN, READ
from wfapp.api.operations import operation
from wfapp.api.serializers import template_version_json, workflow_template_json
from wfapp.errors import ValidationFailed
from wfapp.extensions import db
from wfapp.schemas import tools
from wfapp.schemas.api import WORKFLOW_TEMPLATE_CREATE, WORKFLOW_TEMPLATE_PATCH, WORKFLOW_TEMPLATE_UPDATE
from wfapp.schemas.state_schema import compiled_for_version
from wfapp.services import directory
from wfapp.services import workflow_templates as svc

TAG = "workflow templates"


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


@operation(
    bp,
    "/workflow-templates",
    "GET",
    summary="List workflow templates",
    roles=READ,
    response="WorkflowTemplateList",
    tag=TAG,
    errors=(422,),
    query=[
        {"name": "category", "schema": {"type": "string"}},
        {"name": "is_active", "schema": {"type": "string", "enum": ["true", "false"]}},
        {"name": "user_id", "schema": {"type": "string"}, "description": "only those this end user may start"},
    ],
)
def list_workflow_templates():
    user_type_id = None
    if request.args.get("user_id"):
        user = db.session.get(directory.EndUser, request.args["user_id"])
        if user is None:
            raise ValidationFailed("unknown user_id", [{"path": "/query/user_id", "message": "no such end user"}])
        user_type_id = user.user_type_id
    items = svc.list_workflow_templates(db.session, request.args.get("category"), _bool_arg("is_active"), user_type_id)
    return jsonify({"items": [workflow_template_json(t) for t in items]})


@operation(
    bp,
    "/workflow-templates",
    "POST",
    summary="Create a workflow template (version 1)",
    roles=ADMIN,
    body=WORKFLOW_TEMPLATE_CREATE,
    body_name="WorkflowTemplateCreate",
    response="WorkflowTemplate",
    status=201,
    errors=(409,),
    tag=TAG,
)
def create_workflow_template(body):
    template = svc.create_workflow_template(db.session, body, g.actor)
    db.session.commit()
    return jsonify(workflow_template_json(template)), 201, {"Location": f"/api/workflow-templates/{template.id}"}


@operation(
    bp,
    "/workflow-templates/<ref>",
    "GET",
    summary="A workflow template by id or name",
    roles=READ,
    response="WorkflowTemplate",
    errors=(404,),
    tag=TAG,
)
def get_workflow_template(ref):
    return jsonify(workflow_template_json(svc.get_workflow_template(db.session, ref)))


@operation(
    bp,
    "/workflow-templates/<ref>",
    "PUT",
    summary="Change the definition (a new version when it differs)",
    roles=ADMIN,
    body=WORKFLOW_TEMPLATE_UPDATE,
    body_name="WorkflowTemplateUpdate",
    response="WorkflowTemplate",
    errors=(404, 409),
    tag=TAG,
)
def update_workflow_template(ref, body):
    template = svc.get_workflow_template(db.session, ref)
    svc.update_workflow_template(db.session, template, body, g.actor)
    db.session.commit()
    return jsonify(workflow_template_json(template))


@operation(
    bp,
    "/workflow-templates/<ref>",
    "PATCH",
    summary="Activate, deactivate or recategorise (no new version)",
    roles=ADMIN,
    body=WORKFLOW_TEMPLATE_PATCH,
    body_name="WorkflowTemplatePatch",
    response="WorkflowTemplate",
    errors=(404,),
    tag=TAG,
)
def patch_workflow_template(ref, body):
    template = svc.get_workflow_template(db.session, ref)
    svc.set_template_flags(db.session, template, body.get("is_active"), body.get("category"))
    db.session.commit()
    return jsonify(workflow_template_json(template))


@operation(
    bp,
    "/workflow-templates/<ref>",
    "DELETE",
    summary="Delete a workflow template that has no workflows",
    roles=ADMIN,
    status=204,
    errors=(404, 409),
    tag=TAG,
)
def delete_workflow_template(ref):
    template = svc.get_workflow_template(db.session, ref)
    svc.delete_workflow_template(db.session, template)
    db.session.commit()
    return "", 204


@operation(
    bp,
    "/workflow-templates/<ref>/versions",
    "GET",
    summary="The versions of a workflow template",
    roles=READ,
    response="TemplateVersionList",
    errors=(404,),
    tag=TAG,
)
def list_template_versions(ref):
    template = svc.get_workflow_template(db.session, ref)
    return jsonify({"items": [template_version_json(v, template) for v in svc.list_versions(db.session, template)]})


@operation(
    bp,
    "/workflow-templates/<ref>/versions/<int:number>",
    "GET",
    summary="One version of a workflow template",
    roles=READ,
    response="TemplateVersion",
    errors=(404,),
    tag=TAG,
)
def get_template_version(ref, number):
    template = svc.get_workflow_template(db.session, ref)
    return jsonify(template_version_json(svc.get_version(db.session, template, number), template))


@operation(
    bp,
    "/workflow-templates/<ref>/tool",
    "GET",
    summary="The function-calling tool of the current version, for one LLM client",
    roles=READ,
    response="Tool",
    errors=(404, 422),
    tag=TAG,
    query=tools.TOOL_QUERY,
)
def get_template_tool(ref):
    dialect = tools.check_dialect(request.args.get("dialect"))
    template = svc.get_workflow_template(db.session, ref)
    return jsonify(tools.template_tool(template.name, compiled_for_version(template.current_version), dialect))


@operation(
    bp,
    "/workflow-templates/<ref>/versions/<int:number>/tool",
    "GET",
    summary="The function-calling tool of one version, for one LLM client",
    roles=READ,
    response="Tool",
    errors=(404, 422),
    tag=TAG,
    query=tools.TOOL_QUERY,
)
def get_template_version_tool(ref, number):
    dialect = tools.check_dialect(request.args.get("dialect"))
    template = svc.get_workflow_template(db.session, ref)
    version = svc.get_version(db.session, template, number)
    return jsonify(tools.template_tool(template.name, compiled_for_version(version), dialect))
