"""``credence serve`` as a user runs it: it says where it listens and stops cleanly on a signal."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import csrf_of
from tests.web.world import World, build


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A small populated store (the web tests' world) on disk."""
    w = build(tmp_path_factory.mktemp("serve") / "data")
    w.close()
    yield w


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A ``credence serve`` process and what it printed."""

    def __init__(self, world: World) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cli = str(Path(sys.executable).with_name("credence"))
        self.proc = subprocess.Popen(
            [cli, "serve", "--policy", "city-merit", "--port", str(self.port), *self._data(world)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/sign-in", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
            assert self.proc.poll() is None, self.output
        self.proc.kill()
        raise AssertionError(f"the server did not answer within 60 s: {self.output}")

    @staticmethod
    def _data(world: World) -> list[str]:
        return ["--data", str(world.store.folder)]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        """Everything the server printed so far."""
        return "".join(self.lines)

    def stop(self, sig: int) -> tuple[int, float]:
        """Send ``sig``; the exit code and the seconds it took to exit."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"still running 30 s after the signal: {self.output}") from None
        took = time.monotonic() - start
        self._reader.join(5)
        return code, took


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_url_and_landing_pages_and_exits_0_on_the_first_signal(
    store: World, sig: int
) -> None:
    server = Server(store)
    code, took = server.stop(sig)
    assert code == 0, server.output
    assert took < 10
    printed = server.output
    assert f"Credence serving policy city-merit at {server.base}/" in printed
    assert f"sign in     {server.base}/sign-in" in printed
    assert f"subject     {server.base}/portal" in printed
    assert f"reviewer    {server.base}/queue" in printed
    assert f"auditor     {server.base}/analytics" in printed
    assert "Traceback" not in printed
    assert f"Credence stopped ({signal.Signals(sig).name})." in printed


def test_serve_stops_within_10_s_while_a_long_impact_run_is_in_flight(store: World) -> None:
    server = Server(store)
    client = httpx.Client(base_url=server.base, timeout=60)
    sign_in_form = client.get("/sign-in").text
    fields = {"api_key": store.keys["audrey"]}
    if 'name="csrf"' in sign_in_form:  # the sign-in form may carry a CSRF token
        fields["csrf"] = csrf_of(sign_in_form)
    r = client.post("/sign-in", data=fields)
    assert r.status_code == 303, r.text
    lab = client.get("/lab")
    assert lab.status_code == 200, lab.text
    token = csrf_of(lab.text)
    form = {"a": "city-merit@2026.1", "b": "city-merit@2026.2", "csrf": token}
    answers: list[object] = []
    data = {**form, "population": "10000", "years": "10"}
    runner = threading.Thread(target=lambda: answers.append(_post(client, data)), daemon=True)
    runner.start()
    time.sleep(1.5)  # the run is under way (it takes about 8 s alone)
    assert not answers
    code, took = server.stop(signal.SIGTERM)
    runner.join(15)
    assert code == 0, server.output
    assert took < 10, server.output
    assert answers, "the in-flight request got neither an answer nor a closed connection"


def _post(client: httpx.Client, data: dict[str, str]) -> object:
    try:
        return client.post("/lab/diff", data=data)
    except httpx.HTTPError as exc:
        return exc
