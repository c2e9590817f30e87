"""Small CSV files with the problems real tables have."""

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def messy_classification_csv(tmp_path_factory):
    """Ids, spaces in names, string categories, missing values, string labels."""
    rng = np.random.default_rng(7)
    n = 240
    engine = rng.normal(2.0, 0.6, n)
    color = rng.choice(["red", "blue", "green"], n)
    doors = rng.choice([3, 5], n)
    score = engine + 1.2 * (color == "red") - 0.8 * (color == "green") + 0.3 * (doors == 5)
    label = np.where(score < 1.8, "cheap", np.where(score < 2.8, "mid", "dear"))
    frame = pd.DataFrame({"customer id": [f"C{i:04d}" for i in range(n)],
                          "engine size": engine.round(3), "color": color, "doors": doors,
                          "price class": label})
    frame.loc[rng.choice(n, 20, replace=False), "engine size"] = np.nan
    frame.loc[rng.choice(n, 10, replace=False), "color"] = np.nan
    path = tmp_path_factory.mktemp("data") / "cars.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def regression_csv(tmp_path_factory):
    """A numeric target in its own units (thousands) with a categorical effect."""
    rng = np.random.default_rng(11)
    n = 300
    area = rng.uniform(40, 160, n)
    rooms = rng.integers(1, 6, n)
    district = rng.choice(["north", "south", "centre"], n)
    price = (2.0 * area + 15 * rooms + np.select([district == "centre", district == "north"],
                                                 [60, 20], 0) + rng.normal(0, 5, n))
    frame = pd.DataFrame({"floor area": area.round(1), "rooms": rooms, "district": district,
                          "price": price.round(2)})
    path = tmp_path_factory.mktemp("data") / "flats.csv"
    frame.to_csv(path, index=False)
    return path
