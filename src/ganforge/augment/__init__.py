"""Augmentation of the images D sees: ADA's pipeline and p controller, DiffAugment."""

from ganforge.augment.build import KINDS, build_augment
from ganforge.augment.controller import AdaController, rt_statistic
from ganforge.augment.diffaugment import DiffAugment
from ganforge.augment.pipeline import ADA_DEFAULT_OPS, ALL_OPS, AugmentPipe

__all__ = ["ADA_DEFAULT_OPS", "ALL_OPS", "KINDS", "AdaController", "AugmentPipe", "DiffAugment",
           "build_augment", "rt_statistic"]
