"""Use cases. Each takes the session, flushes, and never commits: the caller owns the transaction."""
