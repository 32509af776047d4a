"""The workflow template editor: one HTML form for a definition (new template or new version).

Builder fields are rows named ``f-<i>-<attr>``, dependencies ``d-<i>-<attr>``, the end action
``ea-<attr>``; each of these sections can switch to a raw JSON textarea (sections.py). Reading
the form collects mistakes of the form itself (a duplicate key, a number that is not a number,
JSON that does not parse); everything else is checked by the services the API uses
(wfapp.services.workflow_templates.validate_definition and the API's request schemas), and their
errors are routed back beside the row and input they name (definition.py).

- state.py: EditorState, the form's texts and errors; reading the posted form
- fields.py, dependencies.py, end_action.py: the codecs, form values <-> definition parts
- sections.py: the form / raw JSON switch of each part; definition.py: the whole definition
- ops.py: add, remove, reorder rows; views.py: what routes.py answers
"""

from wfapp.dashboard.workflow_templates.editor.views import initial_state, op, page, preview, save

__all__ = ["initial_state", "op", "page", "preview", "save"]
