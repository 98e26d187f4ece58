"""What a user sees in the web app, in a real headless chromium against a real server with three
real clips ingested (see conftest.py). Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import io
import re
import time

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.web.harness import AUDIO

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def until(page, predicate: str, *, timeout_s: float = 20.0):
    """Wait until the JS ``predicate`` (a function body's expression) is truthy. Playwright's
    ``wait_for_function`` polls with ``eval``, which the shell's Content-Security-Policy
    forbids (as it should); ``evaluate`` is not subject to it."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(f"() => {predicate}")
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s} s: {predicate}")
        page.wait_for_timeout(100)


def _titles(page, selector: str = ".results .song-row .title") -> list[str]:
    return page.locator(selector).all_inner_texts()


def test_serve_prints_the_app_url_first(served):
    base, data = served
    first = (data.parent / "server.log").read_text("utf-8").splitlines()[0]
    assert first.startswith(f"songlens web app: {base}/"), first


@pytest.mark.parametrize(("query", "expected"), [
    ("适合深夜学习的安静钢琴", "夜曲 Nocturne"),
    ("heavy guitar riffs", "Chaos God"),
])
def test_text_search_finds_the_song(open_page, shot, query, expected):
    page = open_page("/")
    page.fill("#search-text", query)
    page.click("#search-go")
    page.wait_for_selector(".results .results-title:has-text('文字搜索')")
    titles = _titles(page)
    assert titles and titles[0] == expected, titles
    # each row shows what a person scans: tags, tempo, key, a play button
    row = page.locator(".results .song-row").first
    assert row.locator(".chip").count() >= 1
    assert "BPM" in row.locator(".tempo").inner_text()
    assert row.locator("button.play").is_enabled()
    if expected == "夜曲 Nocturne":
        shot(page, "catalogue-search")


def test_clip_search_finds_the_same_song(open_page, shot):
    page = open_page("/")
    # the last 5 s of a clip, re-encoded: a near-duplicate of a catalogue song
    y, sr = sf.read(AUDIO / "armygeddon.ogg")
    buf = io.BytesIO()
    sf.write(buf, np.asarray(y[-5 * sr:]), sr, format="FLAC")
    page.set_input_files("#search-clip", files=[{"name": "excerpt.flac", "mimeType": "audio/flac",
                                                 "buffer": buf.getvalue()}])
    page.wait_for_selector(".results .results-title:has-text('片段搜索')")
    page.wait_for_selector(".results .song-row")
    assert _titles(page)[0] == "Armygeddon 末日军团"
    shot(page, "catalogue-clip")


def test_catalogue_browses_with_facets(open_page, shot):
    page = open_page("/")
    page.wait_for_selector(".results .song-row")
    assert sorted(_titles(page)) == sorted(["夜曲 Nocturne", "Chaos God", "Armygeddon 末日军团"])
    # facets per dimension with bilingual labels and counts; ticking one filters the list
    study = page.locator(".facet input[data-dim='scene'][data-tag='学习']")
    label = page.locator(".facet-tag:has(input[data-dim='scene'][data-tag='学习'])")
    assert label.locator(".count").inner_text() == "1"
    assert page.locator(".facet.dim-scene summary").inner_text().split() == ["场景", "Scene"]
    study.check()
    until(page, "document.querySelectorAll('.results .song-row').length === 1")
    assert _titles(page) == ["夜曲 Nocturne"]
    shot(page, "catalogue-facets")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "catalogue-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways at phone width ({width} px)"


