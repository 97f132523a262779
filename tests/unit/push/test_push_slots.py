"""Slots: the Sender's bound on exchanges in flight, handed over in arrival order."""

import asyncio

import pytest

from connectors.push.slots import Slots


async def hold(slots: Slots, name: str, order: list, gate: asyncio.Event) -> None:
    if not slots.take():
        await slots.wait()
    order.append(name)
    try:
        await gate.wait()
    finally:
        slots.release()


def test_count_must_be_positive():
    with pytest.raises(ValueError):
        Slots(0)


def test_take_until_none_free_then_release_frees_one():
    slots = Slots(2)
    assert slots.take() and slots.take()
    assert not slots.take()
    slots.release()
    assert slots.take()
    assert not slots.take()


async def test_waiters_get_released_slots_in_arrival_order():
    slots, order, gate = Slots(1), [], asyncio.Event()
    tasks = [asyncio.create_task(hold(slots, name, order, gate)) for name in "abcd"]
    await asyncio.sleep(0)
    assert order == ["a"]  # one slot: the others wait
    gate.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c", "d"]
    assert slots.free == 1


async def test_a_released_slot_goes_to_a_waiter_not_a_newcomer():
    slots = Slots(1)
    assert slots.take()
    waiter = asyncio.create_task(slots.wait())
    await asyncio.sleep(0)
    slots.release()  # handed to the waiter, which has not run yet
    assert not slots.take()
    await waiter
    assert slots.free == 0  # the waiter holds it


async def test_a_cancelled_waiter_is_skipped():
    slots = Slots(1)
    assert slots.take()
    first = asyncio.create_task(slots.wait())
    second = asyncio.create_task(slots.wait())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    slots.release()
    await asyncio.wait_for(second, 5)  # got the slot the cancelled one would have had
    assert first.cancelled()
    slots.release()
    assert slots.free == 1


async def test_a_waiter_cancelled_after_being_handed_a_slot_passes_it_on():
    slots = Slots(1)
    assert slots.take()
    first = asyncio.create_task(slots.wait())
    second = asyncio.create_task(slots.wait())
    await asyncio.sleep(0)
    slots.release()  # handed to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    await asyncio.sleep(0)
    await asyncio.wait_for(second, 5)  # a lost slot would leave it waiting forever
    assert first.cancelled()
    assert slots.free == 0  # `second` holds the one slot; none was lost or doubled
    slots.release()
    assert slots.free == 1
