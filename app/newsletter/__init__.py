"""The newsletter itself: issues, their publication and delivery, and the public archive."""
