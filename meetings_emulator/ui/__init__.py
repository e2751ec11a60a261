"""Pages for people: the dashboard, the meeting page and their event stream."""
