"""The Meetings API and the control plane over HTTP: status codes, bodies, headers."""
