"""The classic 2-2-2 backpropagation worked example, every number printed.

Weights w1..w8 = 0.15 0.20 0.25 0.30 / 0.40 0.45 0.50 0.55, biases 0.35 / 0.60, input
(0.05, 0.10), target (0.01, 0.99), sigmoid on both layers, E = sum((out - target)^2) / 2, one
SGD step with learning rate 0.5. bpnn's engine computes every value below.

Run: python examples/mazur.py
"""

import bpnn
from bpnn import nn

bpnn.set_default_dtype("float64")
net = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 2), nn.Sigmoid())
net[0].weight.data[...] = [[0.15, 0.20], [0.25, 0.30]]  # rows: h1 <- (w1, w2), h2 <- (w3, w4)
net[0].bias.data[...] = [0.35, 0.35]
net[2].weight.data[...] = [[0.40, 0.45], [0.50, 0.55]]  # rows: o1 <- (w5, w6), o2 <- (w7, w8)
net[2].bias.data[...] = [0.60, 0.60]

x = bpnn.tensor([[0.05, 0.10]])
target = bpnn.tensor([[0.01, 0.99]])
out = net(x)
errors = (out - target) ** 2 / 2
total = errors.sum()

print(f"outputs: out_o1 = {out.numpy()[0, 0]:.9f}, out_o2 = {out.numpy()[0, 1]:.9f}")
print(f"errors:  E_o1 = {errors.numpy()[0, 0]:.9f}, E_o2 = {errors.numpy()[0, 1]:.9f}")
print(f"total error E = {total.item():.9f}")

total.backward()
names = {"0.weight": ["w1", "w2", "w3", "w4"], "2.weight": ["w5", "w6", "w7", "w8"],
         "0.bias": ["b1 (h1)", "b1 (h2)"], "2.bias": ["b2 (o1)", "b2 (o2)"]}
print("gradients dE/dw:")
for name, parameter in net.named_parameters():
    for label, value in zip(names[name], parameter.grad.ravel(), strict=True):
        print(f"  dE/d{label} = {value:.9f}")

bpnn.optim.SGD(net.parameters(), lr=0.5).step()
print("weights after one step (w <- w - 0.5 * dE/dw):")
for name in ("2.weight", "0.weight"):
    parameter = dict(net.named_parameters())[name]
    for label, value in zip(names[name], parameter.data.ravel(), strict=True):
        print(f"  {label} = {value:.9f}")
