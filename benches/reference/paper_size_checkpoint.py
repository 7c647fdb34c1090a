"""A checkpoint in the authors' layout at the paper's sizes (ResNeXt-101 32x8d, f_cat and f_term
300, sentences and LSTM 1024, embedding 1024, 1005 classes) with random weights, saved as the
authors' train.py saves (`{'epoch', 'state_dict'}`, the backbone inside
nn.DataParallel(nn.Sequential(...))). For timing `seje import-checkpoint` and `seje embed` at the
released model's size without the released file (spec/reproduce.md, "The authors' released
model"). Needs PyTorch 2.11 and torchvision 0.26 (no download: random weights).

    python benches/reference/paper_size_checkpoint.py OUT.pth.tar
"""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "golden"))
from authors_model import AuthorsModel  # noqa: E402

if __name__ == "__main__":
    torch.manual_seed(1)
    model = AuthorsModel(torchvision.models.resnext101_32x8d(weights=None), 2048, 300, 300, 1024, 1024, 1024, 1005)
    torch.save({"epoch": 1, "state_dict": model.state_dict()}, sys.argv[1])
