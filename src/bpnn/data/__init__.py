"""Datasets and mini-batch loading (``torch.utils.data``'s names).

``phone_price.csv`` in this folder is the Kaggle "Mobile Price Classification" data set
(Abhishek Sharma, 2018); read it with :func:`bpnn.datasets.phone_price`.
"""

from bpnn.data.dataset import Dataset, Subset, TensorDataset, random_split
from bpnn.data.loader import DataLoader

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "random_split"]
