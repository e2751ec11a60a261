"""The official SDKs as clients."""
