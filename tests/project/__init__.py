"""What a user follows: README's examples and the container recipe."""
