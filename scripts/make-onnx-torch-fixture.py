#!/usr/bin/env python3
"""Writes Tests/BulwarkONNXTests/Fixtures/models/torch_resnet: a small ResNet exported by
torch.onnx.export at opset 17, with an input batch and PyTorch's logits in ONNX's test-data
layout.

Run in a virtual environment with torch (CPU build), onnx and numpy from PyPI:

    python3 -m venv /tmp/torch-venv
    /tmp/torch-venv/bin/pip install 'torch==2.13.0+cpu' onnx numpy
    /tmp/torch-venv/bin/python scripts/make-onnx-torch-fixture.py
"""
import os

import numpy as np
import torch
from torch import nn
from onnx import numpy_helper

DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BulwarkONNXTests", "Fixtures", "models", "torch_resnet")


class BasicBlock(nn.Module):
    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = nn.Sequential()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class SmallResNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = BasicBlock(8, 8, 1)
        self.layer2 = BasicBlock(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(16, classes)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.layer2(self.layer1(y))
        return self.linear(torch.flatten(self.pool(y), 1))


def main():
    torch.manual_seed(0)
    model = SmallResNet()
    # Running statistics away from their initial values, so that inference mode is exercised.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    pixels = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        logits = model(pixels)
    os.makedirs(os.path.join(DIRECTORY, "test_data_set_0"), exist_ok=True)
    torch.onnx.export(model, (pixels,), os.path.join(DIRECTORY, "model.onnx"), opset_version=17,
                      input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}},
                      dynamo=False)
    for name, array in [("input_0.pb", pixels.numpy()), ("output_0.pb", logits.numpy())]:
        with open(os.path.join(DIRECTORY, "test_data_set_0", name), "wb") as f:
            f.write(numpy_helper.from_array(array.astype(np.float32)).SerializeToString())


if __name__ == "__main__":
    main()
