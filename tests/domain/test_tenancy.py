"""Tenants in the domain: worlds apart, codes shared out, seeds that repeat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meetings_emulator.domain import snapshot
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import ConflictError, InputValidationError, NotFoundError
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.models import RoomSettings
from meetings_emulator.domain.settings import Settings
from meetings_emulator.domain.tenancy import Tenancy, TenantRequest, tenant_seed

from ..conftest import START


def tenancy(seed: int | None = 3, **limits: int) -> Tenancy:
    return Tenancy(
        Emulator(Settings(seed=seed), clock=Clock.frozen_at(START), ids=Ids(seed)), **limits
    )


def available_codes(world: Tenancy) -> list[str]:
    return [
        room.meeting_code
        for emulator in world.emulators()
        for room in emulator.rooms.all()
        if room.is_available
    ]


@settings(max_examples=25, deadline=None)
@given(
    tenants=st.integers(min_value=1, max_value=4),
    rooms=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=30),
)
def test_available_meeting_codes_are_unique_across_tenants(tenants: int, rooms: list[int]) -> None:
    # Every tenant draws from the same seed, so each would take the others' codes.
    world = tenancy()
    emulators = [world.default] + [
        world.create(TenantRequest(name=f"t{n}", seed=3, frozen=True)).emulator
        for n in range(tenants)
    ]
    for pick in rooms:
        emulators[pick % len(emulators)].rooms.create(RoomSettings(display_name="r"))
    codes = available_codes(world)
    assert len(codes) == len(rooms)
    assert len(set(codes)) == len(codes)


def test_moving_one_tenants_clock_expires_its_rooms_alone() -> None:
    world = tenancy()
    a = world.create(TenantRequest(name="a", frozen=True)).emulator
    b = world.create(TenantRequest(name="b", frozen=True)).emulator
    room_a = a.rooms.create(RoomSettings(display_name="a"))
    room_b = b.rooms.create(RoomSettings(display_name="b"))
    shared = world.default.rooms.create(RoomSettings(display_name="shared"))
    a.advance(timedelta(minutes=10, seconds=1))
    assert [room_a.is_available, room_b.is_available, shared.is_available] == [False, True, True]
    assert [event.name for event in a.events] == ["room:expired"]
    assert [event.name for event in b.events] == []
    assert b.clock.now() == START
    assert world.default.clock.now() == START


def test_a_tenant_seed_is_made_of_the_server_seed_and_the_name() -> None:
    assert tenant_seed(None, "a") is None
    assert tenant_seed(1, "a") == tenant_seed(1, "a")
    assert len({tenant_seed(1, "a"), tenant_seed(1, "b"), tenant_seed(2, "a")}) == 3
    first, second = tenancy(seed=9), tenancy(seed=9)
    made = [w.create(TenantRequest(name="same", frozen=True)) for w in (first, second)]
    assert made[0].describe() == made[1].describe()
    rooms = [t.emulator.rooms.create(RoomSettings(display_name="r")) for t in made]
    assert rooms[0].id == rooms[1].id


def test_a_snapshot_may_not_take_a_code_another_tenant_holds() -> None:
    world = tenancy()
    a = world.create(TenantRequest(name="a", frozen=True)).emulator
    b = world.create(TenantRequest(name="b", frozen=True)).emulator
    room = a.rooms.create(RoomSettings(display_name="mine"))
    state = snapshot.export_state(a)
    before = snapshot.export_state(b)
    with pytest.raises(InputValidationError) as refused:
        snapshot.import_state(b, state)
    assert f"repeats {room.meeting_code}, the code of an available room of another tenant" in str(
        refused.value
    )
    assert snapshot.export_state(b) == before


def test_names_and_limits() -> None:
    world = tenancy(max_tenants=2)
    world.create(TenantRequest(name="x"))
    with pytest.raises(ConflictError, match="A tenant named x already exists"):
        world.create(TenantRequest(name="x"))
    assert world.create(TenantRequest()).name == "tenant-1"
    with pytest.raises(ConflictError, match="There are already 2 tenants"):
        world.create(TenantRequest())
    world.drop("x")
    with pytest.raises(NotFoundError, match="No tenant named x"):
        world.get("x")
    assert world.by_api_key(world.get("tenant-1").api_key) is world.get("tenant-1")
