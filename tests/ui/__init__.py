"""The dashboard and the meeting page, in-process and in a real browser."""
