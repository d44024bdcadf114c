"""`/console` serves the page and its assets without a key, under a strict policy."""

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_the_console_is_served_without_a_key_under_a_strict_policy(
    http: httpx.AsyncClient,
) -> None:
    for path, media_type in (
        ("/console", "text/html"),
        ("/console/", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ):
        response = await http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(media_type)
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self';" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_page_loads_nothing_inline_and_renders_no_markup_from_data(
    http: httpx.AsyncClient,
) -> None:
    page = (await http.get("/console")).text
    script = (await http.get("/console/console.js")).text
    assert "<script>" not in page
    assert "<style" not in page
    assert " style=" not in page
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script
    assert "localStorage" not in script


async def test_only_the_shipped_files_are_served(http: httpx.AsyncClient) -> None:
    for path in ("/console/..%2Fapp.py", "/console/app.py", "/console/missing.js"):
        response = await http.get(path)
        assert response.status_code == 404, path
        assert "error" in response.json()


async def test_a_browser_that_has_a_file_revalidates_it(http: httpx.AsyncClient) -> None:
    first = await http.get("/console/console.js")
    tag = first.headers["etag"]
    again = await http.get("/console/console.js", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    assert "default-src 'self'" in again.headers["content-security-policy"]
    changed = await http.get("/console/console.js", headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200
    assert changed.content == first.content
    assert (await http.get("/console/console.css")).headers["etag"] != tag
