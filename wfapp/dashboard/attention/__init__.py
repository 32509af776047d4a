"""The operator's queue: what needs a human now (/attention)."""
