"""The rules of the Meetings API in plain Python: no HTTP, no sockets, no files."""
