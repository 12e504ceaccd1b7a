"""Surgeguard: capacity in place before the traffic arrives, every decision explained."""
