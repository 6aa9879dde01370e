"""The workbench's files and pages beside the API: SPA catch-all, assets, the not-built page, /docs.

The built application is stood in for by a small `web/dist` made in a temporary folder (the
browser tests in tests/browser/ use the real build).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .support import auth, password_of

INDEX = '<!doctype html><html lang="zh-CN"><head><script type="module" src="/assets/app-3f2a1b.js"></script></head><body><div id="root"></div></body></html>'


@pytest.fixture
def dist(tmp_path) -> Path:
    folder = tmp_path / "dist"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(INDEX, encoding="utf-8")
    (folder / "assets" / "app-3f2a1b.js").write_text("console.log('workbench')", encoding="utf-8")
    (folder / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    return folder


@pytest.fixture
def built(app, dist):
    app.config["WEB_DIST"] = str(dist)
    return app


@pytest.fixture
def not_built(app, tmp_path):
    app.config["WEB_DIST"] = str(tmp_path / "no-such-dist")
    return app


def browser(app, username: str | None = None):
    client = app.test_client()
    if username:
        response = client.post("/login", data={"username": username, "password": password_of(username)})
        assert response.status_code == 303
    return client


PAGES = [
    "/",
    "/inbox",
    "/cases/9a45d3db-0ba7-4888-a7f3-f248ba8bbe45",
    "/approvals/queue",
    "/processes/complaint/versions/1",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_path_is_the_application_for_a_signed_in_person(built, path):
    response = browser(built, "li.na").get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.get_data(as_text=True) == INDEX
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("path", PAGES)
def test_a_signed_out_person_is_sent_to_sign_in_and_back(built, path):
    client = browser(built)
    response = client.get(path, query_string={"tab": "timeline"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/login?next=")
    page = client.get(location)
    assert f'name="next" value="{path}?tab=timeline"' in page.get_data(as_text=True)
    signed_in = client.post(
        "/login",
        data={
            "username": "wang.qiang",
            "password": password_of("wang.qiang"),
            "next": f"{path}?tab=timeline",
        },
    )
    assert signed_in.headers["Location"] == f"{path}?tab=timeline"


def test_built_assets_are_served_and_kept_by_browsers(built):
    client = browser(built)  # assets need no session: they hold no data
    response = client.get("/assets/app-3f2a1b.js")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "console.log('workbench')"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert client.get("/favicon.svg").status_code == 200
    missing = client.get("/assets/app-000000.js")
    assert missing.status_code == 404
    assert client.get("/assets/../index.html").status_code == 404


API_MISSES = [
    ("GET", "/api"),
    ("GET", "/api/"),
    ("GET", "/api/v1"),
    ("GET", "/api/v1/no-such-thing"),
    ("GET", "/api/v1/cases/x/no-such-thing"),
    ("POST", "/api/v1/no-such-thing"),
    ("DELETE", "/api/v2/cases"),
]


@pytest.mark.parametrize("method, path", API_MISSES)
def test_unknown_api_paths_stay_api_404s_not_the_application(built, method, path):
    response = browser(built, "li.na").open(path, method=method, headers=auth("li.na"))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_the_service_own_paths_are_not_swallowed(built):
    client = browser(built, "li.na")
    assert client.get("/openapi.json").mimetype == "application/json"
    assert client.get("/metrics", headers=auth("admin")).mimetype.startswith("text/plain")
    assert "swagger-ui" in client.get("/docs").get_data(as_text=True)
    assert client.get("/logout").status_code == 405  # sign-out is a POST
    assert client.put("/api/v1/cases", headers=auth("li.na")).status_code == 405
    assert "登录" in browser(built).get("/login").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/", "/inbox", "/cases/abc"])
def test_without_a_build_a_page_says_how_to_build_it(not_built, path):
    client = browser(not_built)
    response = client.get(path)
    assert response.status_code == 503 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "工作台尚未构建" in page and "npm run build" in page and "scripts/serve" in page
    assert client.get("/assets/app.js").status_code == 404
    # The API and sign-in work all the same.
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/login").status_code == 200


def test_docs_load_everything_from_the_service(built):
    client = browser(built)
    response = client.get("/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    references = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert references, page
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), reference
        asset = client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.get_data()) > 1000
    assert not re.search(r"https?://", page)  # no CDN, no validator badge
    assert '"validatorUrl": null' in page