def test_song_page_shows_tags_evidence_and_chart(open_page, shot):
    page = open_page("/song/yequ")
    assert page.locator("h1").inner_text() == "夜曲 Nocturne"
    # tags per dimension with their score and evidence in words
    study = page.locator(".tag-item[data-dim='scene'][data-tag='学习']")
    assert study.count() == 1
    evidence = study.locator(".evidence").all_inner_texts()
    assert any("评论" in e and "comment" in e for e in evidence), evidence
    assert any("考研的时候天天听" in e for e in evidence), evidence  # the comment quoted
    # the audio-feature chart: one bar per feature, and tempo/key/Camelot/loudness
    bars = page.locator("svg.chart.bars .bar-row")
    assert bars.count() == 6
    assert "BPM" in page.locator(".facts-grid").inner_text()
    # similar songs, each playable, with their reasons
    page.wait_for_selector(".similar .song-row")
    assert page.locator(".similar .song-row button.play").count() >= 1
    # the tag timeline as a heat strip, the lyrics with a language per line
    assert page.locator("svg.chart.heat rect.cell").count() >= 8
    # the instruments heard, each with its Chinese and English name, and where the voice is
    inst = page.locator("section:has-text('Instruments and voice')")
    assert inst.count() == 1 and "人声" in inst.inner_text()
    for chip in page.locator(".chip.instrument").all_inner_texts():
        assert re.search(r"[\u4e00-\u9fff]", chip) and re.search(r"[a-z]", chip), chip
    lyrics = page.locator(".lyrics li")
    assert lyrics.count() == 3 and "华语" in lyrics.first.inner_text()
    shot(page, "song")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "song-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways at phone width ({width} px)"


def test_song_audio_loads_and_seeks(open_page):
    page = open_page("/song/chaos-god")
    audio = page.locator("#song-audio")
    until(page, "document.querySelector('#song-audio').readyState >= 1")
    duration = audio.evaluate("a => a.duration")
    assert 9 < duration < 11, duration
    audio.evaluate("""a => new Promise((ok, bad) => {
        a.addEventListener('seeked', ok, {once: true});
        a.addEventListener('error', () => bad(a.error && a.error.message), {once: true});
        a.currentTime = 6.5;
    })""")
    until(page, "document.querySelector('#song-audio').readyState >= 2")
    assert abs(audio.evaluate("a => a.currentTime") - 6.5) < 0.3


def test_playlist_builds_plays_and_exports_m3u(open_page, shot):
    page = open_page("/playlist")
    page.fill("#pl-text", "适合深夜学习的安静钢琴")
    page.fill("input[name='length']", "3")
    page.select_option("select[name='flow']", "rising")
    # at most 0.7 energy: only one of the three songs qualifies, so the bound gets relaxed
    page.select_option("select[name='mode-energy']", "max")
    page.locator("input[name='attr-energy']").evaluate(
        "el => { el.value = '0.7'; el.dispatchEvent(new Event('input')); }")
    assert page.locator(".slider:has(input[name='attr-energy']) output").inner_text() == "0.7"
    page.click("#pl-build")
    page.wait_for_selector(".playlist-items .song-row")
    assert _titles(page, ".playlist-items .title")[0] == "夜曲 Nocturne"
    # what the prompt was read as, what was relaxed, the tempo/energy curve
    read = page.locator("section:has-text('Read as')").inner_text()
    assert "学习" in read and "attribute bounds (min_/max_)" in read
    assert page.locator("svg.chart.curve polyline").count() == 2
    with page.expect_download() as dl:
        page.click("#pl-m3u")
    text = open(dl.value.path(), encoding="utf-8").read()  # noqa: SIM115
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    urls = [x for x in lines if x.startswith("http")]
    assert len(urls) == 3 and urls[0].endswith("/v1/songs/yequ/audio")
    page.click("#pl-play")
    until(page, "document.querySelector('#bar-audio').currentTime > 0")
    assert "夜曲" in page.locator("#bar-now").inner_text()
    shot(page, "playlist")


