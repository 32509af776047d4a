"""The operator's pages: the workflows monitor and a workflow's detail page."""
