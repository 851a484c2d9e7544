"""Tests of the whole stack from outside, on the host: make faults."""
