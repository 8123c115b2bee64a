"""The preview server: the token on every request, the endpoints, the hand-over from the run."""

import json
import socket

import pytest
from PIL import Image

from stylize import BadInputError, StopRun
from stylize.core.progress import Progress
from stylize.watch.preview import COOKIE, TOKEN_HEADER, Item, Preview, PreviewServer

from conftest import fetch


@pytest.fixture
def served():
    preview = Preview("out.png")
    with PreviewServer(preview) as server:
        yield preview, f"http://127.0.0.1:{server.port}", preview.token


def _report(step, image=None, total=10, done=False):
    losses = {"content": 1.0, "style": 10.0 / step, "tv": 0.1, "total": 1.1 + 10.0 / step}
    current = (lambda: image) if image is not None else None
    return Progress(step, total, losses, 0.5 * step, size=32, eta=3.0, scale=(1, 1), current=current, done=done)


@pytest.mark.parametrize("method, path", [("GET", "/"), ("GET", "/image.png"), ("GET", "/status.json"),
                                          ("POST", "/stop"), ("GET", "/nothing")])
@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_without_the_token_every_request_is_403_and_nothing_changes(served, method, path, token):
    preview, base, _ = served
    query = "" if token is None else f"?token={token}"
    status, headers, body = fetch(f"{base}{path}{query}", method)
    assert status == 403 and b"token" in body
    assert "Access-Control-Allow-Origin" not in headers  # no CORS: other sites' scripts read nothing
    assert not preview.stop_requested.is_set() and preview.state == "starting"


def test_a_wrong_token_in_the_header_or_cookie_is_403_too(served):
    _, base, token = served
    wrong = token[:-1] + ("y" if token.endswith("x") else "x")  # one character off, never the token itself
    assert fetch(f"{base}/status.json", headers={TOKEN_HEADER: wrong})[0] == 403
    assert fetch(f"{base}/status.json", headers={"Cookie": f"{COOKIE}=nope"})[0] == 403


def test_the_token_in_the_query_a_header_or_the_cookie(served):
    _, base, token = served
    status, headers, body = fetch(f"{base}/?token={token}")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"<canvas" in body
    assert f"{COOKIE}={token}" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert fetch(f"{base}/status.json", headers={TOKEN_HEADER: token})[0] == 200
    assert fetch(f"{base}/status.json", headers={"Cookie": f"{COOKIE}={token}"})[0] == 200


def test_the_page_loads_nothing_from_elsewhere(served):
    _, base, token = served
    page = fetch(f"{base}/?token={token}")[2].decode()
    assert "http://" not in page and "https://" not in page and "//cdn" not in page


def test_status_and_image_follow_the_run(served):
    preview, base, token = served
    assert fetch(f"{base}/image.png?token={token}")[0] == 404  # nothing yet
    first, second = Image.new("RGB", (32, 21), "red"), Image.new("RGB", (32, 21), "blue")
    preview.update(_report(1, first))
    status, headers, png = fetch(f"{base}/image.png?token={token}")
    assert status == 200 and headers["Content-Type"] == "image/png" and headers["Cache-Control"] == "no-store"
    preview._image_taken = 0  # as if a second had passed
    preview.update(_report(2, second))
    png2 = fetch(f"{base}/image.png?token={token}")[2]
    assert png != png2 and png2.startswith(b"\x89PNG")
    state = json.loads(fetch(f"{base}/status.json?token={token}")[2])
    assert state["state"] == "running" and (state["step"], state["total"], state["eta"]) == (2, 10, 3.0)
    assert [p["step"] for p in state["history"]] == [1, 2] and state["image"] == 2
    assert state["scales"] == [{"step": 1, "scale": 1, "size": 32}]
    later = json.loads(fetch(f"{base}/status.json?token={token}&since=1")[2])
    assert [p["step"] for p in later["history"]] == [2]
    assert fetch(f"{base}/status.json?token={token}&since=x")[0] == 400


def test_images_are_taken_at_most_every_half_second(served):
    preview, _, _ = served
    taken = []
    image = Image.new("RGB", (8, 8))
    for step in range(1, 6):
        preview.update(Progress(step, 10, {"total": 1.0}, 0.1, size=8, current=lambda: taken.append(1) or image))
    assert len(taken) == 1  # five reports within a few ms: one copy off the device


def test_post_stop_makes_the_next_report_raise_stop_run(served):
    preview, base, token = served
    preview.update(_report(1))
    assert fetch(f"{base}/stop?token={token}")[0] == 405  # a GET (a link, an <img>) never stops a run
    status, _, body = fetch(f"{base}/stop?token={token}", "POST")
    assert status == 202 and json.loads(body) == {"state": "stopping"}
    with pytest.raises(StopRun):
        preview.update(_report(2))
    preview.update(_report(2, done=True))  # the final report goes through
    preview.finish("stopped", Image.new("RGB", (32, 21)))
    assert json.loads(fetch(f"{base}/status.json?token={token}")[2])["state"] == "stopped"


def test_a_stop_waits_for_the_first_step(served):
    preview, _, _ = served
    preview.request_stop()
    preview.update(Progress(0, 10, {}, 0.1, size=32, tile=(1, 4)))  # inside the first, tiled, iteration
    with pytest.raises(StopRun):
        preview.update(_report(1))


def test_a_batch_item_starts_a_new_curve(served):
    preview, base, token = served
    preview.update(_report(1))
    preview.start_item(Item("b.png -> out/b.jpg", 2, 3, 1))
    state = json.loads(fetch(f"{base}/status.json?token={token}")[2])
    assert state["item"] == {"name": "b.png -> out/b.jpg", "index": 2, "count": 3, "done": 1}
    assert state["history"] == [] and state["step"] == 0


def test_a_busy_port_is_one_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BadInputError) as e:
            PreviewServer(Preview(), "127.0.0.1", port)
    assert str(e.value) == (f"preview_port: port {port} on 127.0.0.1 is in use; give another preview_port,"
                            " or none for a free port")


def test_it_listens_on_loopback_only_by_default(served):
    preview = Preview()
    server = PreviewServer(preview)
    try:
        assert server.server.server_address[0] == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.port}/?token={preview.token}"
    finally:
        server.close()


def test_the_server_is_gone_when_closed():
    preview = Preview()
    with PreviewServer(preview) as server:
        port = server.port
        assert fetch(f"http://127.0.0.1:{port}/status.json?token={preview.token}")[0] == 200
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
