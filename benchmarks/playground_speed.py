"""Epochs per second of ``bpnn playground`` for a 2-8-8-1 network on 500 points.

Two figures: the server's training alone (``POST /train`` back to back) and the page's cycle
(train about 0.2 s, then fetch the state with the boundary grid, and the chain-rule trace every
0.7 s), both through the HTTP API in process (Starlette's TestClient), on the circles data set
with all 500 points used for training, Adam, batch 16 (the page's defaults).

Each is given per wall-clock second and per CPU second of the process: on a shared machine the
first depends on the other jobs, the second is what one idle core would do.

Run: python benchmarks/playground_speed.py [--seconds 5] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import os
import time

from starlette.testclient import TestClient

from bpnn.playground import create_app


def measure(client, session: str, seconds: float, page_cycle: bool) -> tuple:
    """Epochs per wall-clock second and per CPU second of this process (all its threads):
    on a busy machine the second says what an idle core would do."""
    epochs, request_epochs, last_explain = 0, 5, 0.0
    started, cpu_started = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        tick = time.perf_counter()
        result = client.post(f"/api/sessions/{session}/train",
                             json={"epochs": request_epochs}).json()
        epochs += result["epochs_run"]
        rate = result["epochs_run"] / max(time.perf_counter() - tick, 1e-3)
        request_epochs = max(1, min(300, round(rate * 0.2)))
        if page_cycle:
            client.get(f"/api/sessions/{session}/state?since={result['epoch'] - 1}")
            if time.perf_counter() - last_explain > 0.7:
                client.get(f"/api/sessions/{session}/explain?sample=0")
                last_explain = time.perf_counter()
    return (epochs / (time.perf_counter() - started),
            epochs / (time.process_time() - cpu_started))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    with TestClient(create_app()) as client:
        session = client.post("/api/sessions", json={
            "dataset": "circles", "n_points": 500, "test_fraction": 0.0, "hidden": [8, 8],
            "optimizer": "adam", "lr": 0.03, "batch_size": args.batch_size}).json()["id"]
        client.post(f"/api/sessions/{session}/train", json={"epochs": 2})  # warm up
        alone = measure(client, session, args.seconds, page_cycle=False)
        page = measure(client, session, args.seconds, page_cycle=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"2-8-8-1 on 500 points, batch {args.batch_size} (load average {load:.1f}, "
          f"{os.cpu_count()} CPUs)\n"
          f"  training alone: {alone[0]:.0f} epochs/s, {alone[1]:.0f} per CPU second\n"
          f"  page cycle:     {page[0]:.0f} epochs/s, {page[1]:.0f} per CPU second")


if __name__ == "__main__":
    main()
