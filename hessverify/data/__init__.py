"""Data recipes: whitening, one-hot labels, label imbalance (003 Appendix C), synthetic and real data sets."""
from hessverify.data.preprocessing import (drop_constant_columns, one_hot, pool_images, reduce_to_column_rank,
                                           whiten)
from hessverify.data.imbalance import imbalanced_subset, label_proportions
from hessverify.data.synthetic import (gaussian_inputs, gaussian_mixture, labels_with_proportion, random_labels,
                                       teacher_labels, teacher_targets)
from hessverify.data.real import load_digits, load_real_dataset, REAL_DATASETS
from hessverify.data.loaders import DataFilesMissingError, load_cifar10, load_mnist_csv, load_mnist_idx

__all__ = [
    "whiten", "one_hot", "drop_constant_columns", "reduce_to_column_rank", "pool_images", "imbalanced_subset",
    "label_proportions",
    "gaussian_inputs", "gaussian_mixture", "labels_with_proportion", "random_labels", "teacher_targets", "teacher_labels",
    "load_digits", "load_real_dataset", "REAL_DATASETS",
    "load_mnist_idx", "load_mnist_csv", "load_cifar10", "DataFilesMissingError",
]
