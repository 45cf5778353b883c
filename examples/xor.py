"""XOR with a two-layer network: the classic problem a single neuron cannot solve.

    python examples/xor.py

Trains on the four points of XOR and prints the network's outputs and its accuracy (1.0).
"""

from __future__ import annotations

import numpy as np

import plugnet
from plugnet.datasets import xor

data = xor()  # the four points (0,0)→0, (0,1)→1, (1,0)→1, (1,1)→0
net = plugnet.Sequential(
    [
        {"type": "dense", "units": 8, "activation": "relu"},
        {"type": "dense", "units": 2, "activation": "softmax"},
    ],
    error="cross_entropy",
    optimizer="adam(lr=0.05)",
    seed=0,
)
history = net.fit(data.x, data.t, epochs=300, batch_size=4, verbose=0)

outputs = net.predict(data.x)
for point, label, probabilities in zip(data.x, data.t, outputs, strict=True):
    print(f"x = {point.astype(int)}  target {label}  p(class 1) = {probabilities[1]:.4f}")
scores = net.evaluate(data.x, data.t)
print(f"predicted classes: {np.argmax(outputs, axis=1).tolist()}")
print(f"final loss: {scores['loss']:.6f}")
print(f"accuracy: {scores['accuracy']}")
