"""The PyTorch side of tests/test_torch_crosscheck.py, run in a process of its own so that torch's
thread pools never share one with numpy's BLAS: reads the cases (a pickle of plain numpy arrays
and names), answers each with torch's autograd, torch.func and torch.optim.SGD, and writes the
answers (a pickle) in the same order.

    python tests/torch_side.py CASES ANSWERS
"""

import pickle
import sys

import torch
from torch.func import jacfwd, jacrev
from torch.nn import functional

ACTIVATIONS = {
    "identity": lambda a: a,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": lambda a: functional.gelu(a, approximate="tanh"),
    "softmax": lambda a: torch.softmax(a, -1),
}


def forward(case, weights, biases, x):
    z = x
    for weight, bias, name in zip(weights, biases, case["activations"]):
        z = ACTIVATIONS[name](z @ weight.T + bias)
    return z


def loss(case, z, y):
    if case["loss"] == "cross_entropy":  # the outputs as logits; one class index per sample
        return functional.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1))
    return functional.mse_loss(z, y)  # the mean over every entry


def tensors(arrays):
    return [torch.from_numpy(array.copy()) for array in arrays]


def input_gradient(case):
    weights, biases = tensors(case["weights"]), tensors(case["biases"])
    x, y = torch.from_numpy(case["x"].copy()).requires_grad_(), torch.from_numpy(case["y"].copy())
    (gradient,) = torch.autograd.grad(loss(case, forward(case, weights, biases, x), y), x)
    return {"gradient": gradient.numpy()}


def output_jacobian(case):
    weights, biases = tensors(case["weights"]), tensors(case["biases"])
    x = torch.from_numpy(case["x"].copy())

    def output(point):
        return forward(case, weights, biases, point)

    return {"jacrev": jacrev(output)(x).numpy(), "jacfwd": jacfwd(output)(x).numpy()}


def parameter_gradients(case):
    weights = [w.requires_grad_() for w in tensors(case["weights"])]
    biases = [b.requires_grad_() for b in tensors(case["biases"])]
    x, y = torch.from_numpy(case["x"].copy()), torch.from_numpy(case["y"].copy())
    value = loss(case, forward(case, weights, biases, x), y)
    gradients = torch.autograd.grad(value, weights + biases)
    layers = len(weights)
    return {"weights": [g.numpy() for g in gradients[:layers]], "biases": [g.numpy() for g in gradients[layers:]]}


def training(case):
    weights = [torch.nn.Parameter(w) for w in tensors(case["weights"])]
    biases = [torch.nn.Parameter(b) for b in tensors(case["biases"])]
    optimiser = torch.optim.SGD(
        weights + biases, lr=case["lr"], momentum=case["momentum"], weight_decay=case["weight_decay"]
    )
    losses = []
    for X, y in case["batches"]:
        optimiser.zero_grad()
        value = loss(case, forward(case, weights, biases, torch.from_numpy(X)), torch.from_numpy(y))
        value.backward()
        optimiser.step()
        losses.append(value.item())
    return {
        "losses": losses,
        "weights": [w.detach().numpy() for w in weights],
        "biases": [b.detach().numpy() for b in biases],
    }


KINDS = {"input": input_gradient, "output": output_jacobian, "params": parameter_gradients, "train": training}

if __name__ == "__main__":
    torch.set_num_threads(1)
    with open(sys.argv[1], "rb") as file:
        cases = pickle.load(file)
    answers = [KINDS[case["kind"]](case) for case in cases]
    with open(sys.argv[2], "wb") as file:
        pickle.dump(answers, file)
