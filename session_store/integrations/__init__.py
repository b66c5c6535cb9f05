"""Thin layers that put a :class:`~session_store.DynamoDBAdapter` behind agent frameworks' memory.

Each module imports its framework, which the core install does not pull in:
install the matching extra (``session-store[openai-agents]``,
``session-store[langchain]``) before importing it.
"""
