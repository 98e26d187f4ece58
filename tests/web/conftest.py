"""The web app end to end: one real songlens server (see :mod:`tests.web.harness`) and one
headless Debian chromium driven by playwright, shared by the module's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.harness import (
    CHROMIUM,
    ROOT,
    chromium_missing,
    ingest_songs,
    start_server,
    stop_server,
)

#: screenshots of each page, for a person to look at (ignored by git)
ARTIFACTS = ROOT / "test-artifacts" / "web"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A real server with the three clips ingested: its base URL and its data folder."""
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("webapp")
    proc, base = start_server(folder)
    try:
        ingest_songs(base)
        yield base, folder / "data"
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def server(served) -> str:
    return served[0]


@pytest.fixture(scope="module")
def browser():
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def context(browser, server):
    ctx = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900},
                              accept_downloads=True, locale="zh-CN")
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    """A fresh tab; a script error on the page fails the test."""
    errors: list[str] = []
    pg = context.new_page()
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    pg.close()
    assert not errors, errors


@pytest.fixture
def shot():
    """``shot(page, name)`` saves a screenshot as test-artifacts/web/<name>.png."""

    def save(page, name: str, *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return save


@pytest.fixture
def open_page(page):
    """``open_page(path)`` opens ``/#path`` in the tab and waits until the page has rendered."""

    def go(path: str):
        page.goto(f"/#{path}")
        page.wait_for_selector("#view[data-ready='1']")
        return page

    return go
