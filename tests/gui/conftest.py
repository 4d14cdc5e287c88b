"""Window-level GUI tests use the suite-wide ``window`` and ``qt_messages`` fixtures
(tests/conftest.py)."""
