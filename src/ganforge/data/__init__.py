"""Datasets: built-in digits and readers for MNIST, CIFAR-10, image folders and HF datasets."""

from ganforge.data.dataset import ImageDataset, to_model_format
from ganforge.data.spec import load_dataset

__all__ = ["ImageDataset", "load_dataset", "to_model_format"]
