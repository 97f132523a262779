"""Several workers on one machine with the default flags: each takes the first free
`.pushcast/kafka/worker-N` and metrics port 9464 + N - 1; a folder or port given
explicitly that another worker holds is an error naming the flag, before Faust starts."""

import os
import socket

import pytest

from engine.agents import slot
from engine.cli import build_parser
from engine.cli_worker import prepare


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    held = len(slot._held)
    yield
    while len(slot._held) > held:  # let go of this test's folders
        os.close(slot._held.pop())


def test_workers_on_one_machine_take_the_next_free_folder_and_port():
    first, second = slot.claim(None, None), slot.claim(None, None)
    assert (first.number, str(first.data_dir), first.metrics_port) == (1, ".pushcast/kafka/worker-1", 9464)
    assert (second.number, str(second.data_dir), second.metrics_port) == (2, ".pushcast/kafka/worker-2", 9465)
    assert (first.data_dir / ".lock").read_text().strip().isdigit()
    assert slot.claim(None, 0).metrics_port is None  # 0: metrics off
    assert slot.claim(None, 9999).metrics_port == 9999


def test_a_folder_released_by_a_stopped_worker_is_taken_again():
    first = slot.claim(None, None)
    os.close(slot._held.pop())  # as the kernel does when the process dies (kill -9 too)
    again = slot.claim(None, None)
    assert again.data_dir == first.data_dir and again.number == 1


def test_an_explicit_data_dir_in_use_is_an_error_naming_the_flag(tmp_path):
    slot.claim(tmp_path / "store", None)
    with pytest.raises(slot.SlotError) as error:
        slot.claim(tmp_path / "store", None)
    message = str(error.value)
    assert message.startswith(f"--data-dir {tmp_path / 'store'} is in use by another worker on this machine (pid ")
    assert "give each worker its own --data-dir" in message


def test_a_data_dir_that_cannot_be_made_is_an_error_naming_the_flag(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(slot.SlotError, match=r"^--data-dir .*file/store: Not a directory"):
        slot.claim(tmp_path / "file" / "store", None)


def _worker_args(tmp_path, *extra):
    from connectors.push.vapid import generate_keys

    generate_keys(tmp_path / "k.pem")
    (tmp_path / "pushcast.yaml").write_text(f"vapid: {{key: {tmp_path / 'k.pem'}, subject: mailto:a@shop.example}}\n")
    (tmp_path / "campaigns").mkdir()
    return build_parser().parse_args(["worker", "--config", str(tmp_path / "pushcast.yaml"), "--redis", "none",
                                      "--campaigns", str(tmp_path / "campaigns"), "--kafka", "127.0.0.1:1", *extra])


def test_a_metrics_port_in_use_is_an_error_naming_the_flag_before_kafka_is_asked(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(slot.SlotError) as error:
            prepare(_worker_args(tmp_path, "--metrics-port", str(port)))
    assert str(error.value).startswith(f"--metrics-port: cannot listen on 127.0.0.1:{port}: Address already in use")


def test_an_api_port_in_use_is_an_error_naming_the_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("PUSHCAST_ADMIN_TOKEN", "t" * 32)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(slot.SlotError, match=rf"^--api-port: cannot listen on 127.0.0.1:{port}"):
            prepare(_worker_args(tmp_path, "--api-port", str(port), "--metrics-port", "0"))


def test_bind_addresses_default_to_loopback():
    args = build_parser().parse_args(["worker"])
    assert args.metrics_host == "127.0.0.1" and args.api_host == "127.0.0.1"
    assert args.data_dir is None and args.metrics_port is None  # chosen per worker (slot.claim)


@pytest.mark.parametrize("flag, value, message", [
    ("--partitions", "0", "--partitions: must be at least 1, got 0"),
    ("--sends-partitions", "-1", "--sends-partitions: must be at least 1, got -1"),
    ("--metrics-port", "70000", "--metrics-port: must be a port number 0..65535 (0: off), got 70000"),
    ("--reach-processes", "-1", "--reach-processes: must be 0 (count in the worker's thread) or more, got -1"),
])
def test_impossible_counts_and_ports_are_errors_naming_the_flag(tmp_path, flag, value, message):
    from engine.rules.errors import PushcastError

    with pytest.raises(PushcastError) as error:
        prepare(_worker_args(tmp_path, flag, value))
    assert str(error.value) == message
