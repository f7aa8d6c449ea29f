"""LLM backends behind one interface, and the plumbing every call goes through (cache, retries,
rate limits, token and cost accounting, budgets)."""