def test_onboarding_and_likes_change_recommendations(open_page, server, shot):
    page = open_page("/listener/web-tester")
    # a new listener onboards: picks 学习 (study), gets songs for it
    page.check("input[name='onb-scene'][value='学习']")
    page.wait_for_selector(".onb-songs input[type='checkbox']")
    assert page.locator(".onb-songs label").count() == 3  # or songs they like
    shot(page, "listener-onboarding")
    page.click("#onb-start")
    page.wait_for_selector("#recs .song-row")
    first = _titles(page, "#recs .title")
    assert first[0] == "夜曲 Nocturne", first
    reason = page.locator("#recs .rec-reason").first
    assert reason.get_attribute("data-reason") == "tags:scene"
    assert reason.inner_text().split() == ["你选的场景", "your", "chosen", "scene"]
    # liking a heavy song moves the recommendations and the profile towards it
    row = page.locator("#more-songs .song-row[data-song-id='chaos-god']")
    row.locator(".fb-like").click()
    until(page, "document.querySelector('#recs .song-row .title')?.textContent"
                " === 'Armygeddon 末日军团'")
    page.wait_for_selector("#profile .top-tags:has-text('金属')")
    profile = httpx.get(f"{server}/v1/users/web-tester").json()
    assert profile["events"]["by_type"].get("like") == 1
    assert page.locator("#recs .rec-reason").first.get_attribute("data-reason").startswith(
        "interest:")
    shot(page, "listener")
    # the other way round: the new heavy song's page names this listener as its audience
    page.goto("/#/song/armygeddon")
    page.wait_for_selector(".audience li a:has-text('web-tester')")


def test_bad_upload_shows_an_error_and_stores_nothing(open_page, server, shot):
    before = httpx.get(f"{server}/healthz").json()["songs"]
    page = open_page("/ingest")
    page.set_input_files("#ing-audio", files=[{"name": "song.mp3", "mimeType": "audio/mpeg",
                                               "buffer": b"ID3 this is not really audio" * 50}])
    page.fill("#ing-title", "坏文件 Broken")
    page.click("#ing-submit")
    error = page.wait_for_selector("#ing-progress .error")
    assert "unsupported_audio" in error.inner_text()
    shot(page, "ingest-error")
    assert httpx.get(f"{server}/healthz").json()["songs"] == before


def test_ingest_shows_progress_and_lands_on_the_song(open_page, server, shot, tmp_path):
    # a new recording: the first 6 s of a clip, as WAV (other samples: a new song)
    y, sr = sf.read(AUDIO / "feelings.ogg")
    buf = io.BytesIO()
    sf.write(buf, np.asarray(y[: 6 * sr]), sr, format="WAV")
    page = open_page("/ingest")
    page.set_input_files("#ing-audio", files=[{"name": "清晨.wav", "mimeType": "audio/wav",
                                               "buffer": buf.getvalue()}])
    page.fill("#ing-title", "清晨 Morning")
    page.fill("#ing-artist", "测试 Tester")
    page.fill("#ing-release", "2026-11")
    page.fill("#ing-lyrics", "清晨的阳光 照进窗\nmorning light")
    page.fill("#ing-comments", "早上跑步听很舒服 | 12")
    page.click("#ing-submit")
    page.wait_for_selector("#ing-progress .stage")
    shot(page, "ingest-progress")
    page.wait_for_url("**/#/song/**", timeout=60_000)
    page.wait_for_selector(".page.song h1")
    assert page.locator(".page.song h1").inner_text() == "清晨 Morning"
    song_id = page.locator(".page.song").get_attribute("data-song-id")
    doc = httpx.get(f"{server}/v1/songs/{song_id}").json()
    assert doc["artist"] == "测试 Tester" and doc["release_date"] == "2026-11"
    assert "2026-11" in page.locator(".song-head .facts").inner_text()


