"""The emulator against its own OpenAPI document, the official one and the guide."""
