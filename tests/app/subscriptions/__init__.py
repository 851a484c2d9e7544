"""Tests of subscriptions: app/subscriptions/."""
