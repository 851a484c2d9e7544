"""Subscriptions: who receives Tidings, and whether they confirmed."""
