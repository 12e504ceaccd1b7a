"""Fault-injection and concurrency suites for the three Lambdas (issues 7 and 12).

- test_faults.py: every AWS call on each handler's path fails in turn (throttling, 5xx, timeouts, a
  response lost after the call took effect, the runtime killing the function); the delivery then comes
  again. Cases are enumerated from the recorded fault-free paths (recording.py).
- test_concurrency.py: alarm Lambdas racing for one group on a ThreadedMotoServer, with forced
  interleavings.

injector.py hooks botocore events of the handlers' real clients; world.py / harness.py build the moto
world once per module and reset it between cases; scenarios.py names the deliveries.
"""
