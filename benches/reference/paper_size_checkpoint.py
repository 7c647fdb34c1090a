"""A checkpoint in the authors' layout at the paper's sizes (ResNeXt-101 32x8d, f_cat and f_term
300, sentences and LSTM 1024, embedding 1024, 1005 classes) with random weights, saved as the
authors' train.py saves (`{'epoch', 'state_dict'}`, the backbone inside
nn.DataParallel(nn.Sequential(...))). For timing `seje import-checkpoint` and `seje embed` at the
released model's size without the released file (spec/reproduce.md, "The authors' released
model"). Needs PyTorch 2.11 and torchvision 0.26 (no download: random weights).

    python benches/reference/paper_size_checkpoint.py OUT.pth.tar
"""
import sys

import torch
import torch.nn as nn
import torchvision


class Holder(nn.Module):
    pass


class PaperSize(nn.Module):
    def __init__(self):
        super().__init__()
        resnet = torchvision.models.resnext101_32x8d(weights=None)
        self.visionMLP = nn.DataParallel(nn.Sequential(*list(resnet.children())[:-1]))
        self.visual_embedding = nn.Sequential(nn.Linear(2048 + 300, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.02))
        self.recipe_embedding = nn.Sequential(nn.Linear(1024 + 1024, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.02))
        self.stRNN_ = Holder()
        self.stRNN_.lstm = nn.LSTM(1024, 1024, batch_first=True)
        self.tfidf_embedding = nn.Sequential(nn.Linear(300, 1024), nn.LeakyReLU(0.02))
        self.semantic_branch = nn.Linear(1024, 1005)


if __name__ == "__main__":
    torch.manual_seed(1)
    torch.save({"epoch": 1, "state_dict": PaperSize().state_dict()}, sys.argv[1])
