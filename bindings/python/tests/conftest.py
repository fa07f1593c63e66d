"""Shared helpers: the c104 peer scripts of the iec104 interop tests, free ports."""

import os
import socket

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
C104_SERVER = os.path.join(ROOT, "iec104", "tests", "interop", "c104_server.py")
C104_CLIENT = os.path.join(ROOT, "iec104", "tests", "interop", "c104_client.py")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def port() -> int:
    return free_port()
