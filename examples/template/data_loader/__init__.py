from .data_loaders import DigitsDataLoader, load_digits_split
