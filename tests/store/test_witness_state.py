"""The witness state: compare-and-swap in one write transaction, durable, never rolled back."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import textwrap

import pytest

from pypi_witness.core.tlog.witness import WitnessState
from pypi_witness.core.errors import ConflictError, StoreError
from pypi_witness.store.witness_state import MemoryWitnessState, WitnessStateStore

ORIGIN = "example.org/log"


def state(size: int, fork: str = "") -> WitnessState:
    return WitnessState(size, hashlib.sha256(f"{fork}{size}".encode()).digest())


@pytest.fixture(params=["lmdb", "memory"])
def store(request, tmp_path):
    """Every store keeps the same contract (the memory one serves tests and the simulator)."""
    with WitnessStateStore(tmp_path / "witness") if request.param == "lmdb" else MemoryWitnessState() as s:
        yield s


def test_nothing_is_known_at_first(store):
    assert store.get(ORIGIN) is None
    assert store.all() == {}


def test_a_swap_from_the_expected_state_is_stored(store):
    store.compare_and_swap(ORIGIN, None, state(3))
    store.compare_and_swap(ORIGIN, state(3), state(9))
    store.compare_and_swap("other/log", None, state(1))
    assert store.get(ORIGIN) == state(9)
    assert store.all() == {ORIGIN: state(9), "other/log": state(1)}


def test_the_same_state_again_is_accepted(store):
    store.compare_and_swap(ORIGIN, None, state(3))
    store.compare_and_swap(ORIGIN, state(3), state(3))
    assert store.get(ORIGIN) == state(3)


@pytest.mark.parametrize(("stored", "expected", "known"), [(None, state(3), 0), (state(5), None, 5), (state(5), state(4), 5)])
def test_a_swap_from_another_state_is_a_conflict_naming_the_stored_size(store, stored, expected, known):
    if stored is not None:
        store.compare_and_swap(ORIGIN, None, stored)
    with pytest.raises(ConflictError) as caught:
        store.compare_and_swap(ORIGIN, expected, state(10))
    assert caught.value.known_size == known
    assert store.get(ORIGIN) == stored


@pytest.mark.parametrize("new", [state(4), state(5, fork="fork")])
def test_the_store_itself_refuses_to_roll_back(store, new):
    store.compare_and_swap(ORIGIN, None, state(5))
    with pytest.raises(StoreError, match="refusing to move"):
        store.compare_and_swap(ORIGIN, state(5), new)
    assert store.get(ORIGIN) == state(5)


def test_a_restarted_store_keeps_its_state(tmp_path):
    with WitnessStateStore(tmp_path / "w") as s:
        s.compare_and_swap(ORIGIN, None, state(7))
    with WitnessStateStore(tmp_path / "w") as s:
        assert s.get(ORIGIN) == state(7)
        with pytest.raises(ConflictError):
            s.compare_and_swap(ORIGIN, None, state(2))


def test_open_twice_in_one_process_and_use_after_close_are_refused(tmp_path):
    s = WitnessStateStore(tmp_path / "w")
    with pytest.raises(StoreError, match="already open"):
        WitnessStateStore(tmp_path / "w")
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.get(ORIGIN)
    WitnessStateStore(tmp_path / "w").close()  # closing released it


def test_a_damaged_value_is_a_store_error(tmp_path):
    import lmdb

    with WitnessStateStore(tmp_path / "w") as s:
        s.compare_and_swap(ORIGIN, None, state(7))
    env = lmdb.open(str(tmp_path / "w"), max_dbs=2)
    with env.begin(write=True) as txn:
        txn.put(ORIGIN.encode(), b"short", db=env.open_db(b"state", txn=txn))
    env.close()
    with WitnessStateStore(tmp_path / "w") as s, pytest.raises(StoreError, match="damaged"):
        s.get(ORIGIN)


def test_two_threads_swapping_from_the_same_state_cannot_both_win(store):
    store.compare_and_swap(ORIGIN, None, state(1))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def swap(size: int) -> None:
        expected = store.get(ORIGIN)
        barrier.wait()
        try:
            store.compare_and_swap(ORIGIN, expected, state(size))
            outcomes.append("won")
        except ConflictError as e:
            outcomes.append(f"lost {e.known_size}")

    threads = [threading.Thread(target=swap, args=(size,)) for size in (5, 8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[1] == "won" and sorted(outcomes)[0] in ("lost 5", "lost 8")
    assert store.get(ORIGIN) in (state(5), state(8))


def test_many_threads_racing_to_grow_the_state_each_size_is_won_once(store):
    store.compare_and_swap(ORIGIN, None, state(0))
    wins: list[int] = []

    def grow() -> None:
        for _ in range(60):
            current = store.get(ORIGIN)
            try:
                store.compare_and_swap(ORIGIN, current, state(current.size + 1))
                wins.append(current.size + 1)
            except ConflictError:
                pass

    threads = [threading.Thread(target=grow) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == list(range(1, store.get(ORIGIN).size + 1))


RACER = textwrap.dedent(
    """
    import hashlib, sys
    from pypi_witness.core.tlog.witness import WitnessState
    from pypi_witness.core.errors import ConflictError
    from pypi_witness.store.witness_state import MemoryWitnessState, WitnessStateStore

    def state(size):
        return WitnessState(size, hashlib.sha256(str(size).encode()).digest())

    store = WitnessStateStore(sys.argv[1])
    mode = sys.argv[2]
    if mode == "once":
        expected = store.get("example.org/log")
        print("ready", flush=True)
        sys.stdin.readline()
        try:
            store.compare_and_swap("example.org/log", expected, state(int(sys.argv[3])))
            print("won", flush=True)
        except ConflictError as e:
            print(f"lost {e.known_size}", flush=True)
    else:
        print("ready", flush=True)
        sys.stdin.readline()
        for _ in range(150):
            current = store.get("example.org/log")
            try:
                store.compare_and_swap("example.org/log", current, state(current.size + 1))
                print(current.size + 1, flush=True)
            except ConflictError:
                pass
    store.close()
    """
)


def _race(tmp_path, args_per_process: list[list[str]]) -> list[list[str]]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / "w"), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for args in args_per_process
    ]
    for p in processes:
        assert p.stdout.readline() == "ready\n"
    for p in processes:  # both have read the state: let them swap
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=60)[0].split() for p in processes]
    assert all(p.returncode == 0 for p in processes)
    return outputs


def test_two_processes_swapping_from_the_same_state_cannot_both_win(tmp_path):
    with WitnessStateStore(tmp_path / "w") as s:
        s.compare_and_swap(ORIGIN, None, WitnessState(1, hashlib.sha256(b"1").digest()))
    first, second = _race(tmp_path, [["once", "5"], ["once", "8"]])
    outcomes = sorted([" ".join(first), " ".join(second)])
    assert outcomes[1] == "won" and outcomes[0] in ("lost 5", "lost 8")


def test_processes_racing_to_grow_the_state_each_size_is_won_once(tmp_path):
    with WitnessStateStore(tmp_path / "w") as s:
        s.compare_and_swap(ORIGIN, None, WitnessState(0, hashlib.sha256(b"0").digest()))
    outputs = _race(tmp_path, [["grow"], ["grow"]])
    wins = sorted(int(n) for out in outputs for n in out)
    with WitnessStateStore(tmp_path / "w") as s:
        final = s.get(ORIGIN).size
    assert wins == list(range(1, final + 1))


def test_swaps_from_many_threads_at_once_are_all_committed_each_checked_alone(store):
    # Threads swapping their own logs share transactions; a conflicting swap fails alone.
    barrier = threading.Barrier(12)
    failures: list[tuple[str, int]] = []

    def grow(origin: str) -> None:
        barrier.wait()
        previous = None
        for size in range(1, 21):
            store.compare_and_swap(origin, previous, state(size))
            previous = state(size)
            try:
                store.compare_and_swap(origin, state(size - 1) if size > 1 else None, state(size + 100))
            except ConflictError as e:
                failures.append((origin, e.known_size))

    threads = [threading.Thread(target=grow, args=(f"log/{i}",)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.all() == {f"log/{i}": state(20) for i in range(12)}
    assert sorted(failures) == sorted((f"log/{i}", size) for i in range(12) for size in range(1, 21))


def test_a_full_map_is_named_as_such_and_nothing_is_stored(tmp_path):
    """The witness state's LMDB errors name their cause (here its map, made tiny), never a raw lmdb error."""
    from pypi_witness.core.errors import StoreFullError

    with WitnessStateStore(tmp_path / "witness", map_size=64 << 10) as small:
        stored = 0
        with pytest.raises(StoreFullError, match="map is full"):
            for i in range(10_000):
                small.compare_and_swap(f"log{i:05d}.example/{'x' * 200}", None, state(1))
                stored += 1
        assert 0 < stored < 10_000
        assert small.get(f"log{stored:05d}.example/{'x' * 200}") is None
        assert len(small.all()) == stored
