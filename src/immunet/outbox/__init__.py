"""The SMS outbox: messages enqueued with the business write, delivered by workers."""
