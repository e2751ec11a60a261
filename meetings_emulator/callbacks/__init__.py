"""Delivery over the network: the sender, its keep-alive poster, and a receiver."""
