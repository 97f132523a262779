"""`pushcast gateway`: the HTTP API of `pushcast run` in front of Kafka workers.

Stateless: events and reports become records of the events topic (keyed by user,
idempotent producer, acks=all); questions about users go to the workers that own them
(engine/agents/reach.py, send_test.py). Start as many as you like behind a load balancer.
"""
