"""Many visitors at once: each gets the answer for their own image, bad images get their
messages, memory stays flat; more requests than the queue holds are told at once to retry."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from explain import explain
from explorer.server import offline_env, resident_mb, running_app
from tests.helpers import EXAMPLES
from vit_hybrid.images import load_image

gradio_client = pytest.importorskip("gradio_client")
pytestmark = pytest.mark.slow  # the real app under load

GOOD = sorted(p for p in EXAMPLES.iterdir() if p.suffix in {".jpg", ".png"})
BAD = {"notes.txt": (b"not a picture\n", "is a text file"), "empty.png": (b"", "empty (0 bytes)"),
       "cut.png": ((EXAMPLES / "chelsea.png").read_bytes()[:60_000], "PNG file is truncated")}
CLIENTS, REQUESTS, DEADLINE_S = 8, 25, 300


@pytest.fixture(scope="module")
def expected(bundled):
    """What each good image must get: its top-5 (index, probability) and its size."""
    model, processor = bundled
    answers = {}
    for path in GOOD:
        image = load_image(path)
        e = explain(model, image, processor, explained=0)
        answers[path.name] = ([p.index for p in e.predictions], [p.probability for p in e.predictions], [image.height, image.width])
    return answers


def request(client, path):
    from explorer.paths import BUNDLED_NAME

    job = client.submit(gradio_client.handle_file(str(path)), BUNDLED_NAME, "crop", api_name="/explain")
    try:
        return job.result(timeout=120)
    except Exception as err:  # the app's message, or the queue's
        return err


def check_answer(name: str, answer, expected) -> str | None:
    """None when the answer is right for `name`, else what is wrong."""
    if name in BAD:
        want = BAD[name][1]
        return None if isinstance(answer, Exception) and want in str(answer) else f"{name}: wanted {want!r}, got {answer!r}"[:300]
    if isinstance(answer, Exception):
        return f"{name}: {answer!r}"
    indices, probabilities, size = expected[name]
    got = [p["index"] for p in answer["predictions"]], [p["probability"] for p in answer["predictions"]]
    if got[0] != indices or answer["original_size"] != size or max(abs(a - b) for a, b in zip(got[1], probabilities)) > 1e-5:
        return f"{name}: got {got} for size {answer['original_size']}, wanted {indices} {probabilities} {size}"
    return None


def visitor(url, index: int, count: int, files) -> list[tuple[str, object]]:
    """One client: two good images of its own and one bad one, in turn, `count` requests."""
    client = gradio_client.Client(url, verbose=False)
    mine = [GOOD[(2 * index) % len(GOOD)], GOOD[(2 * index + 1) % len(GOOD)], files[index % len(files)]]
    start, answers = time.monotonic(), []
    for n in range(count):
        if time.monotonic() - start > DEADLINE_S:
            break
        path = mine[n % 3]
        answers.append((path.name, request(client, path)))
    return answers


def run_visitors(url, count: int, files) -> list[tuple[str, object]]:
    with ThreadPoolExecutor(CLIENTS) as pool:
        return [a for answers in pool.map(lambda i: visitor(url, i, count, files), range(CLIENTS)) for a in answers]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    for name, (data, _) in BAD.items():
        (folder / name).write_bytes(data)
    return sorted(folder.iterdir())


def test_eight_clients_get_their_own_answers_and_memory_stays_flat(app_url, expected, bad_files):
    run_visitors(app_url, 3, bad_files)  # warm-up: every thread and buffer the load will use
    warm = resident_mb(app_url.pid)
    answers = run_visitors(app_url, REQUESTS, bad_files)
    after = resident_mb(app_url.pid)
    problems = [p for name, answer in answers if (p := check_answer(name, answer, expected))]
    good = sum(name not in BAD for name, _ in answers)
    print(f"\n{len(answers)} requests ({good} good, {len(answers) - good} bad), {len(problems)} wrong; "
          f"resident memory {warm:.0f} MB after warm-up, {after:.0f} MB after")
    assert len(answers) == CLIENTS * REQUESTS and not problems, problems[:5]
    assert after - warm <= 150


def test_overload_is_told_to_retry_at_once_and_the_accepted_are_answered(tmp_path, expected):
    # One admitted at a time and two waiting: admitted events leave Gradio's queue, so with the default
    # concurrency (16) twelve requests could all be admitted and none find the queue full.
    with running_app(["--queue-size", "2", "--concurrency", "1"], offline_env(tmp_path / "hub"),
                     tmp_path / "app.log") as url:
        photo = EXAMPLES / "rocket.jpg"
        request(gradio_client.Client(url, verbose=False), photo)  # warm-up
        warm = resident_mb(url.pid)
        clients = [gradio_client.Client(url, verbose=False) for _ in range(12)]

        def timed(client):
            start = time.monotonic()
            return request(client, photo), time.monotonic() - start

        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(pool.map(timed, clients))
        after = resident_mb(url.pid)
    refused = [(a, t) for a, t in answers if isinstance(a, Exception)]
    accepted = [a for a, _ in answers if not isinstance(a, Exception)]
    print(f"\n12 at once on a queue of 2: {len(accepted)} answered, {len(refused)} told to retry "
          f"(after {max((t for _, t in refused), default=0):.1f} s at most); memory {warm:.0f} -> {after:.0f} MB")
    assert refused and accepted
    assert all("Queue is full" in str(a) and "try again" in str(a) for a, _ in refused)
    assert all(t < 10 for _, t in refused)  # refused at once, not left hanging
    assert all(check_answer(photo.name, a, expected) is None for a in accepted)
    assert after - warm <= 150
