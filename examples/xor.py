"""XOR with a 2-3-1 sigmoid network trained by plain full-batch gradient descent.

The first network of every backpropagation tutorial: forward pass, squared error, backward
pass, and ``w <- w - lr * dE/dw``, printed every few hundred epochs.

Run: python examples/xor.py
"""

import numpy as np

import bpnn
from bpnn import nn

bpnn.manual_seed(0)
x = bpnn.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y = bpnn.tensor([[0.0], [1.0], [1.0], [0.0]])

net = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1), nn.Sigmoid())
optimizer = bpnn.optim.SGD(net.parameters(), lr=2.0)  # full batch: every step sees all 4 rows
loss_fn = nn.MSELoss()

for epoch in range(1, 5001):
    optimizer.zero_grad()
    loss = loss_fn(net(x), y)
    loss.backward()
    optimizer.step()
    if epoch % 500 == 0 or epoch == 1:
        print(f"epoch {epoch:5d}  loss {loss.item():.6f}")

with bpnn.no_grad():
    output = net(x).numpy()
predictions = (output > 0.5).astype(int)
accuracy = float((predictions == y.numpy()).mean())
for inputs, out in zip(x.numpy(), output[:, 0], strict=True):
    print(f"{inputs.astype(int).tolist()} -> {out:.4f}")
print(f"accuracy: {accuracy:.0%}")
if not np.array_equal(predictions, y.numpy().astype(int)):
    raise SystemExit("XOR was not learned")
