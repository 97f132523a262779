"""Session fixtures live in tests/fixtures/, one module per real service."""

pytest_plugins = [
    "tests.fixtures.kafka_runtime",
    "tests.fixtures.browser",
    "tests.fixtures.crash_stream",
    "tests.fixtures.push_emulator",
    "tests.fixtures.runtime",
    "tests.fixtures.services",
]