def test_browsing_on_while_an_ingest_runs(open_page, server, shot):
    """The page stays usable during an ingest: search while it runs, hear of it when it ends."""
    a, sr = sf.read(AUDIO / "chaos_god.ogg")
    b, _ = sf.read(AUDIO / "feelings.ogg")
    buf = io.BytesIO()
    sf.write(buf, np.concatenate([a, b, a[::-1]]), sr, format="WAV")  # 30 s, a new recording
    page = open_page("/ingest")
    page.set_input_files("#ing-audio", files=[{"name": "medley.wav", "mimeType": "audio/wav",
                                               "buffer": buf.getvalue()}])
    page.fill("#ing-title", "串烧 Medley")
    with page.expect_response(lambda r: r.url.endswith("/v1/ingest-jobs")) as posted:
        page.click("#ing-submit")
    assert posted.value.status == 202
    page.click("#nav a[data-page='catalogue']")
    page.fill("#search-text", "heavy guitar riffs")
    page.click("#search-go")
    page.wait_for_selector(".results .results-title:has-text('文字搜索')")
    assert _titles(page)[0] == "Chaos God"
    assert page.locator("#notices .notice").count() == 0  # the ingest was still running
    note = page.wait_for_selector("#notices .notice a", timeout=60_000)
    shot(page, "ingest-notice", full_page=False)
    assert note.inner_text() == "串烧 Medley"
    song_id = note.get_attribute("href").removeprefix("#/song/")
    assert httpx.get(f"{server}/v1/songs/{song_id}").json()["title"] == "串烧 Medley"


@pytest.mark.parametrize(("path", "operation"), [
    ("/docs", ".opblock"),                # Swagger UI: one block per operation
    ("/redoc", "[data-section-id^='operation/']"),  # ReDoc: one section per operation
])
def test_api_docs_render_their_operations_offline(page, server, shot, path, operation):
    """The docs pages load only from this server and draw the API's operations. Every request
    is checked: one for another origin (ReDoc's footer asks cdn.redoc.ly for its logo) must be
    stopped by the page's Content-Security-Policy before it leaves the browser. (Before the
    API-key test below, which turns keys on for this server.)"""
    elsewhere: list[str] = []
    blocked: list[str] = []
    page.on("request", lambda r: r.url.startswith((server, "data:", "blob:"))
            or elsewhere.append(r.url))
    page.on("requestfailed", lambda r: r.failure == "csp" and blocked.append(r.url))
    page.goto(path)
    page.wait_for_selector(operation, timeout=30_000)
    assert page.locator(operation).count() >= 10
    page.wait_for_load_state("networkidle")
    assert sorted(elsewhere) == sorted(blocked), (elsewhere, blocked)
    shot(page, "api-" + path.strip("/"), full_page=False)


def test_with_api_keys_the_page_asks_for_one(page, served, shot):
    """Last in the module: it turns keys on (the server re-reads its key file within 2 s),
    then off again."""
    from songlens.api.security import KeyFile

    base, data = served
    keys = KeyFile(data / "api_keys.json")
    _, secret = keys.create("web-test", ["write"])
    try:
        deadline = time.monotonic() + 10
        while httpx.get(f"{base}/v1/taxonomy").status_code != 401:
            assert time.monotonic() < deadline, "the server did not pick up the new key"
            time.sleep(0.2)
        page.goto("/#/song/chaos-god")  # the shell loads without a key, the data does not
        page.wait_for_selector("#key-dialog[open]")
        assert "key" in page.locator("#key-reason").inner_text().lower()
        shot(page, "api-key", full_page=False)
        page.fill("#key-input", secret)
        page.click("#key-dialog button[value='save']")
        page.wait_for_selector(".page.song h1")
        assert page.locator(".page.song h1").inner_text() == "Chaos God"
        assert page.evaluate("() => localStorage.getItem('songlens.apiKey')") == secret
        # a media element cannot send the key: the page fetches the audio with it instead
        until(page, "document.querySelector('#song-audio').readyState >= 1")
        assert page.evaluate("() => document.querySelector('#song-audio').src"
                             ).startswith("blob:")
    finally:
        keys.revoke("web-test")

