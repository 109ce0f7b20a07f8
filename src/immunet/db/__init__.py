"""Storage: the async engine, the declarative base and transaction helpers."""
