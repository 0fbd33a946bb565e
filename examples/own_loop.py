"""Algorithm 1 in your own training loop: a torchvision ResNet-18 (random initialisation, 10 classes)
trained with a plain DataLoader on a few batches of cifar10-subset. Every line that names `pruner` is
what Algorithm 1 adds to the loop (the book page "Algorithm 1 in your own training loop" shows this file).

    python examples/own_loop.py [--rounds 2] [--batches 6] [--ticket-batches 3]
"""

import argparse
from itertools import islice

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, TensorDataset

import concave_lottery


def cifar10_subset_loader(batch_size: int = 64) -> DataLoader:
    """cifar10-subset's training images as a plain DataLoader (the library finds or downloads the data)."""
    data = concave_lottery.load_dataset("cifar10-subset", progress=False)
    mean, std = torch.tensor(data.mean).view(3, 1, 1), torch.tensor(data.std).view(3, 1, 1)
    images = (data.train_images.float() / 255 - mean) / std
    return DataLoader(TensorDataset(images, data.train_labels), batch_size=batch_size, shuffle=True)


def train_steps(model, loader, optimizer, pruner, batches):
    model.train()
    for x, y in islice(loader, batches):
        loss = F.cross_entropy(model(x), y) + pruner.penalty()  # eq. (2): L(x; m ⊙ θ) + λ R(m)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        pruner.after_step()  # projection of m onto [0, 1] (eq. 1)


def main(loader, rounds=2, batches=6, ticket_batches=3, lr=0.05, lam=1.5e-3, alpha=0.2):
    model = torchvision.models.resnet18(num_classes=10)
    pruner = concave_lottery.SoftMaskPruner(model, regularizer="log", lam=lam, eps=0.1, alpha=alpha)
    theta0 = pruner.theta()  # θ_0, to rewind to
    for t in range(1, rounds + 1):
        optimizer = torch.optim.SGD(pruner.param_groups(lr=lr, weight_decay=5e-4), lr=lr, momentum=0.9)
        train_steps(model, loader, optimizer, pruner, batches)
        removed = pruner.prune()  # step 4: a_i = 0 where m_i < α
        print(f"round {t}: {removed:,} weights removed, sparsity {pruner.sparsity():.1%}")
        pruner.rewind(theta0)  # step 2: θ = θ_0, the masks carry over
    pruner.ticket()  # step 5: train the ticket a ⊙ θ from θ_0
    optimizer = torch.optim.SGD(pruner.param_groups(lr=lr, weight_decay=5e-4), lr=lr, momentum=0.9)
    train_steps(model, loader, optimizer, pruner, ticket_batches)
    print(pruner.report())
    return model, pruner


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batches", type=int, default=6, help="training batches per round")
    parser.add_argument("--ticket-batches", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    main(cifar10_subset_loader(), args.rounds, args.batches, args.ticket_batches)
