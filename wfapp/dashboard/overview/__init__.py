"""The overview page (counts, charts, incidents, recent activity) and template analytics."""
