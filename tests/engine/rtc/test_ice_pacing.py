"""The answering side's ICE returns as soon as its check list completes, and still paces its checks.

aioice's own ``connect()`` looks at its check list only between 20 ms pacing sleeps, and an answerer
whose offer carried no candidates keeps sleeping until the list completes;
:mod:`voxgate.engine.rtc.ice_pacing` replaces that wait. These tests run two real aioice agents on
127.0.0.1 (the ``loopback_ice`` fixture).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import aioice
import pytest

from voxgate.engine.rtc.ice_pacing import MIRRORED_VERSIONS, prompt_connect


def test_the_installed_aioice_is_the_one_mirrored() -> None:
    # prompt_connect copies aioice's connect() and uses its private members; on another release it
    # leaves aioice alone, and this test says someone has to compare the two again.
    assert aioice.__version__ in MIRRORED_VERSIONS, (
        f"aioice {aioice.__version__}: compare Connection.connect() with "
        "voxgate.engine.rtc.ice_pacing._connect, "
        "then add the version to MIRRORED_VERSIONS"
    )


def agents() -> tuple[aioice.Connection, aioice.Connection]:
    """A controlling agent (the browser) and a controlled one (the engine), credentials exchanged."""
    browser = aioice.Connection(ice_controlling=True, components=1)
    engine = aioice.Connection(ice_controlling=False, components=1)
    browser.remote_username, browser.remote_password = engine.local_username, engine.local_password
    engine.remote_username, engine.remote_password = browser.local_username, browser.local_password
    return browser, engine


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A bound UDP port that never answers: a candidate there fails only by timing out."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


async def test_connect_returns_when_the_list_completes_without_another_tick() -> None:
    browser, engine = agents()
    assert prompt_connect(engine)
    # As with a browser's offer: the engine gets no candidates and learns the browser's address from
    # its checks; more candidates "may come", so aioice's own loop would only stop on a tick after
    # the list completed.
    ticks_after_completion = 0
    periodic = engine._check_periodic

    def counting() -> bool:
        nonlocal ticks_after_completion
        ticks_after_completion += engine._check_list_done
        return periodic()

    engine._check_periodic = counting  # type: ignore[method-assign]
    try:
        await asyncio.gather(browser.gather_candidates(), engine.gather_candidates())
        for candidate in engine.local_candidates:
            await browser.add_remote_candidate(candidate)
        await browser.add_remote_candidate(None)
        async with asyncio.timeout(10):
            await asyncio.gather(browser.connect(), engine.connect())
        assert engine._nominated, "the engine's side has a nominated pair"
        assert ticks_after_completion == 0
        # The connection works both ways.
        await browser.send(b"ping")
        async with asyncio.timeout(5):
            assert await engine.recv() == b"ping"
    finally:
        await asyncio.gather(browser.close(), engine.close())


async def test_checks_are_still_paced_past_a_candidate_that_never_answers(silent_port: int) -> None:
    browser, engine = agents()
    assert prompt_connect(engine)
    try:
        await asyncio.gather(browser.gather_candidates(), engine.gather_candidates())
        # The engine's first pair (highest priority) goes nowhere; the next one is the browser.
        dead = aioice.Candidate(
            foundation="dead",
            component=1,
            transport="udp",
            priority=0x7FFFFFFF,
            host="127.0.0.1",
            port=silent_port,
            type="host",
        )
        await engine.add_remote_candidate(dead)
        for candidate in browser.local_candidates:
            await engine.add_remote_candidate(candidate)
        await engine.add_remote_candidate(None)
        for candidate in engine.local_candidates:
            await browser.add_remote_candidate(candidate)
        await browser.add_remote_candidate(None)
        async with asyncio.timeout(10):  # a STUN transaction to the dead port alone takes ~40 s
            await asyncio.gather(browser.connect(), engine.connect())
        pair = engine._nominated[1]
        assert pair.remote_candidate.port != silent_port
    finally:
        await asyncio.gather(browser.close(), engine.close())


async def test_ice_fails_cleanly_when_nothing_answers(silent_port: int) -> None:
    browser, engine = agents()
    assert prompt_connect(engine)
    try:
        await engine.gather_candidates()
        dead = aioice.Candidate("dead", 1, "udp", 100, "127.0.0.1", silent_port, "host")
        await engine.add_remote_candidate(dead)
        await engine.add_remote_candidate(None)
        close = asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(engine.close()))
        with pytest.raises(ConnectionError, match="ICE negotiation failed"):
            async with asyncio.timeout(10):
                await engine.connect()
        close.cancel()
    finally:
        await asyncio.gather(browser.close(), engine.close())
