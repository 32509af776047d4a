"""The transactional outbox: jobs, the dispatcher, outbound HTTP."""
