"""Deterministic replay of real traffic through a simulated EC2 Auto Scaling group."""
