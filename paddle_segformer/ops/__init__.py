"""Compiled CPU kernels (numba) for the tensors, biases, depth-wise convolution, resizes and cross-entropy, each
tested against the Paddle op it replaces."""
