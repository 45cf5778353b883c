"""Regression: fit y = sin(x) on [−π, π] from noisy samples, with the square error.

    python examples/sine.py

Noise of standard deviation 0.1 means the best possible test MSE is about 0.01.
"""

from __future__ import annotations

import numpy as np

import plugnet
from plugnet.datasets import sine, split

data = sine(n=400, noise=0.1, seed=0)
parts = split(data, test_size=0.25, random_state=0)  # regression targets: no stratification
train, test = parts.train, parts.test
assert test is not None and train.t is not None and test.t is not None

net = plugnet.Sequential(
    [
        {"type": "dense", "units": 32, "activation": "sigmoid"},
        {"type": "dense", "units": 32, "activation": "sigmoid"},
        {"type": "dense", "units": 1},  # identity output for regression
    ],
    error="square",  # E = (1/N) Σ ½‖y − t‖², so the MSE of one output is 2E
    optimizer="adam(lr=0.01)",
    seed=0,
)
history = net.fit(train.x, train.t, epochs=200, batch_size=32, verbose=0)

y = net.predict(test.x)
mse = float(np.mean((y - test.t) ** 2))
clean = float(np.mean((y - np.sin(test.x)) ** 2))
print(f"final training loss: {history.history['loss'][-1]:.5f}")
print(f"test loss: {net.evaluate(test.x, test.t)['loss']:.5f}")
print(f"test mse: {mse:.5f}")
print(f"mse against the noise-free sin(x): {clean:.5f}")
for x in (-np.pi / 2, 0.0, np.pi / 2):
    print(f"sin({x:+.4f}) ≈ {net.predict(np.array([[x]]))[0, 0]:+.4f}")
