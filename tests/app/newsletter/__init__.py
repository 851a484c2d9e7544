"""Tests of the newsletter: app/newsletter/."""
