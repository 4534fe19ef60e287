"""Pure metric functions (numpy in, numbers out)."""
