"""The operator's console beyond the queue: starting workflows, saved monitor views, version
migrations, and relative times ("3 min ago", the exact UTC time on hover)."""
