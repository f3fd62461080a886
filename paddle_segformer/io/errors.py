"""The error of a file that cannot be used as an image or label. Imports nothing of the package."""


class ImageReadError(ValueError):
    """An image or label file cannot be used; the message names the file and the problem."""
