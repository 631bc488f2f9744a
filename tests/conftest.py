"""Shared fixtures: small offline data sets and tiny Keras models."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's bundled digits: (x_train, y_train, x_val, y_val), float32 inputs."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0,
                                                      stratify=y)
    return x_train, y_train, x_val, y_val


@pytest.fixture(scope="session")
def breast_cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0,
                                                      stratify=y)
    scaler = StandardScaler().fit(x_train)
    return (scaler.transform(x_train).astype("float32"), y_train,
            scaler.transform(x_val).astype("float32"), y_val)


def mlp(n_inputs: int, n_outputs: int, activation: str | None = "softmax", seed: int = 0):
    """A tiny compiled MLP."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((n_inputs,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(n_outputs, activation=activation),
    ])
    if activation == "sigmoid":
        loss = "binary_crossentropy"
    elif activation == "softmax":
        loss = "sparse_categorical_crossentropy"
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", loss)
    return model


@pytest.fixture
def rng():
    return np.random.default_rng(0)
