"""What a user follows: the examples of README.md and the docs pages, and the container recipe."""
