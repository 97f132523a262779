"""The shell: one layer between the pure core and every runtime (embedded, Kafka, tests).

It turns typed inputs into core calls and core effects into what a runtime must store,
send and count, so the runtimes only move bytes and cannot decide differently.
"""
