"""The wire: requests parsed, domain called, answers rendered."""
