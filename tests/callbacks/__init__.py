"""Deliveries to real receivers over real sockets."""
