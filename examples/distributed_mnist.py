"""Fashion-MNIST trained data-parallel over MPI: the same script on 1 or N processes.

    python examples/distributed_mnist.py                      # one process
    mpirun -n 2 python examples/distributed_mnist.py          # two, on this machine
    mpirun -np 8 --hostfile hosts python examples/distributed_mnist.py   # several machines

``Model.fit`` notices ``mpirun`` and trains data-parallel by itself: every rank holds the
network, takes its share of each batch of 64, and one Allreduce per step sums the gradients,
so N processes train the network one process trains (the same weights, to rounding). Rank 0
alone prints and writes the checkpoint; ``--resume`` continues from it, on any number of
processes. ``--manual`` trains with the Horovod-style pieces instead, in a loop of its own.

Every node needs the same Python, bpnn and data (here /usr/share/datasets/fashion-mnist, or
``--path DIR``), each process one BLAS thread (``OPENBLAS_NUM_THREADS=1``; mpirun passes it on
with ``-x OPENBLAS_NUM_THREADS``). As root, Open MPI also wants ``--allow-run-as-root``.

Run: [mpirun -n N] python examples/distributed_mnist.py [--epochs 3] [--checkpoint FILE]
[--resume] [--manual] [--path DIR]
"""

import argparse
import os
import time

import bpnn
import bpnn.distributed as dist
from bpnn import nn

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--checkpoint", default="distributed_mnist.bpnn")
parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
parser.add_argument("--manual", action="store_true", help="a hand-written loop, no Model.fit")
parser.add_argument("--path", help="Fashion-MNIST folder")
args = parser.parse_args()

dist.init()  # rank 0 of 1 without mpirun
bpnn.manual_seed(0)
(x_train, y_train), (x_test, y_test) = bpnn.datasets.fashion_mnist(args.path)
x_train = x_train.reshape(len(x_train), -1).astype("float32") / 255
x_test = x_test.reshape(len(x_test), -1).astype("float32") / 255


def network():
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


start = time.perf_counter()
if args.manual:
    # What fit does, by hand: same start everywhere, a share of each batch, summed gradients.
    net = network()
    dist.broadcast_parameters(net)
    optimizer = dist.DistributedOptimizer(bpnn.optim.Adam(net.parameters(), lr=1e-3))
    dist.broadcast_optimizer_state(optimizer)
    loader = bpnn.data.DataLoader((x_train, y_train), batch_size=64, shuffle=True, shard=True)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        dist.broadcast_rng_state()  # every rank draws rank 0's order for this epoch
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(net(x), y).backward()
            optimizer.step()  # Allreduce of all gradients (equal shares: batch 64 / N)
        if dist.rank() == 0:
            print(f"epoch {epoch + 1}: {time.perf_counter() - start:.1f} s", flush=True)
    model = bpnn.Model(net, loss_fn, optimizer, metrics=["accuracy"])
else:
    if args.resume:
        model = bpnn.load(args.checkpoint)
    else:
        model = bpnn.Model(network(), "cross_entropy", "adam", metrics=["accuracy"], lr=1e-3)
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, verbose=2,
              initial_epoch=model.epoch,
              callbacks=[bpnn.callbacks.ModelCheckpoint(args.checkpoint, monitor="loss")])

scores = model.evaluate(x_test, y_test, batch_size=1000)
if dist.rank() == 0:
    print(f"{dist.size()} process(es), {time.perf_counter() - start:.1f} s: test accuracy "
          f"{scores['accuracy']:.4f}, loss {scores['loss']:.4f}"
          + ("" if args.manual else f"; checkpoint {os.path.abspath(args.checkpoint)}"))
